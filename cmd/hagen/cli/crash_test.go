package cli

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hagen/hagen/inspect"
	"github.com/hagen/hagen/internal/testspec"
	"github.com/hagen/hagen/pki"
)

// TestKilledRenders kills renders of a 5,000-worker cluster with SIGKILL at
// random moments. After each kill, -o is either the previous bundle or the
// new one, whole (hagen verify finds nothing), and the secrets file still
// holds the same CAs. Every render moves master2, so each one rewrites both
// the secrets file (its etcd certs are re-issued) and the bundle.
//
// It takes a minute or more, so it runs in `make test` (make long) and
// with HAGEN_LONG_TESTS=1, not in a plain `go test ./...`.
func TestKilledRenders(t *testing.T) {
	if os.Getenv(longTests) != "1" {
		t.Skipf("kills 20 renders of a 5,000-host cluster: set %s=1 (make long)", longTests)
	}
	dir := t.TempDir()
	hagen := filepath.Join(dir, "hagen")
	if err := os.Symlink(os.Args[0], hagen); err != nil {
		t.Fatal(err)
	}
	base := testspec.Cluster(5000, "ECDSA-P256")
	specs := [2]string{filepath.Join(dir, "a.cue"), filepath.Join(dir, "b.cue")}
	for i, addr := range []string{"10.0.0.12/16", "10.0.0.42/16"} {
		src := strings.Replace(base, `"10.0.0.12/16"`, `"`+addr+`"`, 1)
		if err := os.WriteFile(specs[i], []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, secrets := filepath.Join(dir, "out"), filepath.Join(dir, "secrets.yaml")
	render := func(spec string) *exec.Cmd {
		cmd := exec.Command(hagen, "render", spec, "-o", out, "--secrets", secrets)
		cmd.Stderr = new(bytes.Buffer)
		return cmd
	}

	if cmd := render(specs[0]); cmd.Run() != nil {
		t.Fatalf("first render failed:\n%s", cmd.Stderr)
	}
	cas := readCAs(t, secrets)
	// The kill window is calibrated on the kind of render that is killed:
	// a re-render that moves master2 (a first render, which issues every
	// key, takes several times longer). The fastest of three, so that the
	// kills land anywhere in a render, its last moments (the commit)
	// included, and few renders finish before their kill.
	fastest := time.Duration(math.MaxInt64)
	for i := range 3 {
		start := time.Now()
		cmd := render(specs[(i+1)%2])
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v\n%s", err, cmd.Stderr)
		}
		fastest = min(fastest, time.Since(start))
	}

	const kills = 20
	killedMidway := 0
	for i := range kills {
		// Always the spec the secrets file does not hold yet: after a
		// kill the cluster is at either spec, and a render of the spec it
		// is at changes nothing and is over too soon to be killed.
		next := 1
		if movedMaster2(t, secrets) {
			next = 0
		}
		cmd := render(specs[next])
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(rand.N(fastest))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killedMidway++
		} else if err != nil {
			t.Fatalf("render %d failed on its own: %v\n%s", i, err, cmd.Stderr)
		}

		findings, _, err := inspect.Verify(out, time.Now())
		if err != nil || len(findings) > 0 {
			t.Fatalf("after kill %d: -o is not a whole bundle: %v %v", i, err, findings)
		}
		if got := readCAs(t, secrets); got != cas {
			t.Fatalf("after kill %d: the CAs in the secrets file changed", i)
		}
	}
	// The next render finishes the job and leaves no temp tree behind.
	if err := render(specs[0]).Run(); err != nil {
		t.Fatal(err)
	}
	if stale, _ := filepath.Glob(filepath.Join(dir, ".out.hagen-tmp-*")); len(stale) > 0 {
		t.Errorf("temp trees left behind: %v", stale)
	}
	if killedMidway < kills/2 {
		t.Errorf("only %d of %d renders were killed before they finished", killedMidway, kills)
	}
	t.Logf("%d renders killed midway (a re-render takes %s)", killedMidway, fastest)
}

// longTests is the environment variable that enables tests of a minute or
// more (make long, part of make test).
const longTests = "HAGEN_LONG_TESTS"

// readSecrets parses the secrets file, failing the test if it does not.
func readSecrets(t *testing.T, path string) *pki.Secrets {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pki.ParseSecrets(path, raw)
	if err != nil {
		t.Fatalf("the secrets file is damaged: %v", err)
	}
	return s
}

// movedMaster2 reports whether the secrets file's history has master2 at
// its second address.
func movedMaster2(t *testing.T, path string) bool {
	t.Helper()
	for _, m := range readSecrets(t, path).History.Members {
		if m.Name == "master2" {
			return m.PeerURL == "https://10.0.0.42:2380"
		}
	}
	t.Fatal("the secrets file's history has no member master2")
	return false
}

// readCAs returns the secrets file's CA certificates, failing the test if
// the file does not parse.
func readCAs(t *testing.T, path string) string {
	t.Helper()
	s := readSecrets(t, path)
	var b strings.Builder
	for _, ca := range pki.CAs() {
		b.WriteString(s.CAs[ca.Name].Cert + s.CAs[ca.Name].Key)
	}
	return b.String()
}
