// Package inspect reads rendered bundles back from disk, without the spec or
// the secrets file: Verify re-checks one bundle, Diff compares two.
package inspect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hagen/hagen/render/bundle"
)

// Finding is one thing wrong with a bundle. Where is a path inside the
// bundle ("hosts/m0/etc/etcd.env") or a file on a host ("m0:/etc/etcd.env").
type Finding struct {
	Where string
	What  string
}

func (f Finding) String() string { return f.Where + ": " + f.What }

// ManifestError is a bundle whose MANIFEST.json is missing or cannot be
// trusted: nothing else in it can be checked.
type ManifestError struct {
	Dir string
	Msg string
}

func (e *ManifestError) Error() string {
	return fmt.Sprintf("%s: %s", filepath.Join(e.Dir, bundle.ManifestName), e.Msg)
}

// entry is one file MANIFEST.json lists, wherever it sits.
type entry struct {
	bundle.ManifestEntry
	Host string      // "" for bundle-level files
	Rel  string      // the path inside the bundle, slash-separated
	Perm fs.FileMode // Mode, parsed
}

// where names the file in findings: host:path for host files.
func (e entry) where() string {
	if e.Host == "" {
		return e.Rel
	}
	return e.Host + ":" + e.Path
}

// loaded is a bundle's manifest with its entries checked and indexed.
type loaded struct {
	dir     string
	m       *bundle.Manifest
	hosts   []string           // sorted
	entries []entry            // host files by host and path, then bundle files
	byHost  map[string][]entry // host -> its files, sorted by path
	byRel   map[string]entry
}

// ReadManifest reads and checks dir's MANIFEST.json. A missing, unparsable
// or inconsistent manifest is a *ManifestError; other errors are I/O.
func ReadManifest(dir string) (*bundle.Manifest, error) {
	l, err := load(dir)
	if err != nil {
		return nil, err
	}
	return l.m, nil
}

func load(dir string) (*loaded, error) {
	raw, err := os.ReadFile(filepath.Join(dir, bundle.ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &ManifestError{Dir: dir, Msg: "missing: not a hagen bundle"}
	}
	if err != nil {
		return nil, err
	}
	var m bundle.Manifest
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, &ManifestError{Dir: dir, Msg: "does not parse: " + err.Error()}
	}
	if dec.More() {
		return nil, &ManifestError{Dir: dir, Msg: "does not parse: unexpected data after the JSON object"}
	}
	if m.Version < 1 || m.Version > bundle.ManifestVersion {
		return nil, &ManifestError{Dir: dir, Msg: fmt.Sprintf("version %d is not one this hagen reads (1..%d)", m.Version, bundle.ManifestVersion)}
	}
	l := &loaded{dir: dir, m: &m, byHost: map[string][]entry{}, byRel: map[string]entry{}}
	for h := range m.Hosts {
		if h == "" || h == "." || h == ".." || strings.ContainsAny(h, `/\`) {
			return nil, &ManifestError{Dir: dir, Msg: fmt.Sprintf("host name %q is not a name", h)}
		}
		l.hosts = append(l.hosts, h)
	}
	sort.Strings(l.hosts)
	add := func(e entry, field string) error {
		perm, err := parseMode(e.Mode)
		if err != nil {
			return &ManifestError{Dir: dir, Msg: fmt.Sprintf("%s.mode: %v", field, err)}
		}
		e.Perm = perm
		if _, dup := l.byRel[e.Rel]; dup {
			return &ManifestError{Dir: dir, Msg: fmt.Sprintf("%s: %s is listed twice", field, e.Rel)}
		}
		l.byRel[e.Rel] = e
		l.entries = append(l.entries, e)
		if e.Host != "" {
			l.byHost[e.Host] = append(l.byHost[e.Host], e)
		}
		return nil
	}
	for _, h := range l.hosts {
		for i, f := range m.Hosts[h].Files {
			field := fmt.Sprintf("hosts.%s.files[%d]", h, i)
			if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
				return nil, &ManifestError{Dir: dir, Msg: fmt.Sprintf("%s.path: %q is not a clean absolute file path", field, f.Path)}
			}
			if err := add(entry{ManifestEntry: f, Host: h, Rel: path.Join("hosts", h, f.Path[1:])}, field); err != nil {
				return nil, err
			}
		}
		sort.Slice(l.byHost[h], func(i, j int) bool { return l.byHost[h][i].Path < l.byHost[h][j].Path })
	}
	for i, f := range m.Files {
		field := fmt.Sprintf("files[%d]", i)
		if !filepath.IsLocal(f.Path) || path.Clean(f.Path) != f.Path || f.Path == bundle.ManifestName || strings.HasPrefix(f.Path, "hosts/") {
			return nil, &ManifestError{Dir: dir, Msg: fmt.Sprintf("%s.path: %q is not a bundle-level file path", field, f.Path)}
		}
		if err := add(entry{ManifestEntry: f, Rel: f.Path}, field); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// parseMode reads "0600".
func parseMode(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || len(s) != 4 || n > 0o777 {
		return 0, fmt.Errorf("%q is not an octal permission like \"0644\"", s)
	}
	return fs.FileMode(n), nil
}

// diskPath is where rel sits under dir.
func diskPath(dir, rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
