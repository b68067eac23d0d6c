package inspect

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
)

// t0 is the clock the test bundles are issued at; day is the verifying
// clock for a fresh bundle.
var (
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day = t0.Add(24 * time.Hour)
)

const certValidity = 8760 * time.Hour

// baseSpec: three stacked control-plane hosts (so etcd members too) and a
// worker.
const baseSpec = `name: "t"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0"}
pki: {keyAlgorithm: "ECDSA-P256", certValidity: "8760h"}
hosts: {
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"]}
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
}
`

// build compiles spec and renders it with secrets issued at t0, reusing old.
func build(t *testing.T, spec string, old *pki.Secrets) (*bundle.Bundle, *pki.Secrets) {
	t.Helper()
	return buildWith(t, spec, old, render.Options{})
}

func buildWith(t *testing.T, spec string, old *pki.Secrets, opts render.Options) (*bundle.Bundle, *pki.Secrets) {
	t.Helper()
	res, err := compiler.Compile("spec.cue", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	issued, err := (&pki.Issuer{Now: func() time.Time { return t0 }}).Ensure(res.Plan, old)
	if err != nil {
		t.Fatal(err)
	}
	b, err := render.RenderWith(res.Plan, issued.Secrets, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b, issued.Secrets
}

var base struct {
	once    sync.Once
	b       *bundle.Bundle
	secrets *pki.Secrets
}

// baseBundle is rendered once; each test writes its own copy.
func baseBundle(t *testing.T) (*bundle.Bundle, *pki.Secrets) {
	base.once.Do(func() { base.b, base.secrets = build(t, baseSpec, nil) })
	if base.b == nil {
		t.Fatal("rendering the base bundle failed")
	}
	return base.b, base.secrets
}

func writeBundle(t *testing.T, b *bundle.Bundle) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "out")
	if err := bundle.Write(dir, b, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

func hostFile(dir, host, p string) string {
	return filepath.Join(dir, "hosts", host, filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

const (
	etcdCA        = "/etc/kubernetes/pki/etcd/ca.crt"
	serverCrt     = "/etc/kubernetes/pki/etcd/server.crt"
	serverKey     = "/etc/kubernetes/pki/etcd/server.key"
	etcdClientCrt = "/etc/kubernetes/pki/apiserver-etcd-client.crt"
	etcdClientKey = "/etc/kubernetes/pki/apiserver-etcd-client.key"
)

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// overwrite replaces a file's bytes, keeping its mode.
func overwrite(t *testing.T, p string, data []byte) {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// signLeaf issues a certificate for the key in keyFile, signed by the CA
// named caName in the secrets file: a cert hagen did not make, but one that
// chains.
func signLeaf(t *testing.T, s *pki.Secrets, caName, keyFile string, tmpl *x509.Certificate) []byte {
	t.Helper()
	ca, err := pki.ParseCert(s.CAs[caName].Cert)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := pki.ParseKey(s.CAs[caName].Key)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := pki.ParseKey(string(read(t, keyFile)))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(4242)
	tmpl.NotBefore, tmpl.NotAfter = t0, t0.Add(certValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// selfSignedCA makes a CA certificate and its SEC 1 key.
func selfSignedCA(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0, NotAfter: t0.Add(10 * certValidity),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), crypto.Signer(key))
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// memberTemplate is an etcd member certificate naming host and ips.
func memberTemplate(host string, ips ...string) *x509.Certificate {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: host}, DNSNames: []string{host, "localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	for _, ip := range ips {
		c.IPAddresses = append(c.IPAddresses, net.ParseIP(ip))
	}
	return c
}

func TestVerify(t *testing.T) {
	_, secrets := baseBundle(t)
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		now    time.Time
		// want are the findings, each a prefix of exactly one finding;
		// there must be no others.
		want     []string
		warnings []string
	}{
		{name: "clean bundle"},
		{
			name: "a byte changed",
			tamper: func(t *testing.T, dir string) {
				p := hostFile(dir, "m0", "/etc/keepalived/keepalived.conf")
				data := read(t, p)
				data[10] ^= 1
				overwrite(t, p, data)
			},
			want: []string{"hosts/m0/etc/keepalived/keepalived.conf: content differs from MANIFEST.json (sha256 "},
		},
		{
			name: "a key readable by others",
			tamper: func(t *testing.T, dir string) {
				if err := os.Chmod(hostFile(dir, "m1", "/etc/kubernetes/pki/ca.key"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"hosts/m1/etc/kubernetes/pki/ca.key: private key readable by group or other: mode 0644, want 0600"},
		},
		{
			name: "a secret config readable by group",
			tamper: func(t *testing.T, dir string) {
				if err := os.Chmod(hostFile(dir, "w0", "/etc/kubernetes/kubeadm/kubeadm.yaml"), 0o640); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"hosts/w0/etc/kubernetes/kubeadm/kubeadm.yaml: secret file readable by group or other: mode 0640, want 0600"},
		},
		{
			name: "a certificate with the wrong mode",
			tamper: func(t *testing.T, dir string) {
				if err := os.Chmod(hostFile(dir, "m2", etcdCA), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"hosts/m2/etc/kubernetes/pki/etcd/ca.crt: mode 0600, MANIFEST.json says 0644"},
		},
		{
			name: "extra files",
			tamper: func(t *testing.T, dir string) {
				if err := os.WriteFile(hostFile(dir, "m0", "/etc/extra.conf"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{
				"hosts/m0/etc/extra.conf: not listed in MANIFEST.json",
				"notes.txt: not listed in MANIFEST.json",
			},
		},
		{
			name: "a file deleted",
			tamper: func(t *testing.T, dir string) {
				if err := os.Remove(hostFile(dir, "w0", "/etc/kubernetes/kubeadm/kubeadm.yaml")); err != nil {
					t.Fatal(err)
				}
				if err := os.Remove(filepath.Join(dir, "RUNBOOK.md")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{
				"RUNBOOK.md: missing",
				"hosts/w0/etc/kubernetes/kubeadm/kubeadm.yaml: missing",
			},
		},
		{
			name: "leaf certificates swapped between hosts",
			tamper: func(t *testing.T, dir string) {
				a, b := hostFile(dir, "m0", serverCrt), hostFile(dir, "m1", serverCrt)
				da, db := read(t, a), read(t, b)
				overwrite(t, a, db)
				overwrite(t, b, da)
			},
			want: []string{
				"hosts/m0/etc/kubernetes/pki/etcd/server.crt: content differs",
				"hosts/m1/etc/kubernetes/pki/etcd/server.crt: content differs",
				"m0:/etc/kubernetes/pki/etcd/server.crt: SANs lack 10.0.0.10 (the member's address), m0 (its host name)",
				"m0:/etc/kubernetes/pki/etcd/server.key: does not match /etc/kubernetes/pki/etcd/server.crt",
				"m1:/etc/kubernetes/pki/etcd/server.crt: SANs lack 10.0.0.11 (the member's address), m1 (its host name)",
				"m1:/etc/kubernetes/pki/etcd/server.key: does not match /etc/kubernetes/pki/etcd/server.crt",
			},
		},
		{
			name: "an etcd server certificate without the member's address",
			tamper: func(t *testing.T, dir string) {
				crt := signLeaf(t, secrets, pki.EtcdCA, hostFile(dir, "m2", serverKey), memberTemplate("m2", "127.0.0.1"))
				overwrite(t, hostFile(dir, "m2", serverCrt), crt)
			},
			want: []string{
				"hosts/m2/etc/kubernetes/pki/etcd/server.crt: content differs",
				"m2:/etc/kubernetes/pki/etcd/server.crt: SANs lack 10.0.0.12 (the member's address)",
			},
		},
		{
			name: "an etcd server certificate only good for client auth",
			tamper: func(t *testing.T, dir string) {
				tmpl := memberTemplate("m2", "10.0.0.12", "127.0.0.1")
				tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
				crt := signLeaf(t, secrets, pki.EtcdCA, hostFile(dir, "m2", serverKey), tmpl)
				overwrite(t, hostFile(dir, "m2", serverCrt), crt)
			},
			want: []string{
				"hosts/m2/etc/kubernetes/pki/etcd/server.crt: content differs",
				"m2:/etc/kubernetes/pki/etcd/server.crt: does not verify against /etc/kubernetes/pki/etcd/ca.crt for server auth: ",
			},
		},
		{
			name: "an etcd client certificate signed by the cluster CA",
			tamper: func(t *testing.T, dir string) {
				tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "kube-apiserver-etcd-client"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
				crt := signLeaf(t, secrets, pki.ClusterCA, hostFile(dir, "m0", etcdClientKey), tmpl)
				overwrite(t, hostFile(dir, "m0", etcdClientCrt), crt)
			},
			want: []string{
				"hosts/m0/etc/kubernetes/pki/apiserver-etcd-client.crt: content differs",
				"m0:/etc/kubernetes/pki/apiserver-etcd-client.crt: does not verify against /etc/kubernetes/pki/etcd/ca.crt for client auth: ",
			},
		},
		{
			name: "a key that is not the certificate's",
			tamper: func(t *testing.T, dir string) {
				overwrite(t, hostFile(dir, "m0", etcdClientKey), read(t, hostFile(dir, "m1", etcdClientKey)))
			},
			want: []string{
				"hosts/m0/etc/kubernetes/pki/apiserver-etcd-client.key: content differs",
				"m0:/etc/kubernetes/pki/apiserver-etcd-client.key: does not match /etc/kubernetes/pki/apiserver-etcd-client.crt",
			},
		},
		{
			name: "a control-plane host with another CA",
			tamper: func(t *testing.T, dir string) {
				crt, key := selfSignedCA(t, "front-proxy-ca")
				overwrite(t, hostFile(dir, "m1", "/etc/kubernetes/pki/front-proxy-ca.crt"), crt)
				overwrite(t, hostFile(dir, "m1", "/etc/kubernetes/pki/front-proxy-ca.key"), key)
			},
			want: []string{
				"hosts/m1/etc/kubernetes/pki/front-proxy-ca.crt: content differs",
				"hosts/m1/etc/kubernetes/pki/front-proxy-ca.key: content differs",
				"m1:/etc/kubernetes/pki/front-proxy-ca.crt: differs from the copy on m0, m2",
				"m1:/etc/kubernetes/pki/front-proxy-ca.key: differs from the copy on m0, m2",
			},
		},
		{
			name: "a sa.key that does not match sa.pub",
			tamper: func(t *testing.T, dir string) {
				_, key := selfSignedCA(t, "x")
				for _, h := range []string{"m0", "m1", "m2"} {
					overwrite(t, hostFile(dir, h, "/etc/kubernetes/pki/sa.key"), key)
				}
			},
			want: []string{
				"hosts/m0/etc/kubernetes/pki/sa.key: content differs",
				"hosts/m1/etc/kubernetes/pki/sa.key: content differs",
				"hosts/m2/etc/kubernetes/pki/sa.key: content differs",
				"m0:/etc/kubernetes/pki/sa.key: does not match /etc/kubernetes/pki/sa.pub",
				"m1:/etc/kubernetes/pki/sa.key: does not match /etc/kubernetes/pki/sa.pub",
				"m2:/etc/kubernetes/pki/sa.key: does not match /etc/kubernetes/pki/sa.pub",
			},
		},
		{
			name: "MANIFEST.json does not parse",
			tamper: func(t *testing.T, dir string) {
				overwrite(t, filepath.Join(dir, bundle.ManifestName), []byte("{"))
			},
			want: []string{"MANIFEST.json: does not parse: "},
		},
		{
			name: "MANIFEST.json missing",
			tamper: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, bundle.ManifestName)); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"MANIFEST.json: missing: not a hagen bundle"},
		},
		{
			name: "MANIFEST.json points outside the host",
			tamper: func(t *testing.T, dir string) {
				editManifest(t, dir, func(m *bundle.Manifest) { m.Hosts["w0"].Files[0].Path = "/etc/../../../root/.ssh/id_rsa" })
			},
			want: []string{`MANIFEST.json: hosts.w0.files[0].path: "/etc/../../../root/.ssh/id_rsa" is not a clean absolute file path`},
		},
	}
	b, _ := baseBundle(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeBundle(t, b)
			if tc.tamper != nil {
				tc.tamper(t, dir)
			}
			findings, warnings, err := Verify(dir, day)
			if err != nil {
				t.Fatal(err)
			}
			match(t, "finding", findings, tc.want)
			match(t, "warning", warnings, tc.warnings)
		})
	}
}

// match checks that every want is a prefix of exactly one of got, and that
// nothing else was reported.
func match(t *testing.T, what string, got []Finding, want []string) {
	t.Helper()
	used := make([]bool, len(got))
	for _, w := range want {
		n := 0
		for i, g := range got {
			if strings.HasPrefix(g.String(), w) {
				used[i] = true
				n++
			}
		}
		if n != 1 {
			t.Errorf("want one %s starting %q, got %d", what, w, n)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected %s: %s", what, g)
		}
	}
}

func editManifest(t *testing.T, dir string, edit func(*bundle.Manifest)) {
	t.Helper()
	p := filepath.Join(dir, bundle.ManifestName)
	var m bundle.Manifest
	if err := json.Unmarshal(read(t, p), &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	data, err := bundle.MarshalManifest(&m)
	if err != nil {
		t.Fatal(err)
	}
	overwrite(t, p, data)
}

// leaves are the 12 leaf certificates of the base bundle: each member's
// etcd server, peer and healthcheck-client, each master's etcd client.
var leaves = func() []string {
	var out []string
	for _, h := range []string{"m0", "m1", "m2"} {
		for _, f := range []string{etcdClientCrt, "/etc/kubernetes/pki/etcd/healthcheck-client.crt", "/etc/kubernetes/pki/etcd/peer.crt", serverCrt} {
			out = append(out, h+":"+f)
		}
	}
	return out
}()

func TestVerifyExpiry(t *testing.T) {
	b, _ := baseBundle(t)
	dir := writeBundle(t, b)
	notAfter := t0.Add(certValidity)

	// Ten days before the leaves end: warnings only.
	findings, warnings, err := Verify(dir, notAfter.Add(-10*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range leaves {
		want = append(want, l+": expires on 2027-01-01 (in 10 days)")
	}
	match(t, "finding", findings, nil)
	match(t, "warning", warnings, want)

	// A day after: every leaf is expired, the CAs (ten years) are not.
	findings, warnings, err = Verify(dir, notAfter.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want = want[:0]
	for _, l := range leaves {
		want = append(want, l+": expired on 2027-01-01 00:00:00")
	}
	match(t, "finding", findings, want)
	match(t, "warning", warnings, nil)
}

// TestVerifyIssuedInThePast renders with a clock in the past and the
// shortest validity the compiler allows: the bundle is checked at the real
// time, as the CLI does.
func TestVerifyIssuedInThePast(t *testing.T) {
	spec := strings.Replace(baseSpec, `certValidity: "8760h"`, `certValidity: "1h"`, 1)
	res, err := compiler.Compile("spec.cue", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	issued, err := (&pki.Issuer{Now: func() time.Time { return past }}).Ensure(res.Plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := render.Render(res.Plan, issued.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	findings, _, err := Verify(writeBundle(t, b), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) != len(leaves) {
		t.Fatalf("want %d findings, got %d: %v", len(leaves), len(findings), findings)
	}
	for _, f := range findings {
		if !strings.Contains(f.What, "expired on ") {
			t.Errorf("unexpected finding: %s", f)
		}
	}
}

func TestVerifyExternalEtcd(t *testing.T) {
	spec := `name: "x"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
etcd: topology: "external"
pki: keyAlgorithm: "ECDSA-P256"
hosts: {
	m0: {address: "10.0.0.10", roles: ["control-plane"]}
	e0: {address: "10.0.0.30", roles: ["etcd"]}
	e1: {address: "fd00::31", roles: ["etcd"]}
	e2: {address: "10.0.0.32", roles: ["etcd"]}
}
`
	b, _ := build(t, spec, nil)
	dir := writeBundle(t, b)
	findings, warnings, err := Verify(dir, day)
	if err != nil || len(findings)+len(warnings) > 0 {
		t.Fatalf("a fresh bundle: err %v, findings %v, warnings %v", err, findings, warnings)
	}
	// The etcd CA key never goes to a host.
	editManifest(t, dir, func(m *bundle.Manifest) {
		h := m.Hosts["e0"]
		h.Files = append(h.Files, bundle.ManifestEntry{Path: "/etc/kubernetes/pki/etcd/ca.key", Mode: "0600", Owner: "root", SHA256: "0"})
		m.Hosts["e0"] = h
	})
	_, key := selfSignedCA(t, "x")
	if err := os.WriteFile(hostFile(dir, "e0", "/etc/kubernetes/pki/etcd/ca.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	findings, _, err = Verify(dir, day)
	if err != nil {
		t.Fatal(err)
	}
	match(t, "finding", findings, []string{
		"hosts/e0/etc/kubernetes/pki/etcd/ca.key: content differs",
		"e0:/etc/kubernetes/pki/etcd/ca.key: the etcd-ca key must not be on any host",
		"e0:/etc/kubernetes/pki/etcd/ca.key: does not match /etc/kubernetes/pki/etcd/ca.crt",
	})
}

func TestDiffIdentical(t *testing.T) {
	b, _ := baseBundle(t)
	r, err := Diff(writeBundle(t, b), writeBundle(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Empty() {
		t.Errorf("two writes of one bundle differ: %+v", r)
	}
	var out strings.Builder
	if err := r.Write(&out); err != nil || out.Len() > 0 {
		t.Errorf("an empty report printed %q (err %v)", out.String(), err)
	}
}

func diffText(t *testing.T, oldDir, newDir string) (*Report, string) {
	t.Helper()
	r, err := Diff(oldDir, newDir)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := r.Write(&out); err != nil {
		t.Fatal(err)
	}
	return r, out.String()
}

func TestDiffAddressChange(t *testing.T) {
	b, secrets := baseBundle(t)
	moved, _ := build(t, strings.Replace(baseSpec, "10.0.0.12/24", "10.0.0.13/24", 1), secrets)
	oldDir, newDir := writeBundle(t, b), writeBundle(t, moved)
	r, out := diffText(t, oldDir, newDir)

	var m2 *HostDiff
	for i := range r.Hosts {
		if r.Hosts[i].Name == "m2" {
			m2 = &r.Hosts[i]
		}
	}
	if m2 == nil {
		t.Fatalf("no changes for m2:\n%s", out)
	}
	if len(m2.Notes) != 1 || m2.Notes[0] != "address 10.0.0.12 -> 10.0.0.13" {
		t.Errorf("m2 notes = %q", m2.Notes)
	}
	for _, p := range []string{serverCrt, "/etc/kubernetes/pki/etcd/peer.crt"} {
		want := fmt.Sprintf("  ~ %s: content\n      SANs +10.0.0.13 -10.0.0.12\n", p)
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks\n%s\nin:\n%s", want, out)
		}
	}
	for _, want := range []string{
		"public key changed (new key pair)",
		"  ~ " + serverKey + ": content\n      new private key\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	// The healthcheck client cert names no address: it is kept.
	if strings.Contains(out, "healthcheck-client.crt:") {
		t.Errorf("the healthcheck client cert should not change:\n%s", out)
	}
	// Nothing secret is ever printed.
	for _, secret := range []string{secrets.KeepalivedAuthPass, secrets.BootstrapToken, "PRIVATE KEY"} {
		if strings.Contains(out, secret) {
			t.Errorf("the report prints a secret (%q):\n%s", secret, out)
		}
	}
	// Deterministic.
	if _, again := diffText(t, oldDir, newDir); again != out {
		t.Errorf("two diffs of the same bundles differ:\n%s\n---\n%s", out, again)
	}
	// And the re-rendered bundle verifies.
	if findings, _, err := Verify(newDir, day); err != nil || len(findings) > 0 {
		t.Errorf("the new bundle: err %v, findings %v", err, findings)
	}
}

func TestDiffHostAddedAndRemoved(t *testing.T) {
	b, secrets := baseBundle(t)
	grown, _ := build(t, strings.Replace(baseSpec, "\tw0:", "\tw1: {address: \"10.0.0.21\", roles: [\"worker\"]}\n\tw0:", 1), secrets)
	oldDir, newDir := writeBundle(t, b), writeBundle(t, grown)

	_, out := diffText(t, oldDir, newDir)
	if !strings.Contains(out, "host w1: added (worker, 10.0.0.21, ") {
		t.Errorf("no added host in:\n%s", out)
	}
	if !strings.Contains(out, "bundle files:\n  ~ RUNBOOK.md: content\n") {
		t.Errorf("RUNBOOK.md should change:\n%s", out)
	}
	_, out = diffText(t, newDir, oldDir)
	if !strings.Contains(out, "host w1: removed (worker, 10.0.0.21, ") {
		t.Errorf("no removed host in:\n%s", out)
	}
}

func TestDiffModeOwnerAndFiles(t *testing.T) {
	b, _ := baseBundle(t)
	oldDir, newDir := writeBundle(t, b), writeBundle(t, b)
	var oldMode string
	editManifest(t, newDir, func(m *bundle.Manifest) {
		h := m.Hosts["w0"]
		oldMode = h.Files[0].Mode
		h.Files[0].Mode = "0640"
		h.Files[0].Owner = "kube"
		h.Files = append(h.Files[:1:1], h.Files[2:]...)
		h.Files = append(h.Files, bundle.ManifestEntry{Path: "/usr/local/sbin/zz-new", Mode: "0755", Owner: "root", SHA256: "0"})
		m.Hosts["w0"] = h
	})
	r, out := diffText(t, oldDir, newDir)
	if len(r.Hosts) != 1 || r.Hosts[0].Name != "w0" {
		t.Fatalf("want changes on w0 only:\n%s", out)
	}
	files := r.Hosts[0].Files
	var kinds []string
	for _, f := range files {
		kinds = append(kinds, string(f.Change)+" "+strings.Join(f.What, ", "))
	}
	want := []string{"~ mode " + oldMode + " -> 0640, owner root -> kube", "- ", "+ "}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Errorf("w0 changes = %q, want %q\n%s", kinds, want, out)
	}
	if !strings.Contains(out, "  + /usr/local/sbin/zz-new (0755 root)\n") {
		t.Errorf("no added file line:\n%s", out)
	}
}

func TestDiffMissingManifest(t *testing.T) {
	b, _ := baseBundle(t)
	_, err := Diff(writeBundle(t, b), t.TempDir())
	if _, ok := err.(*ManifestError); !ok {
		t.Errorf("want a *ManifestError, got %v", err)
	}
}

func TestHunks(t *testing.T) {
	var a, b []string
	for i := range 40 {
		a = append(a, fmt.Sprintf("line %d", i))
		if i%4 != 1 {
			b = append(b, fmt.Sprintf("line %d", i))
		} else {
			b = append(b, fmt.Sprintf("LINE %d", i))
		}
	}
	// After line 3 (an unchanged one), before line 4 (likewise).
	b = append(b[:3:3], append([]string{"inserted"}, b[3:]...)...)
	got := hunks(lineDiff(a, b), MaxDiffLines)
	changed := 0
	for _, l := range got {
		if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") {
			changed++
		}
	}
	if changed != MaxDiffLines {
		t.Errorf("shown %d changed lines, want %d:\n%s", changed, MaxDiffLines, strings.Join(got, "\n"))
	}
	if last := got[len(got)-1]; last != "... 1 more changed line" {
		t.Errorf("last line %q", last)
	}
	if got[0] != "@@ -2 +2 @@" || got[1] != "-line 1" || got[2] != "+LINE 1" {
		t.Errorf("first hunk %q", got[:3])
	}
	if got[3] != "@@ -3,0 +4 @@" || got[4] != "+inserted" {
		t.Errorf("insertion hunk %q", got[3:5])
	}
}

// TestDiffKeyAlgorithm: diff names algorithms as the spec, render and certs
// do ("ECDSA-P384", not "ECDSA-384").
func TestDiffKeyAlgorithm(t *testing.T) {
	b, secrets := baseBundle(t)
	p384, _ := build(t, strings.Replace(baseSpec, `"ECDSA-P256"`, `"ECDSA-P384"`, 1), secrets)
	_, out := diffText(t, writeBundle(t, b), writeBundle(t, p384))
	if !strings.Contains(out, "key algorithm ECDSA-P256 -> ECDSA-P384") {
		t.Errorf("the report does not name the algorithms as the spec does:\n%s", out)
	}
}

// TestVerifyUserData: a host's cloud-init and Ignition user-data must lay
// exactly the host's files, and be as closed as the keys they carry.
func TestVerifyUserData(t *testing.T) {
	b, _ := buildWith(t, baseSpec, nil, render.Options{CloudInit: true, Ignition: true})
	conf := "/etc/keepalived/keepalived.conf"
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   []string
	}{
		{name: "clean bundle"},
		{
			name: "a host file changed, and MANIFEST.json with it",
			tamper: func(t *testing.T, dir string) {
				p := hostFile(dir, "m0", conf)
				data := append(read(t, p), "# edited\n"...)
				overwrite(t, p, data)
				sum := sha256.Sum256(data)
				editManifest(t, dir, func(m *bundle.Manifest) {
					for i, e := range m.Hosts["m0"].Files {
						if e.Path == conf {
							m.Hosts["m0"].Files[i].SHA256 = hex.EncodeToString(sum[:])
						}
					}
				})
			},
			want: []string{
				"cloud-init/m0.yaml: lays " + conf + " with other content than m0:" + conf,
				"ignition/m0.ign: lays " + conf + " with other content than m0:" + conf,
			},
		},
		{
			name: "user-data open to others",
			tamper: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "ignition", "m1.ign")
				if err := os.Chmod(p, 0o644); err != nil {
					t.Fatal(err)
				}
				editManifest(t, dir, func(m *bundle.Manifest) {
					for i, e := range m.Files {
						if e.Path == "ignition/m1.ign" {
							m.Files[i].Mode = "0644"
						}
					}
				})
			},
			want: []string{"ignition/m1.ign: listed with mode 0644: user-data holds the host's keys"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeBundle(t, b)
			if tc.tamper != nil {
				tc.tamper(t, dir)
			}
			findings, _, err := Verify(dir, t0)
			if err != nil {
				t.Fatal(err)
			}
			match(t, "finding", findings, tc.want)
		})
	}
}
