package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// manifested returns a bundle of files plus a MANIFEST.json that lists them,
// as render builds one.
func manifested(t *testing.T, files ...File) *Bundle {
	t.Helper()
	b := New()
	if err := b.Add(files...); err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Version: 1, Cluster: "t", Hosts: map[string]ManifestHost{}}
	for _, f := range b.Files() {
		e := ManifestEntry{Path: f.Path, Mode: ModeString(f.Mode), Owner: "root", SHA256: f.SHA256()}
		if f.Host == "" {
			m.Files = append(m.Files, e)
			continue
		}
		h := m.Hosts[f.Host]
		h.Files = append(h.Files, e)
		m.Hosts[f.Host] = h
	}
	data, err := MarshalManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(File{Path: ManifestName, Mode: ModePublic, Data: data}); err != nil {
		t.Fatal(err)
	}
	return b
}

func version(t *testing.T, conf string) *Bundle {
	return manifested(t,
		File{Host: "m0", Path: "/etc/a.conf", Mode: ModePublic, Data: []byte(conf)},
		File{Host: "m0", Path: "/etc/kubernetes/pki/ca.key", Mode: ModeSecret, Data: []byte("KEY\n")},
		File{Host: "w0", Path: "/etc/b.conf", Mode: ModePublic, Data: []byte("b\n")},
		File{Path: "RUNBOOK.md", Mode: ModePublic, Data: []byte("# run\n")},
	)
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ino
}

func exactly(t *testing.T, dir string, b *Bundle) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, ok := b.Get(filepath.ToSlash(rel))
		if !ok {
			t.Errorf("extra file %s", rel)
			return nil
		}
		data, _ := os.ReadFile(p)
		info, _ := d.Info()
		if !bytes.Equal(data, f.Data) || info.Mode().Perm() != f.Mode {
			t.Errorf("%s: %q %v, want %q %v", rel, data, info.Mode().Perm(), f.Data, f.Mode)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(b.Files()) {
		t.Errorf("%d files on disk, want %d", n, len(b.Files()))
	}
}

// TestSpareReuse: the previous bundle is kept as the spare, and the render
// after next stages into it, rewriting only what changed: unchanged files
// keep their inode, and the result is exact.
func TestSpareReuse(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	spare := filepath.Join(parent, ".out.hagen-spare")
	a, b, c := version(t, "a\n"), version(t, "b\n"), version(t, "c, longer\n")
	for _, v := range []*Bundle{a, b} {
		if err := Write(dir, v, false); err != nil {
			t.Fatal(err)
		}
	}
	exactly(t, dir, b)
	exactly(t, spare, a) // the previous bundle, whole
	keyIno := inode(t, filepath.Join(spare, "hosts/m0/etc/kubernetes/pki/ca.key"))
	if err := Write(dir, c, false); err != nil {
		t.Fatal(err)
	}
	exactly(t, dir, c)
	exactly(t, spare, b)
	if got := inode(t, filepath.Join(dir, "hosts/m0/etc/kubernetes/pki/ca.key")); got != keyIno {
		t.Error("an unchanged file was rewritten: the spare was not reused")
	}
	if !Unchanged(dir, c) {
		t.Error("Unchanged is false right after Write")
	}
}

// TestSpareEditedFile: a file edited after its bundle was written (same
// size, so only its ctime tells) is rewritten when that tree is reused.
func TestSpareEditedFile(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	a, b := version(t, "a\n"), version(t, "b\n")
	if err := Write(dir, a, false); err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(dir, "hosts/w0/etc/b.conf")
	if err := os.WriteFile(edited, []byte("X\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if Unchanged(dir, a) {
		t.Error("Unchanged is true after a same-size edit")
	}
	// out (edited) becomes the spare; the next write stages into it.
	for _, v := range []*Bundle{b, a} {
		if err := Write(dir, v, false); err != nil {
			t.Fatal(err)
		}
	}
	exactly(t, dir, a)
}

// TestSpareInterrupted: a spare without its manifest (a render killed while
// updating it) is not trusted: the next write builds afresh.
func TestSpareInterrupted(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	spare := filepath.Join(parent, ".out.hagen-spare")
	a, b := version(t, "a\n"), version(t, "b\n")
	for _, v := range []*Bundle{a, b} {
		if err := Write(dir, v, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(spare, ManifestName)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spare, "hosts/m0/etc/a.conf"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, a, false); err != nil {
		t.Fatal(err)
	}
	exactly(t, dir, a)
	exactly(t, spare, b)
}

// TestForcedForeignNotKept: a directory hagen did not write, replaced with
// force, is deleted rather than kept as a spare.
func TestForcedForeignNotKept(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, version(t, "a\n"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(parent, ".out.hagen-spare")); !os.IsNotExist(err) {
		t.Errorf("the replaced foreign directory was kept: %v", err)
	}
}
