package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundleExitCodes pins the exit codes of the verbs that read or write a
// bundle or a secrets file: `! exec` in a script cannot tell 1 from 3.
func TestBundleExitCodes(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.cue")
	src := strings.Replace(validSpec, "hosts:", "pki: keyAlgorithm: \"ECDSA-P256\"\nhosts:", 1)
	if err := os.WriteFile(spec, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, out2, secrets := filepath.Join(dir, "out"), filepath.Join(dir, "out2"), filepath.Join(dir, "s.yaml")
	run := func(want int, stderr string, args ...string) {
		t.Helper()
		var o, e bytes.Buffer
		if got := Main(args, &o, &e); got != want {
			t.Errorf("hagen %s: exit %d, want %d\nstderr: %s", strings.Join(args, " "), got, want, e.String())
		}
		if stderr != "" && !strings.Contains(e.String(), stderr) {
			t.Errorf("hagen %s: stderr %q lacks %q", strings.Join(args, " "), e.String(), stderr)
		}
	}
	run(0, "", "render", spec, "-o", out, "--secrets", secrets)
	run(0, "", "render", spec, "-o", out2, "--secrets", secrets)
	run(0, "", "verify", out)
	run(0, "", "diff", out, out2)
	run(0, "", "diff", "--exit-code", out, out2)
	run(0, "", "certs", "--secrets", secrets)

	// A tampered bundle is the user's to fix: 1.
	key := filepath.Join(out, "hosts/m0/etc/kubernetes/pki/ca.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	run(1, "ca.key", "verify", out)
	// A spec change shows in diff; --exit-code makes it status 1.
	spec2 := filepath.Join(dir, "spec2.cue")
	if err := os.WriteFile(spec2, []byte(src+"\nhosts: w9: {address: \"10.0.0.99\", roles: [\"worker\"]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out4 := filepath.Join(dir, "out4")
	run(0, "", "render", spec2, "-o", out4, "--secrets", secrets)
	run(0, "", "diff", out2, out4)
	run(1, "differ", "diff", "--exit-code", out2, out4)
	run(2, "", "verify", filepath.Join(dir, "nope"))
	run(2, "", "diff", out, filepath.Join(dir, "nope"))

	// -o at a non-empty directory that is not a bundle: refused, untouched.
	foreign := filepath.Join(dir, "home")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(1, "not a hagen bundle", "render", spec, "-o", foreign, "--secrets", secrets)
	if b, err := os.ReadFile(filepath.Join(foreign, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("refused directory was touched: %q, %v", b, err)
	}
	run(0, "", "render", spec, "-o", foreign, "--secrets", secrets, "--force")

	// A damaged secrets file: 1, and the file is left as it was.
	damaged := filepath.Join(dir, "damaged.yaml")
	good, err := os.ReadFile(secrets)
	if err != nil {
		t.Fatal(err)
	}
	half := good[:len(good)/2]
	if err := os.WriteFile(damaged, half, 0o600); err != nil {
		t.Fatal(err)
	}
	run(1, "damaged.yaml", "render", spec, "-o", filepath.Join(dir, "out3"), "--secrets", damaged)
	if b, _ := os.ReadFile(damaged); !bytes.Equal(b, half) {
		t.Error("render rewrote a damaged secrets file")
	}
	if _, err := os.Stat(filepath.Join(dir, "out3")); !os.IsNotExist(err) {
		t.Error("render wrote a bundle from a damaged secrets file")
	}
	run(1, "damaged.yaml", "certs", "--secrets", damaged)
}
