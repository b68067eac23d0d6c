// Package bundle reads what the lab needs to know of a rendered bundle,
// from the bundle alone: its MANIFEST.json (hosts, files, steps, software)
// and the files that say how the hosts reach each other (kubeadm.yaml's
// endpoint, keepalived.conf's interface, VIP and prefix). It never reads a
// spec: the lab runs what a transport would ship.
package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	hb "github.com/hagen/hagen/render/bundle"
)

// Bundle is one rendered bundle on disk.
type Bundle struct {
	Dir      string
	Manifest *hb.Manifest
	Hosts    []Host // sorted by name
	// Endpoint is what every client dials (controlPlaneEndpoint).
	Endpoint Endpoint
	// APIServerPort is the apiservers' own port on every master.
	APIServerPort int
	// Keepalived is set when the masters run keepalived.
	Keepalived *Keepalived
	// HAProxy is true when the masters run HAProxy in front of their
	// apiservers (the endpoint's port is HAProxy's).
	HAProxy bool
	// EtcdStaticPod: etcd runs as static pods rather than systemd units.
	EtcdStaticPod bool
}

// Host is one host of the bundle.
type Host struct {
	Name    string
	Roles   []string
	Address netip.Addr
	// Prefix is the host's subnet where the bundle says it (keepalived
	// masters carry the VIP's), else invalid.
	Prefix netip.Prefix
	// Iface is the interface the bundle names for it (keepalived's), else
	// "".
	Iface string
}

// Has reports whether the host has a role.
func (h Host) Has(role string) bool { return slices.Contains(h.Roles, role) }

// Endpoint is a host:port clients dial.
type Endpoint struct {
	Host string
	Port int
}

func (e Endpoint) String() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// Addr is the endpoint's address when its host is an IP address.
func (e Endpoint) Addr() (netip.Addr, bool) {
	a, err := netip.ParseAddr(e.Host)
	return a, err == nil
}

// Keepalived is the VRRP setup of the masters.
type Keepalived struct {
	VIP     netip.Addr
	Bits    int // the VIP's prefix length, the masters' subnet
	Iface   string
	Unicast bool
}

// Roles, as MANIFEST.json spells them.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
	RoleEtcd         = "etcd"
)

// The names MANIFEST.json (version 2) gives the steps of a change of
// membership and of a replacement procedure; those for one member or host
// end with its name (add-etcd-member-m3).
const (
	StepAddMember     = "add-etcd-member-"
	StepStartMember   = "start-etcd-member-"
	StepPromoteMember = "promote-etcd-member-"
	StepRemoveMember  = "remove-etcd-member-"
	StepReaddMember   = "readd-etcd-member-"
	StepRejoin        = "rejoin-etcd-"
	StepRemoveNode    = "remove-node-"
	StepRetire        = "retire-"
	StepEtcdServers   = "update-etcd-servers"
	// ReplacePrefix names a host's replacement procedure.
	ReplacePrefix = "replace-"
)

// ChangeStep reports whether a step belongs to a change of membership (or
// a replacement), for the lab's figures.
func ChangeStep(name string) bool {
	for _, p := range []string{StepAddMember, StepStartMember, StepPromoteMember, StepRemoveMember, StepReaddMember, StepRejoin, StepRemoveNode, StepRetire} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	switch name {
	case StepEtcdServers, "upload-kubeadm-config", "join-control-plane", "stop-load-balancer", "remove-masters-from-load-balancer", "check-etcd-membership", "refresh-bootstrap-token":
		return true
	}
	return false
}

// Member is the member or host a change step names: m3 of
// add-etcd-member-m3; "" for other steps.
func Member(step string) (prefix, name string) {
	for _, p := range []string{StepAddMember, StepStartMember, StepPromoteMember, StepRemoveMember, StepReaddMember, StepRejoin, StepRemoveNode, StepRetire} {
		if n, ok := strings.CutPrefix(step, p); ok {
			return p, n
		}
	}
	return "", ""
}

// Address is the address of a host of the bundle or of one it drops.
func (b *Bundle) Address(name string) (netip.Addr, bool) {
	if h, ok := b.Host(name); ok {
		return h.Address, true
	}
	if l, ok := b.Manifest.Leaving[name]; ok {
		a, err := netip.ParseAddr(l.Address)
		return a, err == nil
	}
	return netip.Addr{}, false
}

// Read reads the bundle in dir.
func Read(dir string) (*Bundle, error) {
	raw, err := os.ReadFile(filepath.Join(dir, hb.ManifestName))
	if err != nil {
		return nil, err
	}
	var m hb.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", hb.ManifestName, err)
	}
	if m.Version < 1 || m.Version > hb.ManifestVersion {
		return nil, fmt.Errorf("%s: version %d is not one this lab reads", hb.ManifestName, m.Version)
	}
	if m.Software.Kubernetes == "" || m.Software.Etcd == "" {
		return nil, fmt.Errorf("%s names no software versions: render the bundle again with this hagen", hb.ManifestName)
	}
	b := &Bundle{Dir: dir, Manifest: &m}
	for _, name := range sortedKeys(m.Hosts) {
		mh := m.Hosts[name]
		a, err := netip.ParseAddr(mh.Address)
		if err != nil {
			return nil, fmt.Errorf("host %s: address %q: %w", name, mh.Address, err)
		}
		b.Hosts = append(b.Hosts, Host{Name: name, Roles: mh.Roles, Address: a})
	}
	for _, n := range m.Membership.ControlPlane {
		if h, ok := b.Host(n); !ok || !h.Has(RoleControlPlane) {
			return nil, fmt.Errorf("%s: membership.controlPlane names %s, which is not a control-plane host of the bundle", hb.ManifestName, n)
		}
	}
	if err := b.readKubeadm(); err != nil {
		return nil, err
	}
	if err := b.readKeepalived(); err != nil {
		return nil, err
	}
	for _, h := range b.Hosts {
		if b.hasFile(h.Name, "/etc/kubernetes/manifests/etcd.yaml") {
			b.EtcdStaticPod = true
		}
	}
	return b, nil
}

// Host returns the host named name.
func (b *Bundle) Host(name string) (Host, bool) {
	for _, h := range b.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// With returns the hosts that have role.
func (b *Bundle) With(role string) []Host {
	var out []Host
	for _, h := range b.Hosts {
		if h.Has(role) {
			out = append(out, h)
		}
	}
	return out
}

// Masters are the control-plane hosts with the one that ran kubeadm init
// first (keepalived's MASTER): in MANIFEST.json's membership order where
// the manifest has one (version 2: a running cluster keeps its init host
// whatever its name), else by name, as hagen orders a new cluster's.
func (b *Bundle) Masters() []Host {
	out := b.With(RoleControlPlane)
	order := b.Manifest.Membership.ControlPlane
	if len(order) == 0 {
		return out
	}
	rank := map[string]int{}
	for i, n := range order {
		rank[n] = i
	}
	slices.SortStableFunc(out, func(x, y Host) int {
		rx, okx := rank[x.Name]
		ry, oky := rank[y.Name]
		switch {
		case okx && oky:
			return rx - ry
		case okx:
			return -1
		case oky:
			return 1
		}
		return strings.Compare(x.Name, y.Name)
	})
	return out
}

// Init is the host that ran kubeadm init: the first of Masters.
func (b *Bundle) Init() Host { return b.Masters()[0] }

// Leaving are the hosts this render drops that its steps still address
// (MANIFEST.json's leaving): they have no files, and their machines run
// until the steps have taken them out.
func (b *Bundle) Leaving() []string { return sortedKeys(b.Manifest.Leaving) }

// EtcdMembers are the hosts with an etcd member: those the bundle gives
// an etcd server certificate.
func (b *Bundle) EtcdMembers() []Host {
	var out []Host
	for _, h := range b.Hosts {
		if b.hasFile(h.Name, "/etc/kubernetes/pki/etcd/server.crt") {
			out = append(out, h)
		}
	}
	return out
}

// HostFile returns the path in the bundle of a host's file.
func (b *Bundle) HostFile(host, path string) string {
	return filepath.Join(b.Dir, "hosts", host, strings.TrimPrefix(path, "/"))
}

func (b *Bundle) hasFile(host, path string) bool {
	for _, f := range b.Manifest.Hosts[host].Files {
		if f.Path == path {
			return true
		}
	}
	return false
}

// readKubeadm finds the endpoint and the apiserver port in the first
// master's kubeadm configuration (v1beta3/4 InitConfiguration and
// ClusterConfiguration, or v1alpha1's MasterConfiguration).
func (b *Bundle) readKubeadm() error {
	masters := b.With(RoleControlPlane)
	if len(masters) == 0 {
		return fmt.Errorf("the bundle has no control-plane host")
	}
	for _, h := range masters {
		data, err := os.ReadFile(b.HostFile(h.Name, "/etc/kubernetes/kubeadm/kubeadm.yaml"))
		if err != nil {
			return err
		}
		var endpoint string
		port := 0
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			var d struct {
				Kind                 string `json:"kind"`
				ControlPlaneEndpoint string `json:"controlPlaneEndpoint"`
				LocalAPIEndpoint     struct {
					BindPort int `json:"bindPort"`
				} `json:"localAPIEndpoint"`
				API struct {
					ControlPlaneEndpoint string `json:"controlPlaneEndpoint"`
					BindPort             int    `json:"bindPort"`
				} `json:"api"`
			}
			if err := yaml.Unmarshal(doc, &d); err != nil {
				return fmt.Errorf("%s's kubeadm.yaml: %w", h.Name, err)
			}
			switch d.Kind {
			case "InitConfiguration":
				port = d.LocalAPIEndpoint.BindPort
			case "ClusterConfiguration":
				endpoint = d.ControlPlaneEndpoint
			case "MasterConfiguration":
				port = d.API.BindPort
				endpoint = net.JoinHostPort(d.API.ControlPlaneEndpoint, strconv.Itoa(port))
			}
		}
		if endpoint == "" {
			continue // a joining master: the init host says it
		}
		host, p, err := net.SplitHostPort(endpoint)
		if err != nil {
			return fmt.Errorf("controlPlaneEndpoint %q: %w", endpoint, err)
		}
		ep, _ := strconv.Atoi(p)
		b.Endpoint, b.APIServerPort = Endpoint{Host: host, Port: ep}, port
		if b.APIServerPort == 0 {
			b.APIServerPort = 6443
		}
		return nil
	}
	return fmt.Errorf("no master's kubeadm.yaml names a controlPlaneEndpoint")
}

var (
	kaIface   = regexp.MustCompile(`(?m)^\s*interface\s+(\S+)`)
	kaVIP     = regexp.MustCompile(`(?s)virtual_ipaddress\s*\{\s*(\S+)`)
	kaUnicast = regexp.MustCompile(`(?m)^\s*unicast_peer\b`)
)

// readKeepalived reads the masters' VRRP setup, and with it their
// interface and subnet.
func (b *Bundle) readKeepalived() error {
	for i, h := range b.Hosts {
		if !b.hasFile(h.Name, "/etc/keepalived/keepalived.conf") {
			continue
		}
		data, err := os.ReadFile(b.HostFile(h.Name, "/etc/keepalived/keepalived.conf"))
		if err != nil {
			return err
		}
		iface, vip := kaIface.FindSubmatch(data), kaVIP.FindSubmatch(data)
		if iface == nil || vip == nil {
			return fmt.Errorf("%s's keepalived.conf names no interface or virtual_ipaddress", h.Name)
		}
		pr, err := netip.ParsePrefix(string(vip[1]))
		if err != nil {
			return fmt.Errorf("%s's keepalived.conf: VIP %q: %w", h.Name, vip[1], err)
		}
		b.Keepalived = &Keepalived{VIP: pr.Addr(), Bits: pr.Bits(), Iface: string(iface[1]), Unicast: kaUnicast.Match(data)}
		b.Hosts[i].Iface = string(iface[1])
		b.Hosts[i].Prefix = netip.PrefixFrom(h.Address, pr.Bits()).Masked()
		b.HAProxy = b.hasFile(h.Name, "/etc/haproxy/haproxy.cfg")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
