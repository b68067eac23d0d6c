package bundle

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strconv"
)

// ManifestVersion is the MANIFEST.json format version this hagen writes;
// readers accept 1 to ManifestVersion.
//
//	1: hosts, files, steps, software.
//	2: steps may name leaving hosts (not in hosts) and be optional; adds
//	   membership and procedures.
const ManifestVersion = 2

// Manifest is MANIFEST.json: what a transport needs to lay the bundle onto
// the hosts without reading the prose.
type Manifest struct {
	Version int    `json:"version"`
	Cluster string `json:"cluster"`
	// Software is what the hosts must have installed before the steps
	// run, at the versions the bundle was written for.
	Software Software                `json:"software"`
	Hosts    map[string]ManifestHost `json:"hosts"`
	// Files are the bundle-level files (RUNBOOK.md, cluster/, ansible/),
	// by their path in the bundle; MANIFEST.json does not list itself.
	Files []ManifestEntry `json:"files"`
	Steps []Step          `json:"steps"`
	// Leaving are the hosts this render drops, which its steps still
	// address (to drain, remove and reset them): they get no files.
	Leaving map[string]LeavingHost `json:"leaving,omitempty"`
	// Membership is the control plane and the etcd members, and the
	// change since the last render in words.
	Membership Membership `json:"membership"`
	// Procedures are step lists run on demand, not in order:
	// replace-<host> replaces a failed master or etcd member.
	Procedures map[string][]Step `json:"procedures,omitempty"`
}

// LeavingHost is a host of the last render that this one drops.
type LeavingHost struct {
	Address string   `json:"address"`
	Roles   []string `json:"roles"`
}

// Membership is who runs the control plane and etcd.
type Membership struct {
	ControlPlane []string `json:"controlPlane"`
	// EtcdMembers in the order they joined the cluster.
	EtcdMembers []string `json:"etcdMembers"`
	// Change says what the steps change of a running cluster's
	// membership, one effect a line; empty without a change.
	Change []string `json:"change,omitempty"`
}

// Software names the versions the bundle's files were written for.
type Software struct {
	// Kubernetes is the version of kubeadm, the kubelet and kubectl on
	// every host that runs them.
	Kubernetes string `json:"kubernetes"`
	// Etcd is the etcd version of every member (its binary under systemd,
	// its image as a static pod).
	Etcd string `json:"etcd"`
}

type ManifestHost struct {
	Roles   []string        `json:"roles"`
	Address string          `json:"address"`
	Files   []ManifestEntry `json:"files"`
}

// ManifestEntry is one file entry of a host.
type ManifestEntry struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	Owner  string `json:"owner"`
	SHA256 string `json:"sha256"`
}

// ChangedMarker starts a line that a command of a step prints when it
// changed something (hagen's scripts do): a transport reports the step
// changed only then, so a second run on a live cluster reports nothing.
const ChangedMarker = "changed:"

// Step is one ordered apply step.
type Step struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
	// Serial: run on one host at a time, in the listed order.
	Serial   bool     `json:"serial"`
	Commands []string `json:"commands"`
	// Creates, if set, is a file whose presence on a host means the step
	// is done there: its commands are skipped on that host (Ansible's
	// creates:). Steps that can only run once (kubeadm init, a join) say
	// what they create, so that running every step again on a live
	// cluster changes nothing.
	Creates string `json:"creates,omitempty"`
	// Check, if set, must succeed before the next step starts.
	Check string `json:"check,omitempty"`
	// Optional: a host that does not answer is skipped. Steps on hosts
	// that leave the cluster are optional: the host may be gone.
	Optional bool `json:"optional,omitempty"`
	// Boot: the step needs nothing of any other host and is safe on a
	// machine of a running cluster too, so a machine may run it as it
	// boots (cloud-init's runcmd; Ignition enables its units). Starting
	// etcd is not one: a new member waits for its peers, and a machine
	// that replaces a member must rejoin (procedures.replace-<host>).
	Boot bool   `json:"boot,omitempty"`
	Note string `json:"note,omitempty"`
}

// HostInfo is what the manifest says of a host besides its files.
type HostInfo struct {
	Name    string
	Roles   []string
	Address string
}

// NewManifest describes every host file of b (target path, mode, owner,
// digest), the hosts with their roles, the bundle-level files and the
// apply steps. MANIFEST.json does not list itself.
func NewManifest(cluster string, sw Software, hosts []HostInfo, b *Bundle, steps []Step) *Manifest {
	m := &Manifest{Version: ManifestVersion, Cluster: cluster, Software: sw, Hosts: map[string]ManifestHost{}, Files: []ManifestEntry{}, Steps: steps,
		Membership: Membership{ControlPlane: []string{}, EtcdMembers: []string{}}}
	for _, h := range hosts {
		mh := ManifestHost{Roles: h.Roles, Address: h.Address, Files: []ManifestEntry{}}
		for _, f := range b.HostFiles(h.Name) {
			mh.Files = append(mh.Files, entryOf(f))
		}
		m.Hosts[h.Name] = mh
	}
	for _, f := range b.Files() {
		if f.Host == "" && f.Path != ManifestName {
			m.Files = append(m.Files, entryOf(f))
		}
	}
	return m
}

func entryOf(f File) ManifestEntry {
	return ManifestEntry{Path: f.Path, Mode: ModeString(f.Mode), Owner: f.Owner, SHA256: f.SHA256()}
}

// ModeString is a permission as MANIFEST.json spells it: "0644".
func ModeString(m fs.FileMode) string {
	s := strconv.FormatUint(uint64(m.Perm()), 8)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// MarshalManifest renders m with sorted keys and a trailing newline.
func MarshalManifest(m *Manifest) ([]byte, error) {
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// entries maps every file the manifest lists, by bundle path, to its
// digest and mode; MANIFEST.json itself is not among them.
func (m *Manifest) entries() (map[string]ManifestEntry, error) {
	out := map[string]ManifestEntry{}
	for host, h := range m.Hosts {
		for _, e := range h.Files {
			out[File{Host: host, Path: e.Path}.BundlePath()] = e
		}
	}
	for _, e := range m.Files {
		out[e.Path] = e
	}
	for p, e := range out {
		if _, err := strconv.ParseUint(e.Mode, 8, 32); err != nil {
			return nil, fmt.Errorf("%s: mode %q", p, e.Mode)
		}
	}
	return out, nil
}
