package pki_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/golden"
	"github.com/hagen/hagen/pki"
)

// small is a valid one-master ECDSA secrets file, a fresh copy each call.
func small(t *testing.T) *pki.Secrets {
	t.Helper()
	return fresh(t, oneMaster(model.ECDSAP256).plan(t))
}

// wantSecretsError parses raw and wants a *SecretsError for entry (any
// entry if entry is "*") whose text contains every one of msgs.
func wantSecretsError(t *testing.T, raw []byte, entry string, msgs ...string) *pki.SecretsError {
	t.Helper()
	s, err := pki.ParseSecrets("secrets.yaml", raw)
	if err == nil {
		t.Fatalf("ParseSecrets accepted a bad file (cluster %q)", s.Cluster)
	}
	var se *pki.SecretsError
	if !errors.As(err, &se) {
		t.Fatalf("error %q is a %T, want *pki.SecretsError", err, err)
	}
	if se.File != "secrets.yaml" {
		t.Errorf("error %q names file %q", err, se.File)
	}
	if entry != "*" && se.Entry != entry {
		t.Errorf("error %q: entry %q, want %q", err, se.Entry, entry)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	return se
}

func TestSecretsRoundTrip(t *testing.T) {
	s := small(t)
	raw := marshal(t, s)
	if !bytes.HasPrefix(raw, []byte("# hagen secrets: every CA, key and certificate of cluster test.\n")) {
		t.Errorf("no header:\n%.200s", raw)
	}
	back := parse(t, raw)
	if again := marshal(t, back); !bytes.Equal(raw, again) {
		t.Errorf("Marshal(Parse(Marshal(s))) differs:\n%s", firstDiff(raw, again))
	}
	// No private key material is lost on the way.
	if back.CAs[pki.EtcdCA].Key == "" || back.ServiceAccount.Key == "" {
		t.Errorf("keys lost in the round trip")
	}
}

// pemCut returns the offset of a point inside the first PEM block after
// the lines path (e.g. "leaves:", "  master0:", "    etcd-server:",
// "      cert: |") in raw.
func pemCut(t *testing.T, raw []byte, path ...string) int {
	t.Helper()
	at := 0
	for _, p := range path {
		i := bytes.Index(raw[at:], []byte("\n"+p+"\n"))
		if i < 0 {
			t.Fatalf("no line %q after offset %d", p, at)
		}
		at += i + 1 + len(p)
	}
	i := bytes.Index(raw[at:], []byte("-----BEGIN "))
	if i < 0 {
		t.Fatalf("no PEM block after %q", path)
	}
	return at + i + 60 // past the BEGIN line, into the base64
}

// TestTruncated: a file cut short is refused, never taken for a new
// cluster.
func TestTruncated(t *testing.T) {
	raw := marshal(t, small(t))

	t.Run("half", func(t *testing.T) {
		se := wantSecretsError(t, raw[:len(raw)/2], "*")
		t.Logf("half a file: %v", se)
	})

	cuts := map[string][]string{
		"cas.ca.cert":                  {"cas:", "  ca:", "    cert: |"},
		"cas.etcd-ca.key":              {"cas:", "  etcd-ca:", "    key: |"},
		"leaves.master0.etcd-server":   {"leaves:", "  master0:", "    etcd-server:", "      cert: |"},
		"leaves.master0.etcd-peer.key": {"leaves:", "  master0:", "    etcd-peer:", "      key: |"},
		"serviceAccount.pub":           {"serviceAccount:", "  pub: |"},
	}
	for name, path := range cuts {
		t.Run("in PEM "+name, func(t *testing.T) {
			wantSecretsError(t, raw[:pemCut(t, raw, path...)], "*")
		})
	}

	// Where the cut leaves the version in place (a file written with its
	// version first), the error names the damaged entry.
	t.Run("in the last PEM, version first", func(t *testing.T) {
		v := []byte(fmt.Sprintf("version: %d\n", pki.FormatVersion))
		if !bytes.HasSuffix(raw, v) {
			t.Fatalf("the file does not end with %q", v)
		}
		moved := append(append([]byte{}, v...), raw[:len(raw)-len(v)]...)
		parse(t, moved) // still a valid file
		cut := pemCut(t, moved, "serviceAccount:", "  pub: |")
		wantSecretsError(t, moved[:cut], "serviceAccount", "pub")
	})

	// Every line-boundary truncation is refused.
	t.Run("every line", func(t *testing.T) {
		for i := 0; i < len(raw)-1; i++ {
			if raw[i] != '\n' {
				continue
			}
			if _, err := pki.ParseSecrets("secrets.yaml", raw[:i+1]); err == nil {
				t.Fatalf("a file cut after byte %d parses:\n%s", i+1, raw[:i+1])
			} else if !errors.As(err, new(*pki.SecretsError)) {
				t.Fatalf("cut at %d: %T %v", i+1, err, err)
			}
		}
	})
}

// TestDamagedPEM: lines missing in the middle of a PEM block (the rest of the
// file intact) are reported against that entry.
func TestDamagedPEM(t *testing.T) {
	raw := marshal(t, small(t))
	for entry, path := range map[string][]string{
		"leaves.master0.etcd-server": {"leaves:", "  master0:", "    etcd-server:", "      cert: |"},
		"cas.etcd-ca":                {"cas:", "  etcd-ca:", "    key: |"},
		"cas.front-proxy-ca":         {"cas:", "  front-proxy-ca:", "    cert: |"},
		"serviceAccount":             {"serviceAccount:", "  key: |"},
	} {
		t.Run(entry, func(t *testing.T) {
			at := pemCut(t, raw, path...)
			start := bytes.LastIndexByte(raw[:at], '\n') + 1
			end := start + bytes.IndexByte(raw[start:], '\n') + 1 // drop one base64 line
			damaged := append(append([]byte{}, raw[:start]...), raw[end:]...)
			wantSecretsError(t, damaged, entry)
		})
	}
}

// TestLoadSecretsLeavesFileAlone: loading never writes, renames or
// "repairs" the file, whether it is damaged, foreign or fine.
func TestLoadSecretsLeavesFileAlone(t *testing.T) {
	good := marshal(t, small(t))
	for _, c := range []struct {
		name, cluster string
		raw           []byte
		ok            bool
	}{
		{"truncated", "test", good[:len(good)/2], false},
		{"cut in PEM", "test", good[:pemCut(t, good, "cas:", "  ca:", "    key: |")], false},
		{"foreign", "other", good, false},
		{"good", "test", good, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "secrets.yaml")
			if err := os.WriteFile(path, c.raw, 0o600); err != nil {
				t.Fatal(err)
			}
			mtime := time.Date(2020, 2, 2, 2, 2, 2, 0, time.UTC)
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			s, err := pki.LoadSecrets(path, c.cluster)
			if c.ok != (err == nil) {
				t.Fatalf("LoadSecrets: %v", err)
			}
			if err != nil {
				var se *pki.SecretsError
				if !errors.As(err, &se) || se.File != path {
					t.Errorf("error %q (%T): want a *SecretsError naming %s", err, err, path)
				}
			} else if s.Cluster != "test" {
				t.Errorf("cluster %q", s.Cluster)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, c.raw) {
				t.Errorf("the file changed (%v)", err)
			}
			fi, err := os.Stat(path)
			if err != nil || !fi.ModTime().Equal(mtime) || fi.Mode().Perm() != 0o600 {
				t.Errorf("stat after load: %v, mtime %v mode %v; want %v %v", err, fi.ModTime(), fi.Mode(), mtime, os.FileMode(0o600))
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("LoadSecrets left files behind: %v", ents)
			}
		})
	}
}

func TestLoadSecretsAbsent(t *testing.T) {
	s, err := pki.LoadSecrets(filepath.Join(t.TempDir(), "secrets.yaml"), "test")
	if s != nil || err != nil {
		t.Errorf("absent file: %v, %v; want nil, nil", s, err)
	}
	// A path that cannot be read is an error, not "absent".
	dir := t.TempDir()
	if _, err := pki.LoadSecrets(dir, "test"); err == nil {
		t.Errorf("reading a directory: no error")
	}
}

func TestForeignCluster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(path, marshal(t, small(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := pki.LoadSecrets(path, "prod")
	var se *pki.SecretsError
	if !errors.As(err, &se) || se.Entry != "cluster" {
		t.Fatalf("err %v, want a *SecretsError for entry cluster", err)
	}
	for _, m := range []string{"cluster", `"test"`, `"prod"`, path} {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %s", err, m)
		}
	}
}

// edit returns raw with old replaced by new exactly once.
func edit(t *testing.T, raw []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(raw, []byte(old)); n != 1 {
		t.Fatalf("%q occurs %d times", old, n)
	}
	return bytes.Replace(raw, []byte(old), []byte(new), 1)
}

func TestBadFiles(t *testing.T) {
	raw := marshal(t, small(t))
	version := fmt.Sprintf("version: %d\n", pki.FormatVersion)
	for _, c := range []struct {
		name  string
		raw   []byte
		entry string
		msgs  []string
	}{
		{"empty", []byte("\n \n"), "", []string{"empty"}},
		{"not YAML", []byte("\x00\x01binary: [garbage"), "", []string{"not valid YAML"}},
		{"encrypted", []byte("-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24\n-----END AGE ENCRYPTED FILE-----\n"), "*", nil},
		{"missing version", edit(t, raw, version, ""), "version", []string{"missing"}},
		{"newer version", edit(t, raw, version, fmt.Sprintf("version: %d\n", pki.FormatVersion+1)), "version", []string{fmt.Sprintf("%d is newer", pki.FormatVersion+1), "upgrade hagen"}},
		{"version 0", edit(t, raw, version, "version: 0\n"), "version", nil},
		{"version not a number", edit(t, raw, version, "version: one\n"), "version", nil},
		{"unknown field", append(bytes.Clone(raw), "extra: true\n"...), "", []string{"extra"}},
		{"unknown nested field", edit(t, raw, "\n  ca:\n", "\n  ca:\n    serial: 7\n"), "", []string{"serial"}},
		{"missing cluster", edit(t, raw, "cluster: test\n", ""), "cluster", []string{"missing"}},
		{"unknown CA", edit(t, raw, "\ncas:\n", "\ncas:\n  ca2:\n    cert: x\n    key: y\n"), "*", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantSecretsError(t, c.raw, c.entry, c.msgs...)
		})
	}
}

// TestBadEntries damages one entry of valid secrets at a time.
func TestBadEntries(t *testing.T) {
	other := fresh(t, threeMasters(model.ECDSAP256).plan(t)) // another cluster's PKI
	for _, c := range []struct {
		name  string
		edit  func(s *pki.Secrets)
		entry string
		msgs  []string
	}{
		{"leaf keys swapped", func(s *pki.Secrets) {
			m := s.Leaves["master0"]
			a, b := m["etcd-server"], m["etcd-peer"]
			a.Key, b.Key = b.Key, a.Key
			m["etcd-server"], m["etcd-peer"] = a, b
		}, "leaves.master0.etcd-peer", []string{"key does not belong"}},
		{"leaf from another cluster", func(s *pki.Secrets) {
			s.Leaves["master0"]["etcd-server"] = other.Leaves["master0"]["etcd-server"]
		}, "leaves.master0.etcd-server", []string{"not signed by its CA"}},
		{"leaf under the wrong name", func(s *pki.Secrets) {
			s.Leaves["master0"]["etcd-srv"] = s.Leaves["master0"]["etcd-server"]
		}, "leaves.master0.etcd-srv", []string{"unknown certificate"}},
		{"leaf with trailing data", func(s *pki.Secrets) {
			kp := s.Leaves["master0"]["etcd-server"]
			kp.Key += "garbage\n"
			s.Leaves["master0"]["etcd-server"] = kp
		}, "leaves.master0.etcd-server", []string{"after the PEM key"}},
		{"CA keys swapped", func(s *pki.Secrets) {
			a, b := s.CAs[pki.ClusterCA], s.CAs[pki.FrontProxyCA]
			a.Key, b.Key = b.Key, a.Key
			s.CAs[pki.ClusterCA], s.CAs[pki.FrontProxyCA] = a, b
		}, "cas.ca", []string{"key does not belong"}},
		{"CA missing", func(s *pki.Secrets) { delete(s.CAs, pki.FrontProxyCA) }, "cas.front-proxy-ca", []string{"missing", "never regenerated"}},
		{"CA is a leaf", func(s *pki.Secrets) { s.CAs[pki.EtcdCA] = s.Leaves["master0"]["etcd-server"] }, "cas.etcd-ca", []string{"not a CA"}},
		{"CA replaced", func(s *pki.Secrets) { s.CAs[pki.EtcdCA] = other.CAs[pki.EtcdCA] }, "leaves.master0.apiserver-etcd-client", []string{"not signed by its CA"}},
		{"service-account pub of another key", func(s *pki.Secrets) { s.ServiceAccount.Pub = other.ServiceAccount.Pub }, "serviceAccount", []string{"not the public half"}},
		{"service-account key missing", func(s *pki.Secrets) { s.ServiceAccount.Key = "" }, "serviceAccount", nil},
		{"token missing", func(s *pki.Secrets) { s.BootstrapToken = "" }, "bootstrapToken", nil},
		{"token without dot", func(s *pki.Secrets) { s.BootstrapToken = "abcdef0123456789abcdef" }, "bootstrapToken", nil},
		{"token upper case", func(s *pki.Secrets) { s.BootstrapToken = "ABCDEF.0123456789abcdef" }, "bootstrapToken", nil},
		{"token short secret", func(s *pki.Secrets) { s.BootstrapToken = "abcdef.0123456789abcde" }, "bootstrapToken", nil},
		{"auth pass missing", func(s *pki.Secrets) { s.KeepalivedAuthPass = "" }, "keepalivedAuthPass", nil},
		{"auth pass too long", func(s *pki.Secrets) { s.KeepalivedAuthPass = "123456789" }, "keepalivedAuthPass", []string{"8"}},
		{"auth pass punctuation", func(s *pki.Secrets) { s.KeepalivedAuthPass = "pass-wd" }, "keepalivedAuthPass", nil},
		{"auth pass non-ASCII", func(s *pki.Secrets) { s.KeepalivedAuthPass = "pässwd" }, "keepalivedAuthPass", nil},
		{"history without init", func(s *pki.Secrets) { s.History.Init = "" }, "history", []string{"init: missing"}},
		{"history without members", func(s *pki.Secrets) { s.History.Members = nil }, "history", []string{"etcdMembers: missing"}},
		{"history member without peer URL", func(s *pki.Secrets) { s.History.Members[0].PeerURL = "" }, "history", []string{"etcdMembers[0]: want a name and an https peer URL"}},
		{"history member on http", func(s *pki.Secrets) {
			s.History.Members[0].PeerURL = strings.Replace(s.History.Members[0].PeerURL, "https:", "http:", 1)
		}, "history", []string{"etcdMembers[0]"}},
		{"history member not in its initial cluster", func(s *pki.Secrets) { s.History.Members[0].InitialCluster = "x=https://10.0.0.1:2380" }, "history", []string{"lacks the member itself"}},
		{"history member a prefix of one in its initial cluster", func(s *pki.Secrets) {
			m := &s.History.Members[0]
			m.InitialCluster = m.Name + "x=" + m.PeerURL
		}, "history", []string{"lacks the member itself"}},
		{"history host address", func(s *pki.Secrets) { s.History.ControlPlane[0].Address = "10.0.0" }, "history", []string{"controlPlane[0]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := small(t)
			c.edit(s)
			wantSecretsError(t, marshal(t, s), c.entry, c.msgs...)
		})
	}
	// A member whose address moved keeps the flags of its first start: its
	// initial cluster names it at its old peer URL.
	s := small(t)
	m := &s.History.Members[0]
	m.PeerURL = "https://10.9.9.9:2380"
	parse(t, marshal(t, s))
	// The edges of the valid ranges.
	for _, pass := range []string{"a", "Ab3dEf7H"} {
		s := small(t)
		s.KeepalivedAuthPass = pass
		parse(t, marshal(t, s))
	}
}

// TestEnsureRejectsBadOld: Ensure checks what it is given too; it never
// replaces a CA it cannot use.
func TestEnsureRejectsBadOld(t *testing.T) {
	p := oneMaster(model.ECDSAP256).plan(t)
	s := small(t)
	delete(s.CAs, pki.EtcdCA)
	if _, err := issuer(t0).Ensure(p, s); err == nil || !strings.Contains(err.Error(), "etcd-ca") {
		t.Errorf("Ensure without the etcd CA: %v", err)
	}
	s = small(t)
	kp := s.Leaves["master0"]["etcd-peer"]
	kp.Key = s.Leaves["master0"]["etcd-server"].Key
	s.Leaves["master0"]["etcd-peer"] = kp
	if _, err := issuer(t0).Ensure(p, s); err == nil || !strings.Contains(err.Error(), "leaves.master0.etcd-peer") {
		t.Errorf("Ensure with a swapped key: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.yaml")
	onlyFile := func() {
		t.Helper()
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 1 || ents[0].Name() != "secrets.yaml" {
			t.Errorf("directory holds %v (%v), want only secrets.yaml", ents, err)
		}
	}
	check := func(want []byte, mode os.FileMode) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("content %q (%v), want %q", got, err, want)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("mode %v (%v), want %v", fi.Mode().Perm(), err, mode)
		}
		onlyFile()
	}

	// New file, 0600 whatever the umask.
	if err := pki.WriteFileAtomic(path, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check([]byte("one\n"), 0o600)

	// Replaces an existing, world-readable file, mode included.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFileAtomic(path, []byte("two, longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check([]byte("two, longer\n"), 0o600)

	// Shorter content leaves no tail of the old.
	if err := pki.WriteFileAtomic(path, []byte("3"), 0o640); err != nil {
		t.Fatal(err)
	}
	check([]byte("3"), 0o640)

	// A failing rename (the target is a non-empty directory) leaves no
	// temp file.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteFileAtomic(blocked, []byte("x"), 0o600); err == nil {
		t.Errorf("writing over a directory: no error")
	}
	if err := os.RemoveAll(blocked); err != nil {
		t.Fatal(err)
	}
	onlyFile()

	// A missing directory is an error.
	if err := pki.WriteFileAtomic(filepath.Join(dir, "nope", "s.yaml"), []byte("x"), 0o600); err == nil {
		t.Errorf("writing into a missing directory: no error")
	}
}

// ---------------------------------------------------------------------------
// Old files still load.

const (
	fixtureSpec    = "testdata/secrets-v1.cue"
	fixtureSecrets = "testdata/secrets-v1.yaml"
)

// fixtureIssued is when testdata/secrets-v1.yaml was made.
var fixtureIssued = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestSecretsV1Fixture: a secrets file written by format version 1 (a
// one-master ECDSA-P256 cluster, made once at fixtureIssued and committed)
// still loads and is reused whole. The fixture is frozen: nothing rewrites
// it, the golden switch included (a rewritten fixture would prove only
// that today's files load). Its leaves are valid for ten years, its CAs
// twenty.
func TestSecretsV1Fixture(t *testing.T) {
	src, err := os.ReadFile(fixtureSpec)
	if err != nil {
		t.Fatal(err)
	}
	p := compilePlan(t, fixtureSpec, src)
	raw, err := os.ReadFile(fixtureSecrets)
	if err != nil {
		t.Fatal(err)
	}
	old, err := pki.LoadSecrets(fixtureSecrets, p.Name)
	if err != nil {
		t.Fatalf("the v1 fixture no longer loads: %v", err)
	}
	if after, _ := os.ReadFile(fixtureSecrets); !bytes.Equal(after, raw) {
		t.Fatalf("LoadSecrets changed the fixture")
	}
	for _, now := range []time.Time{
		fixtureIssued,
		fixtureIssued.Add(24 * time.Hour),
		time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC),
		fixtureIssued.Add(p.PKI.CertValidity - pki.RenewWithin(p.PKI.CertValidity) - time.Hour),
	} {
		res := ensure(t, &pki.Issuer{Now: clock(now), Rand: seeded(2), Workers: 1}, p, old)
		if len(res.Reissued)+len(res.Warnings) > 0 {
			t.Errorf("at %s: reissued %v, warnings %q", now, res.Reissued, res.Warnings)
		}
		compare(t, old, res.Secrets)
		if got, want := haveLeafSet(res.Secrets), haveLeafSet(old); !slices.Equal(got, want) {
			t.Errorf("at %s: leaves %v, want %v", now, got, want)
		}
		checkPKI(t, p, res.Secrets, now)
		// While this build writes format 1, it writes the fixture's bytes.
		if pki.FormatVersion == 1 {
			if got := marshal(t, res.Secrets); !bytes.Equal(got, raw) {
				t.Errorf("at %s: re-marshalled fixture differs:\n%s", now, firstDiff(raw, got))
			}
		}
	}
}

const (
	fixtureV2Spec    = "testdata/secrets-v2.cue"
	fixtureV2Secrets = "testdata/secrets-v2.yaml"
)

// TestSecretsV2Fixture: a secrets file written by format version 2, with
// the history of a cluster grown from the v1 fixture's one master to three,
// still loads, and its history plans the same membership: master0
// bootstrapped the cluster, master1 and master2 joined it in that order.
// Like the v1 fixture it is frozen; the golden switch writes it only when
// it is absent (grown from the v1 fixture at fixtureIssued).
func TestSecretsV2Fixture(t *testing.T) {
	src, err := os.ReadFile(fixtureV2Spec)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fixtureV2Secrets)
	if errors.Is(err, os.ErrNotExist) && golden.Update() {
		raw = growV1Fixture(t, src)
		if err := os.WriteFile(fixtureV2Secrets, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	old, err := pki.ReadSecrets(fixtureV2Secrets)
	if err != nil {
		t.Fatalf("the v2 fixture no longer loads: %v", err)
	}
	res, err := compiler.CompileWith(fixtureV2Spec, src, compiler.Options{History: old.History, Cluster: old.Cluster})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Plan
	if c := p.Etcd.Change; c == nil || len(c.Added) != 2 || c.Added[0].Name != "master1" || c.Added[1].Name != "master2" || c.Anchor.Name != "master0" {
		t.Errorf("the fixture's history plans change %+v, want master1 then master2 added through master0", c)
	}
	want := map[string]string{
		"master0": "master0=https://10.0.0.10:2380",
		"master1": "master0=https://10.0.0.10:2380,master1=https://10.0.0.11:2380",
		"master2": "master0=https://10.0.0.10:2380,master1=https://10.0.0.11:2380,master2=https://10.0.0.12:2380",
	}
	for _, m := range p.Etcd.Members {
		if m.InitialCluster != want[m.Name] || m.Existing != (m.Name != "master0") {
			t.Errorf("member %s: initial cluster %q existing %v", m.Name, m.InitialCluster, m.Existing)
		}
	}
	is := &pki.Issuer{Now: clock(fixtureIssued.Add(24 * time.Hour)), Rand: seeded(2), Workers: 1}
	r := ensure(t, is, p, old)
	if r.Changed || len(r.Reissued)+len(r.Warnings) > 0 {
		t.Errorf("reusing the v2 fixture: changed %v, reissued %v, warnings %q", r.Changed, r.Reissued, r.Warnings)
	}
	checkPKI(t, p, r.Secrets, fixtureIssued.Add(24*time.Hour))
	// While this build writes format 2, it writes the fixture's bytes.
	if pki.FormatVersion == 2 {
		if got := marshal(t, r.Secrets); !bytes.Equal(got, raw) {
			t.Errorf("re-marshalled fixture differs:\n%s", firstDiff(raw, got))
		}
	}
}

// growV1Fixture renders the v1 fixture's cluster once as it is, then grown
// to the v2 fixture's spec, and returns the secrets file that leaves.
func growV1Fixture(t *testing.T, v2 []byte) []byte {
	src, err := os.ReadFile(fixtureSpec)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := pki.ReadSecrets(fixtureSecrets)
	if err != nil {
		t.Fatal(err)
	}
	is := &pki.Issuer{Now: clock(fixtureIssued), Rand: seeded(2), Workers: 1}
	s := ensure(t, is, compilePlan(t, fixtureSpec, src), v1).Secrets
	res, err := compiler.CompileWith(fixtureV2Spec, v2, compiler.Options{History: s.History, Cluster: s.Cluster})
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, ensure(t, is, res.Plan, s).Secrets)
}
