// Package bundle is the in-memory tree of a rendered cluster and the only
// code that writes hagen's output to disk.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// File modes, part of the contract (docs/ARCHITECTURE.md): keys 0600, certs
// and configs 0644, scripts 0755.
const (
	ModeSecret fs.FileMode = 0o600
	ModePublic fs.FileMode = 0o644
	ModeScript fs.FileMode = 0o755
)

// File is one file of the bundle.
type File struct {
	// Host is the machine the file is for; empty for bundle-level files
	// (MANIFEST.json, RUNBOOK.md, cluster/, ansible/).
	Host string
	// Path is the absolute target path on Host ("/etc/etcd.env"), or the
	// path inside the bundle for bundle-level files ("RUNBOOK.md").
	Path  string
	Mode  fs.FileMode
	Owner string // user on the host; "root" unless a service needs otherwise
	Data  []byte
}

// BundlePath is where the file sits inside the bundle directory.
func (f File) BundlePath() string {
	if f.Host == "" {
		return f.Path
	}
	return path.Join("hosts", f.Host, strings.TrimPrefix(f.Path, "/"))
}

// SHA256 is the hex digest of the file's contents.
func (f File) SHA256() string {
	sum := sha256.Sum256(f.Data)
	return hex.EncodeToString(sum[:])
}

// Bundle is every file of a render, by bundle path and by host.
type Bundle struct {
	files  map[string]File
	byHost map[string][]string // host -> bundle paths
}

func New() *Bundle { return &Bundle{files: map[string]File{}, byHost: map[string][]string{}} }

// Add puts files into the bundle. Two renderers writing the same path is a
// bug in hagen, not in the spec, and panics in tests long before release.
func (b *Bundle) Add(files ...File) error {
	for _, f := range files {
		if f.Owner == "" {
			f.Owner = "root"
		}
		if f.Host != "" && !path.IsAbs(f.Path) {
			return fmt.Errorf("internal error: host file %s:%s is not absolute", f.Host, f.Path)
		}
		if f.Host == "" && (path.IsAbs(f.Path) || strings.HasPrefix(path.Clean(f.Path), "..")) {
			return fmt.Errorf("internal error: bundle file %s is not relative", f.Path)
		}
		p := f.BundlePath()
		if _, dup := b.files[p]; dup {
			return fmt.Errorf("internal error: %s rendered twice", p)
		}
		b.files[p] = f
		b.byHost[f.Host] = append(b.byHost[f.Host], p)
	}
	return nil
}

// Files returns every file sorted by bundle path.
func (b *Bundle) Files() []File {
	keys := make([]string, 0, len(b.files))
	for k := range b.files {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]File, len(keys))
	for i, k := range keys {
		out[i] = b.files[k]
	}
	return out
}

// HostFiles returns host's files sorted by target path. It costs only the
// host's own files, so a bundle of thousands of hosts stays linear.
func (b *Bundle) HostFiles(host string) []File {
	paths := append([]string(nil), b.byHost[host]...)
	sort.Strings(paths)
	out := make([]File, len(paths))
	for i, p := range paths {
		out[i] = b.files[p]
	}
	return out
}

// Get returns the file at bundle path p.
func (b *Bundle) Get(p string) (File, bool) {
	f, ok := b.files[p]
	return f, ok
}
