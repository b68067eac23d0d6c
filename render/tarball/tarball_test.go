package tarball_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/tarball"
)

const spec = `name: "prod"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
pki: keyAlgorithm: "ECDSA-P256"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0", routerID: 51, haproxy: port: 8443}
hosts: {
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"]}
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
}
`

// hostFiles renders the spec and returns every host's files, as
// Bundle.HostFiles gives them (sorted by target path).
func hostFiles(t *testing.T) map[string][]bundle.File {
	t.Helper()
	res, err := compiler.Compile("t.cue", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	issued, err := (&pki.Issuer{}).Ensure(res.Plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := render.Render(res.Plan, issued.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]bundle.File{}
	for _, h := range res.Plan.Hosts {
		out[h.Name] = b.HostFiles(h.Name)
		if len(out[h.Name]) == 0 {
			t.Fatalf("%s has no files", h.Name)
		}
	}
	return out
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

func unpack(t *testing.T, tgz []byte) []entry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	if !gz.ModTime.IsZero() && gz.ModTime.Unix() != 0 {
		t.Errorf("gzip header mtime %v", gz.ModTime)
	}
	if gz.Name != "" {
		t.Errorf("gzip header name %q", gz.Name)
	}
	tr := tar.NewReader(gz)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{h, data})
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterministic(t *testing.T) {
	for host, files := range hostFiles(t) {
		a, err := tarball.Host(files)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tarball.Host(files)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two packs differ", host)
		}
	}
}

func TestUnpacksToTheHostsFiles(t *testing.T) {
	for host, files := range hostFiles(t) {
		tgz, err := tarball.Host(files)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bundle.File{}
		for _, f := range files {
			want[strings.TrimPrefix(f.Path, "/")] = f
		}
		got := map[string]bool{}
		dirs := map[string]bool{}
		var names []string
		for _, e := range unpack(t, tgz) {
			h := e.hdr
			names = append(names, strings.TrimSuffix(h.Name, "/"))
			if h.ModTime.Unix() != 0 {
				t.Errorf("%s %s: mtime %v", host, h.Name, h.ModTime)
			}
			if !h.AccessTime.IsZero() && h.AccessTime.Unix() != 0 || !h.ChangeTime.IsZero() && h.ChangeTime.Unix() != 0 {
				t.Errorf("%s %s: atime %v ctime %v", host, h.Name, h.AccessTime, h.ChangeTime)
			}
			if h.Uid != 0 || h.Gid != 0 {
				t.Errorf("%s %s: uid/gid %d/%d", host, h.Name, h.Uid, h.Gid)
			}
			if h.Uname != "root" || h.Gname != "root" {
				t.Errorf("%s %s: owner %s:%s", host, h.Name, h.Uname, h.Gname)
			}
			if strings.HasPrefix(h.Name, "/") || strings.Contains(h.Name, "..") {
				t.Errorf("%s: unsafe entry name %s", host, h.Name)
			}
			switch h.Typeflag {
			case tar.TypeDir:
				d := strings.TrimSuffix(h.Name, "/")
				if dirs[d] {
					t.Errorf("%s: directory %s twice", host, d)
				}
				dirs[d] = true
				if fs.FileMode(h.Mode).Perm() != 0o755 {
					t.Errorf("%s: directory %s mode %o", host, d, h.Mode)
				}
			case tar.TypeReg:
				f, ok := want[h.Name]
				if !ok {
					t.Errorf("%s: unexpected file %s", host, h.Name)
					continue
				}
				if got[h.Name] {
					t.Errorf("%s: %s twice", host, h.Name)
				}
				got[h.Name] = true
				if fs.FileMode(h.Mode) != f.Mode {
					t.Errorf("%s %s: mode %o, want %o", host, h.Name, h.Mode, f.Mode)
				}
				if !bytes.Equal(e.data, f.Data) {
					t.Errorf("%s %s: contents differ", host, h.Name)
				}
				// Every parent came before the file.
				for d := path.Dir(h.Name); d != "."; d = path.Dir(d) {
					if !dirs[d] {
						t.Errorf("%s: %s before its directory %s", host, h.Name, d)
					}
				}
			default:
				t.Errorf("%s: entry %s of type %c", host, h.Name, h.Typeflag)
			}
		}
		for name := range want {
			if !got[name] {
				t.Errorf("%s: %s missing from the tarball", host, name)
			}
		}
		// Sorted: the files in the order of their paths.
		var files []string
		for _, n := range names {
			if _, ok := want[n]; ok {
				files = append(files, n)
			}
		}
		if !sort.StringsAreSorted(files) {
			t.Errorf("%s: entries not sorted: %v", host, files)
		}
	}
}

// TestOrderIndependent: the archive is a function of the file set, so that
// callers that forget to sort still get deterministic bytes.
func TestOrderIndependent(t *testing.T) {
	for host, files := range hostFiles(t) {
		rev := append([]bundle.File(nil), files...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		a, err := tarball.Host(files)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tarball.Host(rev)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: tarball.Host depends on the order of its input", host)
		}
	}
}

func TestModesKept(t *testing.T) {
	files := []bundle.File{
		{Host: "h", Path: "/etc/a/key", Mode: 0o600, Data: []byte("k")},
		{Host: "h", Path: "/etc/a/pub", Mode: 0o644, Data: []byte("p")},
		{Host: "h", Path: "/usr/local/sbin/s", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
		{Host: "h", Path: "/empty", Mode: 0o644},
	}
	tgz, err := tarball.Host(files)
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]int64{}
	for _, e := range unpack(t, tgz) {
		if e.hdr.Typeflag == tar.TypeReg {
			modes[e.hdr.Name] = e.hdr.Mode
		}
		if e.hdr.ModTime != time.Unix(0, 0) && e.hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: mtime %v", e.hdr.Name, e.hdr.ModTime)
		}
	}
	for _, f := range files {
		if got := modes[strings.TrimPrefix(f.Path, "/")]; got != int64(f.Mode) {
			t.Errorf("%s: mode %o, want %o", f.Path, got, f.Mode)
		}
	}
}
