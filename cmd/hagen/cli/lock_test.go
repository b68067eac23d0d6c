package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestConcurrentRenders starts two renders of a new cluster at once,
// sharing one secrets file. Issuing RSA keys takes about a second, so
// without the lock both would find no secrets and mint two sets of CAs; with
// it, one waits and then reuses what the other issued.
func TestConcurrentRenders(t *testing.T) {
	if testing.Short() {
		t.Skip("issues RSA keys")
	}
	dir := t.TempDir()
	hagen := filepath.Join(dir, "hagen")
	if err := os.Symlink(os.Args[0], hagen); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "spec.cue")
	if err := os.WriteFile(spec, []byte(validSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets.yaml")
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = exec.Command(hagen, "render", spec, "-o", filepath.Join(dir, "out"+string(rune('a'+i))), "--secrets", secrets)
		cmds[i].Stderr = new(bytes.Buffer)
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("render %d: %v\n%s", i, err, c.Stderr)
		}
	}
	ca := func(out string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, out, "hosts/m0/etc/kubernetes/pki/ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(ca("outa"), ca("outb")) {
		t.Fatal("two concurrent renders issued two different cluster CAs")
	}
	if got := readCAs(t, secrets); !bytes.Contains([]byte(got), ca("outa")) {
		t.Error("the secrets file holds another CA than the bundles")
	}
}
