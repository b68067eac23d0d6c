package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// sample is a small bundle with a MANIFEST.json that lists its files.
func sample(t *testing.T) *Bundle {
	t.Helper()
	return manifested(t,
		File{Host: "m0", Path: "/etc/kubernetes/pki/ca.key", Mode: ModeSecret, Data: []byte("KEY\n")},
		File{Host: "m0", Path: "/etc/kubernetes/pki/ca.crt", Mode: ModePublic, Data: []byte("CERT\n")},
		File{Host: "w0", Path: "/usr/local/sbin/script", Mode: ModeScript, Data: []byte("#!/bin/sh\n")},
		File{Host: "w0", Path: "/etc/empty", Mode: ModePublic},
		File{Path: "RUNBOOK.md", Mode: ModePublic, Data: []byte("# runbook\n")},
		File{Path: "cluster/patch.yaml", Mode: ModePublic, Data: []byte("data: {}\n")},
	)
}

func TestAdd(t *testing.T) {
	b := New()
	if err := b.Add(File{Host: "m0", Path: "/etc/a", Mode: ModePublic}); err != nil {
		t.Fatal(err)
	}
	f, ok := b.Get("hosts/m0/etc/a")
	if !ok {
		t.Fatal("Get hosts/m0/etc/a: missing")
	}
	if f.Owner != "root" {
		t.Errorf("owner %q, want root by default", f.Owner)
	}
	if err := b.Add(File{Host: "m0", Path: "/etc/b", Owner: "etcd"}); err != nil {
		t.Fatal(err)
	}
	if f, _ := b.Get("hosts/m0/etc/b"); f.Owner != "etcd" {
		t.Errorf("owner %q, want etcd kept", f.Owner)
	}

	for name, f := range map[string]File{
		"duplicate":            {Host: "m0", Path: "/etc/a"},
		"duplicate unclean":    {Host: "m0", Path: "/etc//a"},
		"relative host path":   {Host: "m0", Path: "etc/c"},
		"absolute bundle path": {Path: "/RUNBOOK.md"},
		"escaping bundle path": {Path: "../outside"},
	} {
		if err := b.Add(f); err == nil {
			t.Errorf("%s: Add(%+v) succeeded", name, f)
		}
	}
	// A duplicate within one call is caught too.
	b = New()
	if err := b.Add(File{Path: "x"}, File{Path: "x"}); err == nil {
		t.Error("duplicate within one Add succeeded")
	}
}

func TestFilesSorted(t *testing.T) {
	b := sample(t)
	var got []string
	for _, f := range b.Files() {
		got = append(got, f.BundlePath())
	}
	want := []string{
		"MANIFEST.json", "RUNBOOK.md", "cluster/patch.yaml",
		"hosts/m0/etc/kubernetes/pki/ca.crt", "hosts/m0/etc/kubernetes/pki/ca.key",
		"hosts/w0/etc/empty", "hosts/w0/usr/local/sbin/script",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Files\n  %v\nwant\n  %v", got, want)
	}
	var host []string
	for _, f := range b.HostFiles("m0") {
		host = append(host, f.Path)
	}
	if !reflect.DeepEqual(host, []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key"}) {
		t.Errorf("HostFiles(m0) %v", host)
	}
	if len(b.HostFiles("nobody")) != 0 {
		t.Error("HostFiles of an unknown host")
	}
}

func TestSHA256(t *testing.T) {
	f := File{Data: []byte("abc")}
	if got := f.SHA256(); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("SHA256 %s", got)
	}
}

// checkTree verifies dir holds exactly b with b's modes, and its
// directories are 0755.
func checkTree(t *testing.T, dir string, b *Bundle) {
	t.Helper()
	if bad := checkFiles(t, dir, b); len(bad) > 0 {
		t.Errorf("directories not 0755: %v", bad)
	}
}

// checkFiles verifies dir holds exactly b with b's modes, and returns the
// directories whose mode is not 0755.
func checkFiles(t *testing.T, dir string, b *Bundle) (badDirs []string) {
	t.Helper()
	want := map[string]File{}
	for _, f := range b.Files() {
		want[f.BundlePath()] = f
	}
	seen := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if info.Mode().Perm() != 0o755 {
				badDirs = append(badDirs, rel+"="+info.Mode().Perm().String())
			}
			return nil
		}
		f, ok := want[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("unexpected %s", rel)
			return nil
		}
		seen++
		if !info.Mode().IsRegular() {
			t.Errorf("%s is not a regular file", rel)
		}
		if info.Mode().Perm() != f.Mode {
			t.Errorf("%s mode %v, want %v", rel, info.Mode().Perm(), f.Mode)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, f.Data) {
			t.Errorf("%s contents differ", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(want) {
		t.Errorf("%d files on disk, want %d", seen, len(want))
	}
	return badDirs
}

// leftovers lists the parent's entries other than the bundle itself.
// leftovers lists what parent holds besides the bundle keep and its spare
// (the previous bundle, kept on purpose for the next render).
func leftovers(t *testing.T, parent, keep string) []string {
	t.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() != keep && e.Name() != "."+keep+".hagen-spare" {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteCreates(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	b := sample(t)
	if err := Write(dir, b, false); err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, b)
	if l := leftovers(t, parent, "out"); len(l) != 0 {
		t.Errorf("left in the parent: %v", l)
	}
	if !Unchanged(dir, b) {
		t.Error("Unchanged is false right after Write")
	}
}

func TestWriteCreatesParents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "out")
	b := sample(t)
	if err := Write(dir, b, false); err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, b)
}

// TestWriteModesDespiteUmask: the manifest promises exact modes, whatever
// the umask of the process.
func TestWriteModesDespiteUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "out")
	b := sample(t)
	if err := Write(dir, b, false); err != nil {
		t.Fatal(err)
	}
	syscall.Umask(old)
	if bad := checkFiles(t, dir, b); len(bad) > 0 {
		// hosts/<host>/ mirrors a host's root: `rsync -a hosts/m0/ m0:/`
		// (the RUNBOOK's copy step) would make /etc, /usr/local/sbin... 0700.
		t.Errorf("under umask 077: %v", bad)
	}
}

func TestWriteReplacesABundle(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	first := sample(t)
	if err := Write(dir, first, false); err != nil {
		t.Fatal(err)
	}
	second := New()
	if err := second.Add(
		File{Host: "m1", Path: "/etc/new", Mode: ModeSecret, Data: []byte("new\n")},
		File{Path: ManifestName, Mode: ModePublic, Data: []byte(`{"version":1}` + "\n")},
	); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, second, false); err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, second)
	if _, err := os.Stat(filepath.Join(dir, "hosts", "m0")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old content survives: %v", err)
	}
	if l := leftovers(t, parent, "out"); len(l) != 0 {
		t.Errorf("left in the parent: %v", l)
	}
	// And once more with the same content.
	if err := Write(dir, second, false); err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, second)
	if l := leftovers(t, parent, "out"); len(l) != 0 {
		t.Errorf("left in the parent: %v", l)
	}
}

func TestWriteIntoEmptyDir(t *testing.T) {
	dir := t.TempDir()
	b := sample(t)
	if err := CheckTarget(dir, false); err != nil {
		t.Errorf("CheckTarget(empty dir): %v", err)
	}
	if err := Write(dir, b, false); err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, b)
}

func TestRefusesANonBundle(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "home")
	if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o700); err != nil {
		t.Fatal(err)
	}
	precious := filepath.Join(dir, "docs", "thesis.tex")
	if err := os.WriteFile(precious, []byte("years of work"), 0o640); err != nil {
		t.Fatal(err)
	}
	b := sample(t)

	for name, err := range map[string]error{
		"CheckTarget": CheckTarget(dir, false),
		"Write":       Write(dir, b, false),
	} {
		var nab *NotABundleError
		if !errors.As(err, &nab) {
			t.Fatalf("%s: %v, want a NotABundleError", name, err)
		}
		if nab.Dir != filepath.Clean(dir) {
			t.Errorf("%s: error names %s", name, nab.Dir)
		}
		if !strings.Contains(err.Error(), "--force") {
			t.Errorf("%s: error %q does not mention --force", name, err)
		}
	}
	data, err := os.ReadFile(precious)
	if err != nil || string(data) != "years of work" {
		t.Fatalf("the directory was touched: %q %v", data, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "docs" {
		t.Errorf("the directory now holds %v", entries)
	}
	if l := leftovers(t, parent, "home"); len(l) != 0 {
		t.Errorf("left in the parent: %v", l)
	}

	// --force replaces it.
	if err := CheckTarget(dir, true); err != nil {
		t.Errorf("CheckTarget(force): %v", err)
	}
	if err := Write(dir, b, true); err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, b)
	if l := leftovers(t, parent, "home"); len(l) != 0 {
		t.Errorf("left in the parent: %v", l)
	}
}

func TestRefusesAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, sample(t), true); err == nil {
		t.Error("Write over a regular file succeeded")
	}
	if data, _ := os.ReadFile(p); string(data) != "x" {
		t.Error("the file was touched")
	}
}

func TestUnchanged(t *testing.T) {
	b := sample(t)
	write := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "out")
		if err := Write(dir, b, false); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Run("identical", func(t *testing.T) {
		if !Unchanged(write(t), b) {
			t.Error("false for an identical tree")
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		if Unchanged(filepath.Join(t.TempDir(), "nope"), b) {
			t.Error("true for a missing directory")
		}
	})
	// Unchanged judges by MANIFEST.json and stats, not by reading files:
	// an edit that changes a file's size is seen; one that keeps it is
	// hagen verify's to find.
	t.Run("edited file", func(t *testing.T) {
		dir := write(t)
		p := filepath.Join(dir, "hosts/m0/etc/kubernetes/pki/ca.crt")
		if err := os.WriteFile(p, []byte("CERT, edited\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if Unchanged(dir, b) {
			t.Error("true after a file changed size")
		}
	})
	t.Run("mode", func(t *testing.T) {
		dir := write(t)
		if err := os.Chmod(filepath.Join(dir, "hosts/m0/etc/kubernetes/pki/ca.key"), 0o644); err != nil {
			t.Fatal(err)
		}
		if Unchanged(dir, b) {
			t.Error("true after changing a mode")
		}
	})
	t.Run("extra file", func(t *testing.T) {
		dir := write(t)
		if err := os.WriteFile(filepath.Join(dir, "hosts/m0/etc/extra"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if Unchanged(dir, b) {
			t.Error("true with an extra file")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		dir := write(t)
		if err := os.Remove(filepath.Join(dir, "RUNBOOK.md")); err != nil {
			t.Fatal(err)
		}
		if Unchanged(dir, b) {
			t.Error("true with a missing file")
		}
	})
	t.Run("symlink", func(t *testing.T) {
		dir := write(t)
		p := filepath.Join(dir, "RUNBOOK.md")
		target := filepath.Join(t.TempDir(), "rb")
		if err := os.WriteFile(target, []byte("# runbook\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		if Unchanged(dir, b) {
			t.Error("true with a symlink in place of a file")
		}
	})
}

func TestMarshalManifest(t *testing.T) {
	m := &Manifest{
		Version: 1,
		Cluster: "prod",
		Hosts: map[string]ManifestHost{
			"w0": {Roles: []string{"worker"}, Address: "10.0.0.20", Files: []ManifestEntry{{Path: "/usr/local/sbin/x", Mode: "0755", Owner: "root", SHA256: "aa"}}},
			"m0": {Roles: []string{"control-plane"}, Address: "10.0.0.10", Files: []ManifestEntry{}},
			"e0": {Roles: []string{"etcd"}, Address: "10.0.0.30", Files: []ManifestEntry{}},
		},
		Files: []ManifestEntry{{Path: "RUNBOOK.md", Mode: "0644", Owner: "root", SHA256: "bb"}},
		Steps: []Step{{Name: "copy-files", Hosts: []string{"e0", "m0", "w0"}, Note: "n"}},
	}
	a, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		b, err := MarshalManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("MarshalManifest is not stable")
		}
	}
	if !bytes.HasSuffix(a, []byte("}\n")) || bytes.HasSuffix(a, []byte("\n\n")) {
		t.Errorf("manifest does not end in one newline: %q", a[len(a)-5:])
	}
	s := string(a)
	if !(strings.Index(s, `"e0"`) < strings.Index(s, `"m0"`) && strings.Index(s, `"m0"`) < strings.Index(s, `"w0"`)) {
		t.Errorf("hosts not sorted:\n%s", s)
	}
	for _, key := range []string{`"version": 1`, `"cluster": "prod"`, `"hosts"`, `"files"`, `"steps"`, `"roles"`, `"address"`, `"path"`, `"mode": "0755"`, `"owner"`, `"sha256"`, `"serial": false`} {
		if !strings.Contains(s, key) {
			t.Errorf("manifest lacks %s", key)
		}
	}
	if strings.Contains(s, `"check"`) {
		t.Error("empty check is not omitted")
	}
	var back Manifest
	if err := json.Unmarshal(a, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, m) {
		t.Errorf("round trip:\n%+v\nwant\n%+v", back, *m)
	}
}
