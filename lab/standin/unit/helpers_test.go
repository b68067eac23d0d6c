package unit

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// host builds a lab host's file system in a temporary directory, laid out
// as on Debian bookworm: /lib is a link to usr/lib, so /lib/systemd/system
// and /usr/lib/systemd/system are one directory. files maps a path on the
// host to its content; a content "-> target" makes a symbolic link, and
// "@name" is the file testdata/name.
func host(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/systemd/system"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		add(t, root, p, content)
	}
	return root
}

// add writes one file of host's kind under root.
func add(t *testing.T, root, p, content string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if target, ok := strings.CutPrefix(content, "-> "); ok {
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
		return
	}
	if name, ok := strings.CutPrefix(content, "@"); ok {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		content = string(b)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// load is Load that fails the test on error.
func load(t *testing.T, root, name string) *Unit {
	t.Helper()
	u, err := Load(root, name)
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return u
}

// argv is the argv of the unit's single ExecStart= with the unit's
// environment, read under root.
func argv(t *testing.T, root string, u *Unit) []string {
	t.Helper()
	if len(u.ExecStart) != 1 {
		t.Fatalf("%s has %d ExecStart= commands, want 1", u.Name, len(u.ExecStart))
	}
	env, err := u.Env(root, nil)
	if err != nil {
		t.Fatalf("Env: %v", err)
	}
	return u.ExecStart[0].Argv(env)
}

// same fails the test unless got equals want, printing both quoted so that
// an empty word or a stray blank shows.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

// ignoredKeys lists the keys of u.Ignored, with their reasons.
func ignoredKeys(u *Unit) map[string]string {
	m := map[string]string{}
	for _, d := range u.Ignored {
		m[d.Key] = d.Reason
	}
	return m
}
