package bundle

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Manifest is MANIFEST.json: what a transport needs to lay the bundle onto
// the hosts without reading the prose.
type Manifest struct {
	Version int                     `json:"version"`
	Cluster string                  `json:"cluster"`
	Hosts   map[string]ManifestHost `json:"hosts"`
	// Files are the bundle-level files (RUNBOOK.md, cluster/, ansible/),
	// by their path in the bundle; MANIFEST.json does not list itself.
	Files []ManifestEntry `json:"files"`
	Steps []Step          `json:"steps"`
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

// Step is one ordered apply step.
type Step struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
	// Serial: run on one host at a time, in the listed order.
	Serial   bool     `json:"serial"`
	Commands []string `json:"commands"`
	// Check, if set, must succeed before the next step starts.
	Check string `json:"check,omitempty"`
	Note  string `json:"note,omitempty"`
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
