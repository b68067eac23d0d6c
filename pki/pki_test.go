package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	mathrand "math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
)

// t0 is the tests' "now": every clock is derived from it.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ---------------------------------------------------------------------------
// Spec builders.

type host struct {
	name, addr string
	roles      []string
}

func cp(name, addr string) host     { return host{name, addr, []string{"control-plane"}} }
func worker(name, addr string) host { return host{name, addr, []string{"worker"}} }
func etcdHost(name, addr string) host {
	return host{name, addr, []string{"etcd"}}
}

// cluster is a spec, written as CUE by src. Zero fields take the values a
// small test cluster wants.
type cluster struct {
	name         string
	k8s          string
	topology     string // stacked (default) or external
	alg          model.KeyAlgorithm
	caValidity   string
	certValidity string
	hosts        []host
}

func (c cluster) src() string {
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: %q\n", def(c.name, "test"))
	fmt.Fprintf(&b, "kubernetes: version: %q\n", def(c.k8s, "1.35.0"))
	b.WriteString("network: podSubnet: \"10.244.0.0/16\"\n")
	b.WriteString("controlPlane: loadBalancer: external: endpoint: \"lb.example.com:6443\"\n")
	fmt.Fprintf(&b, "etcd: topology: %q\n", def(c.topology, "stacked"))
	fmt.Fprintf(&b, "pki: {keyAlgorithm: %q, caValidity: %q, certValidity: %q}\n",
		def(string(c.alg), string(model.ECDSAP256)), def(c.caValidity, "87600h"), def(c.certValidity, "8760h"))
	b.WriteString("hosts: {\n")
	for _, h := range c.hosts {
		fmt.Fprintf(&b, "\t%q: {address: %q, roles: [%q]}\n", h.name, h.addr, strings.Join(h.roles, `", "`))
	}
	b.WriteString("}\n")
	return b.String()
}

// with returns a copy of c whose hosts are hs.
func (c cluster) with(hs ...host) cluster {
	c.hosts = hs
	return c
}

var planCache sync.Map // spec source -> *model.Plan; plans are read-only here

func (c cluster) plan(t testing.TB) *model.Plan {
	t.Helper()
	return compilePlan(t, "spec.cue", []byte(c.src()))
}

func compilePlan(t testing.TB, filename string, src []byte) *model.Plan {
	t.Helper()
	if p, ok := planCache.Load(string(src)); ok {
		return p.(*model.Plan)
	}
	res, err := compiler.Compile(filename, src)
	if err != nil {
		t.Fatalf("compiling spec:\n%s\n%v", src, err)
	}
	planCache.Store(string(src), res.Plan)
	return res.Plan
}

// oneMaster is the smallest cluster: one stacked master, one worker.
func oneMaster(alg model.KeyAlgorithm) cluster {
	return cluster{alg: alg, hosts: []host{cp("master0", "10.0.0.10"), worker("worker0", "10.0.0.20")}}
}

// threeMasters is the stacked HA layout: three masters, three workers.
func threeMasters(alg model.KeyAlgorithm) cluster {
	return cluster{alg: alg, hosts: []host{
		cp("master0", "10.0.0.10"), cp("master1", "10.0.0.11"), cp("master2", "10.0.0.12"),
		worker("worker0", "10.0.0.20"), worker("worker1", "10.0.0.21"), worker("worker2", "10.0.0.22"),
	}}
}

// externalEtcd: three masters, three dedicated etcd hosts, two workers.
func externalEtcd() cluster {
	return cluster{topology: "external", hosts: []host{
		cp("master0", "10.0.0.10"), cp("master1", "10.0.0.11"), cp("master2", "10.0.0.12"),
		etcdHost("etcd0", "10.0.1.10"), etcdHost("etcd1", "10.0.1.11"), etcdHost("etcd2", "10.0.1.12"),
		worker("worker0", "10.0.0.20"), worker("worker1", "10.0.0.21"),
	}}
}

// ---------------------------------------------------------------------------
// Issuing helpers.

func clock(at time.Time) func() time.Time { return func() time.Time { return at } }

// issuer is a deterministic issuer at time now: fixed clock, seeded token
// randomness, one worker (so the global crypto/rand stream, when a test
// seeds it, is consumed in a fixed order).
func issuer(now time.Time) *pki.Issuer {
	return &pki.Issuer{Now: clock(now), Rand: seeded(1), Workers: 1}
}

func seeded(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return mathrand.NewChaCha8(s)
}

func ensure(t testing.TB, is *pki.Issuer, p *model.Plan, old *pki.Secrets) *pki.Result {
	t.Helper()
	res, err := is.Ensure(p, old)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return res
}

func marshal(t testing.TB, s *pki.Secrets) []byte {
	t.Helper()
	b, err := s.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return b
}

// roundTrip is what a second render sees: the secrets as written and read
// back.
func roundTrip(t testing.TB, s *pki.Secrets) *pki.Secrets {
	t.Helper()
	back, err := pki.ParseSecrets("secrets.yaml", marshal(t, s))
	if err != nil {
		t.Fatalf("ParseSecrets of freshly marshalled secrets: %v", err)
	}
	return back
}

// fresh issues p's secrets from scratch at t0, memoised per spec: most tests
// start from the same cluster and only the issuing is slow.
var freshCache sync.Map

func fresh(t testing.TB, p *model.Plan) *pki.Secrets {
	t.Helper()
	if b, ok := freshCache.Load(p); ok {
		return parse(t, b.([]byte))
	}
	is := issuer(t0)
	is.Workers = 0 // speed: determinism is not what these tests check
	s := ensure(t, is, p, nil).Secrets
	b := marshal(t, s)
	freshCache.Store(p, b)
	return parse(t, b)
}

func parse(t testing.TB, b []byte) *pki.Secrets {
	t.Helper()
	s, err := pki.ParseSecrets("secrets.yaml", b)
	if err != nil {
		t.Fatalf("ParseSecrets: %v", err)
	}
	return s
}

// ---------------------------------------------------------------------------
// Checking a whole PKI against the table.

func mustCert(t testing.TB, what, s string) *x509.Certificate {
	t.Helper()
	c, err := pki.ParseCert(s)
	if err != nil {
		t.Fatalf("%s: cert: %v", what, err)
	}
	return c
}

func mustKey(t testing.TB, what, s string) crypto.Signer {
	t.Helper()
	k, err := pki.ParseKey(s)
	if err != nil {
		t.Fatalf("%s: key: %v", what, err)
	}
	return k
}

// checkAlg checks a public key's type and size against the spec's
// spelling, independently of pki's own algorithmOf.
func checkAlg(t testing.TB, what string, pub crypto.PublicKey, alg model.KeyAlgorithm) {
	t.Helper()
	var got string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		got = fmt.Sprintf("RSA-%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			got = "ECDSA-P256"
		case elliptic.P384():
			got = "ECDSA-P384"
		default:
			got = "ECDSA-" + k.Curve.Params().Name
		}
	default:
		got = fmt.Sprintf("%T", pub)
	}
	if got != string(alg) {
		t.Errorf("%s: key algorithm %s, want %s", what, got, alg)
	}
}

func keyMatches(t testing.TB, what string, key crypto.Signer, pub crypto.PublicKey) {
	t.Helper()
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := key.Public().(equaler); !ok || !e.Equal(pub) {
		t.Errorf("%s: the private key does not belong to the certificate", what)
	}
}

// leafExpect is what kubeadm's code expects of each leaf, written out here
// rather than taken from the table, so the table itself is under test.
type leafExpect struct {
	cn       func(h *model.Host) string
	mastersO bool // O=system:masters before Kubernetes 1.29
	sans     bool // the etcd member SANs
	server   bool // serverAuth and clientAuth, else clientAuth only
}

var expectLeaves = map[string]leafExpect{
	"etcd-server":             {cn: func(h *model.Host) string { return h.Name }, sans: true, server: true},
	"etcd-peer":               {cn: func(h *model.Host) string { return h.Name }, sans: true, server: true},
	"etcd-healthcheck-client": {cn: func(*model.Host) string { return "kube-etcd-healthcheck-client" }, mastersO: true},
	"apiserver-etcd-client":   {cn: func(*model.Host) string { return "kube-apiserver-etcd-client" }, mastersO: true},
}

var expectCACN = map[string]string{pki.ClusterCA: "kubernetes", pki.FrontProxyCA: "front-proxy-ca", pki.EtcdCA: "etcd-ca"}

// wantLeafSet lists host/cert for every leaf the table gives p.
func wantLeafSet(p *model.Plan) []string {
	var out []string
	for _, spec := range pki.Certs() {
		for _, h := range spec.HostsOf(p) {
			out = append(out, h.Name+"/"+spec.Name)
		}
	}
	slices.Sort(out)
	return out
}

func haveLeafSet(s *pki.Secrets) []string {
	var out []string
	for h, m := range s.Leaves {
		for name := range m {
			out = append(out, h+"/"+name)
		}
	}
	slices.Sort(out)
	return out
}

// checkPKI checks every CA and leaf of s against the table and plan p, as
// seen at time now. It holds for secrets issued at any time (leaves reused
// from an earlier issuing included); fresh-issue timing is checked by
// checkIssuedAt.
func checkPKI(t testing.TB, p *model.Plan, s *pki.Secrets, now time.Time) {
	t.Helper()
	if s.Cluster != p.Name || s.Version != pki.FormatVersion {
		t.Errorf("cluster %q version %d, want %q %d", s.Cluster, s.Version, p.Name, pki.FormatVersion)
	}
	// CAs.
	if len(s.CAs) != len(pki.CAs()) {
		t.Errorf("%d CAs, want %d", len(s.CAs), len(pki.CAs()))
	}
	cas := map[string]*x509.Certificate{}
	for _, spec := range pki.CAs() {
		what := "CA " + spec.Name
		kp, ok := s.CAs[spec.Name]
		if !ok {
			t.Fatalf("%s missing", what)
		}
		cert, key := mustCert(t, what, kp.Cert), mustKey(t, what, kp.Key)
		cas[spec.Name] = cert
		keyMatches(t, what, key, cert.PublicKey)
		checkAlg(t, what, cert.PublicKey, p.PKI.KeyAlgorithm)
		if cert.Subject.CommonName != expectCACN[spec.Name] || spec.CN != expectCACN[spec.Name] {
			t.Errorf("%s: CN %q (table %q), want %q", what, cert.Subject.CommonName, spec.CN, expectCACN[spec.Name])
		}
		if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("%s: not a CA (IsCA %v, key usage %b)", what, cert.IsCA, cert.KeyUsage)
		}
		roots := x509.NewCertPool()
		roots.AddCert(cert)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s: does not verify as its own root: %v", what, err)
		}
	}
	// Service account key.
	saKey := mustKey(t, "serviceAccount", s.ServiceAccount.Key)
	saPub, err := pki.ParsePublicKey(s.ServiceAccount.Pub)
	if err != nil {
		t.Fatalf("serviceAccount.pub: %v", err)
	}
	keyMatches(t, "serviceAccount", saKey, saPub)

	// Leaves: exactly the table's, none on workers.
	if want, have := wantLeafSet(p), haveLeafSet(s); !slices.Equal(want, have) {
		t.Errorf("leaves:\n have %v\n want %v", have, want)
	}
	for _, h := range p.Hosts {
		if len(h.Roles) == 1 && h.Has(model.RoleWorker) {
			if _, ok := s.Leaves[h.Name]; ok {
				t.Errorf("worker %s has leaves %v", h.Name, s.Leaves[h.Name])
			}
		}
	}
	preO := !p.Kubernetes.Version.AtLeast(1, 29)
	for _, spec := range pki.Certs() {
		exp, ok := expectLeaves[spec.Name]
		if !ok {
			t.Errorf("the table has %s, which the tests do not know", spec.Name)
			continue
		}
		ca := cas[spec.CA]
		if ca == nil {
			t.Fatalf("%s names CA %q, which CAs() lacks", spec.Name, spec.CA)
		}
		if spec.CA != pki.EtcdCA {
			t.Errorf("%s: CA %s, want %s", spec.Name, spec.CA, pki.EtcdCA)
		}
		for _, h := range spec.HostsOf(p) {
			what := "leaves." + h.Name + "." + spec.Name
			kp, ok := s.Leaf(h.Name, spec.Name)
			if !ok {
				t.Errorf("%s missing", what)
				continue
			}
			cert, key := mustCert(t, what, kp.Cert), mustKey(t, what, kp.Key)
			keyMatches(t, what, key, cert.PublicKey)
			checkAlg(t, what, cert.PublicKey, p.PKI.KeyAlgorithm)

			// Subject.
			if got, want := cert.Subject.CommonName, exp.cn(h); got != want || spec.CN(h) != want {
				t.Errorf("%s: CN %q (table %q), want %q", what, got, spec.CN(h), want)
			}
			var wantO []string
			if exp.mastersO && preO {
				wantO = []string{"system:masters"}
			}
			if !slices.Equal(cert.Subject.Organization, wantO) || !slices.Equal(spec.O(p), wantO) {
				t.Errorf("%s: O %q (table %q), want %q", what, cert.Subject.Organization, spec.O(p), wantO)
			}

			// SANs, against the literal list and against the table.
			var wantDNS []string
			var wantIPs []netip.Addr
			if exp.sans {
				wantDNS = []string{h.Name, "localhost"}
				wantIPs = []netip.Addr{h.Address, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
			}
			tbl := spec.SANs(p, h)
			if !sameStrings(cert.DNSNames, wantDNS) || !sameStrings(tbl.DNS, wantDNS) {
				t.Errorf("%s: DNS SANs %q (table %q), want %q", what, cert.DNSNames, tbl.DNS, wantDNS)
			}
			if got := certIPs(cert); !sameStrings(got, addrStrings(wantIPs)) || !sameStrings(addrStrings(tbl.IPs), addrStrings(wantIPs)) {
				t.Errorf("%s: IP SANs %q (table %q), want %q", what, got, tbl.IPs, wantIPs)
			}
			if len(cert.EmailAddresses)+len(cert.URIs) > 0 {
				t.Errorf("%s: unexpected email/URI SANs %v %v", what, cert.EmailAddresses, cert.URIs)
			}

			// Usages.
			wantEKU := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			if exp.server {
				wantEKU = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
			}
			if !sameEKU(cert.ExtKeyUsage, wantEKU) || !sameEKU(spec.Usages, wantEKU) {
				t.Errorf("%s: ext key usages %v (table %v), want %v", what, cert.ExtKeyUsage, spec.Usages, wantEKU)
			}
			if cert.IsCA {
				t.Errorf("%s: a leaf is a CA", what)
			}
			if cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 || cert.KeyUsage&x509.KeyUsageCertSign != 0 {
				t.Errorf("%s: key usage %b", what, cert.KeyUsage)
			}

			// Chain, for each usage separately: a server cert must work
			// as either end of a TLS connection.
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			verify := func(u x509.ExtKeyUsage) error {
				_, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{u}})
				return err
			}
			if err := verify(x509.ExtKeyUsageClientAuth); err != nil {
				t.Errorf("%s: does not verify for client auth against %s: %v", what, spec.CA, err)
			}
			if err := verify(x509.ExtKeyUsageServerAuth); exp.server && err != nil {
				t.Errorf("%s: does not verify for server auth against %s: %v", what, spec.CA, err)
			} else if !exp.server && err == nil {
				t.Errorf("%s: a client cert verifies for server auth", what)
			}
			if exp.server {
				for _, name := range append(slices.Clone(wantDNS), addrStrings(wantIPs)...) {
					if err := cert.VerifyHostname(name); err != nil {
						t.Errorf("%s: %v", what, err)
					}
				}
			}
			for _, other := range pki.CAs() {
				if other.Name == spec.CA {
					continue
				}
				pool := x509.NewCertPool()
				pool.AddCert(cas[other.Name])
				if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
					t.Errorf("%s: verifies against the wrong CA %s", what, other.Name)
				}
			}

			// Validity: certValidity (plus the backdating) unless the CA
			// ends sooner, and never beyond the CA.
			if cert.NotAfter.After(ca.NotAfter) {
				t.Errorf("%s: NotAfter %s is beyond its CA's %s", what, cert.NotAfter, ca.NotAfter)
			}
			life := cert.NotAfter.Sub(cert.NotBefore)
			if capped := cert.NotAfter.Equal(ca.NotAfter); !capped && life != p.PKI.CertValidity+pki.Backdate {
				t.Errorf("%s: lifetime %s, want certValidity %s + backdate %s", what, life, p.PKI.CertValidity, pki.Backdate)
			} else if capped && life > p.PKI.CertValidity+pki.Backdate {
				t.Errorf("%s: capped lifetime %s exceeds certValidity %s + backdate", what, life, p.PKI.CertValidity)
			}

			// pki's own judgement agrees: nothing to re-issue.
			if why, err := pki.WantFor(p, spec, h, now).Mismatch(kp, ca, now); err != nil || len(why) > 0 {
				t.Errorf("%s: Mismatch on a correct leaf = %q, %v", what, why, err)
			}
		}
	}
}

// checkIssuedAt checks that every CA and leaf of s was issued at now with
// the spec's validity (no cap expected).
func checkIssuedAt(t testing.TB, p *model.Plan, s *pki.Secrets, now time.Time) {
	t.Helper()
	for name, kp := range s.CAs {
		c := mustCert(t, name, kp.Cert)
		if !c.NotBefore.Equal(now.Add(-pki.Backdate)) || !c.NotAfter.Equal(now.Add(p.PKI.CAValidity)) {
			t.Errorf("CA %s: valid %s to %s, want %s to %s", name, c.NotBefore, c.NotAfter, now.Add(-pki.Backdate), now.Add(p.PKI.CAValidity))
		}
		if d := c.NotAfter.Sub(c.NotBefore); d != p.PKI.CAValidity+pki.Backdate {
			t.Errorf("CA %s: lifetime %s, want %s", name, d, p.PKI.CAValidity+pki.Backdate)
		}
	}
	for h, m := range s.Leaves {
		for name, kp := range m {
			c := mustCert(t, h+"/"+name, kp.Cert)
			if !c.NotBefore.Equal(now.Add(-pki.Backdate)) || !c.NotAfter.Equal(now.Add(p.PKI.CertValidity)) {
				t.Errorf("%s/%s: valid %s to %s, want %s to %s", h, name, c.NotBefore, c.NotAfter, now.Add(-pki.Backdate), now.Add(p.PKI.CertValidity))
			}
		}
	}
}

func certIPs(c *x509.Certificate) []string {
	var out []string
	for _, ip := range c.IPAddresses {
		a, _ := netip.AddrFromSlice(ip)
		out = append(out, a.Unmap().String())
	}
	return out
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func sameEKU(a, b []x509.ExtKeyUsage) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// ---------------------------------------------------------------------------
// The table.

func TestTable(t *testing.T) {
	cas := map[string]pki.CASpec{}
	for _, ca := range pki.CAs() {
		if _, dup := cas[ca.Name]; dup {
			t.Errorf("CA %s listed twice", ca.Name)
		}
		cas[ca.Name] = ca
		if want := expectCACN[ca.Name]; ca.CN != want {
			t.Errorf("CA %s: CN %q, want %q", ca.Name, ca.CN, want)
		}
	}
	if len(cas) != 3 {
		t.Errorf("%d CAs, want 3", len(cas))
	}
	// The etcd CA key stays in the secrets file; the other two go to the
	// control planes (kubeadm signs the apiserver, kubelet and front-proxy
	// client certs on the node).
	for name, want := range map[string]bool{pki.ClusterCA: true, pki.FrontProxyCA: true, pki.EtcdCA: false} {
		if got := cas[name].KeyOnHosts; got != want {
			t.Errorf("CA %s: KeyOnHosts %v, want %v", name, got, want)
		}
	}
	seen := map[string]bool{}
	for _, c := range pki.Certs() {
		if seen[c.Name] {
			t.Errorf("cert %s listed twice", c.Name)
		}
		seen[c.Name] = true
		if _, ok := cas[c.CA]; !ok {
			t.Errorf("cert %s: CA %q is not in CAs()", c.Name, c.CA)
		}
		if _, ok := expectLeaves[c.Name]; !ok {
			t.Errorf("cert %s: not expected", c.Name)
		}
		if c.File == "" || c.Restart == "" || c.CN == nil || c.O == nil || c.SANs == nil || c.HostsOf == nil || len(c.Usages) == 0 {
			t.Errorf("cert %s: incomplete entry %+v", c.Name, c)
		}
	}
	for name := range expectLeaves {
		if !seen[name] {
			t.Errorf("cert %s missing from the table", name)
		}
	}
}

// TestCertsNotShared: Certs() promises a fresh table per call "so no caller
// can change another's view". Checked without writing to it: a write would
// corrupt the table for every other test in the process.
func TestCertsNotShared(t *testing.T) {
	a, b := pki.Certs(), pki.Certs()
	for i := range a {
		if len(a[i].Usages) > 0 && &a[i].Usages[0] == &b[i].Usages[0] {
			t.Errorf("Certs()[%d] (%s): Usages share a backing array between calls: a caller's edit changes every later issue", i, a[i].Name)
		}
	}
}

// TestRenewWithin pins the renewal window: 30 days, or a third of a short
// validity.
func TestRenewWithin(t *testing.T) {
	for _, c := range []struct{ valid, want time.Duration }{
		{8760 * time.Hour, 30 * 24 * time.Hour},
		{90 * 24 * time.Hour, 30 * 24 * time.Hour},
		{30 * 24 * time.Hour, 10 * 24 * time.Hour},
		{3 * time.Hour, time.Hour},
	} {
		if got := pki.RenewWithin(c.valid); got != c.want {
			t.Errorf("RenewWithin(%s) = %s, want %s", c.valid, got, c.want)
		}
	}
}

// ---------------------------------------------------------------------------
// Issuing.

// TestIssueAlgorithms issues a one-master PKI with each key algorithm and
// checks every CA, leaf and the service-account key.
func TestIssueAlgorithms(t *testing.T) {
	for _, alg := range []model.KeyAlgorithm{model.RSA2048, model.RSA3072, model.RSA4096, model.ECDSAP256, model.ECDSAP384} {
		t.Run(string(alg), func(t *testing.T) {
			if testing.Short() && (alg == model.RSA3072 || alg == model.RSA4096) {
				t.Skip("-short: RSA-3072/4096 key generation takes seconds")
			}
			t.Parallel()
			p := oneMaster(alg).plan(t)
			is := issuer(t0)
			is.Workers = 0 // RSA-4096 keygen is slow: use every CPU
			res := ensure(t, is, p, nil)
			s := res.Secrets
			if len(res.Reissued)+len(res.Warnings) > 0 {
				t.Errorf("fresh issue: reissued %v, warnings %v", res.Reissued, res.Warnings)
			}
			checkPKI(t, p, s, t0)
			checkIssuedAt(t, p, s, t0)
			checkAlg(t, "serviceAccount", mustKey(t, "serviceAccount", s.ServiceAccount.Key).Public(), alg)
			if len(s.Leaves["master0"]) != 4 {
				t.Errorf("master0 has %d leaves, want 4", len(s.Leaves["master0"]))
			}
		})
	}
}

// TestIssueStacked checks the stacked HA cluster: every master gets its own
// etcd server/peer/healthcheck and apiserver-etcd-client, with its own SANs.
func TestIssueStacked(t *testing.T) {
	p := threeMasters(model.ECDSAP256).plan(t)
	s := fresh(t, p)
	checkPKI(t, p, s, t0)
	checkIssuedAt(t, p, s, t0)
	if got := len(haveLeafSet(s)); got != 12 {
		t.Errorf("%d leaves, want 12 (4 on each of 3 masters)", got)
	}
	// "A shared template once gave host1 host0's SANs": every host's
	// etcd certs are its own, and no two leaves share a key.
	keys := map[string]string{}
	for h, m := range s.Leaves {
		for name, kp := range m {
			if prev, dup := keys[kp.Key]; dup {
				t.Errorf("%s/%s and %s share a key", h, name, prev)
			}
			keys[kp.Key] = h + "/" + name
		}
	}
}

// TestIssueExternalEtcd: etcd hosts get the etcd member certs, masters only
// the apiserver's etcd client cert, workers nothing.
func TestIssueExternalEtcd(t *testing.T) {
	p := externalEtcd().plan(t)
	s := fresh(t, p)
	checkPKI(t, p, s, t0)
	for _, m := range []string{"master0", "master1", "master2"} {
		if got := slices.Sorted(maps.Keys(s.Leaves[m])); !slices.Equal(got, []string{"apiserver-etcd-client"}) {
			t.Errorf("%s leaves %v, want [apiserver-etcd-client]", m, got)
		}
	}
	for _, e := range []string{"etcd0", "etcd1", "etcd2"} {
		if got := slices.Sorted(maps.Keys(s.Leaves[e])); !slices.Equal(got, []string{"etcd-healthcheck-client", "etcd-peer", "etcd-server"}) {
			t.Errorf("%s leaves %v", e, got)
		}
	}
}

// TestOrganizationByVersion: kubeadm put the etcd client certs in
// system:masters until 1.29.
func TestOrganizationByVersion(t *testing.T) {
	for _, c := range []struct {
		k8s     string
		masters bool
		alg     model.KeyAlgorithm
	}{
		{"1.28.9", true, model.ECDSAP256},
		{"1.29.0", false, model.ECDSAP256},
		{"1.10.13", true, model.RSA2048}, // kubeadm 1.10 loads only RSA keys
	} {
		t.Run(c.k8s, func(t *testing.T) {
			spec := oneMaster(c.alg)
			spec.k8s = c.k8s
			p := spec.plan(t)
			s := fresh(t, p)
			checkPKI(t, p, s, t0) // checks O for every leaf
			for _, name := range []string{"apiserver-etcd-client", "etcd-healthcheck-client"} {
				kp, _ := s.Leaf("master0", name)
				o := mustCert(t, name, kp.Cert).Subject.Organization
				if has := slices.Equal(o, []string{"system:masters"}); has != c.masters {
					t.Errorf("%s on %s: O %q, want system:masters %v", name, c.k8s, o, c.masters)
				}
			}
		})
	}
}

// TestLeafCappedByCA: a leaf issued when its CA has less than certValidity
// left ends with the CA, and is kept (not re-issued each render) for it.
func TestLeafCappedByCA(t *testing.T) {
	spec := oneMaster(model.ECDSAP256)
	spec.caValidity, spec.certValidity = "1000h", "900h"
	p := spec.plan(t)
	s := ensure(t, issuer(t0), p, nil).Secrets
	checkPKI(t, p, s, t0)
	checkIssuedAt(t, p, s, t0) // 900h < 1000h: no cap yet

	// 200h later the CA has 800h left; add a master (1 -> 3: etcd wants an
	// odd count): its leaves must end with the CA, 100h short.
	later := t0.Add(200 * time.Hour)
	grown := spec.with(cp("master0", "10.0.0.10"), cp("master1", "10.0.0.11"), cp("master2", "10.0.0.12"), worker("worker0", "10.0.0.20")).plan(t)
	res := ensure(t, issuer(later), grown, roundTrip(t, s))
	if len(res.Reissued) != 0 {
		t.Errorf("reissued %v", res.Reissued)
	}
	if !hasWarning(res.Warnings, "CA ca expires") || !hasWarning(res.Warnings, "CA etcd-ca expires") {
		t.Errorf("warnings %q, want one per CA expiring within certValidity", res.Warnings)
	}
	checkPKI(t, grown, res.Secrets, later)
	etcdCA := mustCert(t, "etcd-ca", res.Secrets.CAs[pki.EtcdCA].Cert)
	for _, h := range []string{"master1", "master2"} {
		for name, kp := range res.Secrets.Leaves[h] {
			c := mustCert(t, h+"/"+name, kp.Cert)
			if !c.NotAfter.Equal(etcdCA.NotAfter) {
				t.Errorf("%s/%s: NotAfter %s, want capped to the CA's %s", h, name, c.NotAfter, etcdCA.NotAfter)
			}
			if got, want := c.NotAfter.Sub(c.NotBefore), 800*time.Hour+pki.Backdate; got != want {
				t.Errorf("%s/%s: lifetime %s, want %s", h, name, got, want)
			}
		}
	}
	// master0's leaves, issued uncapped, are kept.
	for name, kp := range s.Leaves["master0"] {
		if res.Secrets.Leaves["master0"][name] != kp {
			t.Errorf("master0/%s changed", name)
		}
	}

	// A capped leaf is not "validity changed" on the next render.
	again := ensure(t, issuer(later.Add(time.Hour)), grown, roundTrip(t, res.Secrets))
	if len(again.Reissued) != 0 {
		t.Errorf("second render re-issued capped leaves: %v", again.Reissued)
	}
	if !bytes.Equal(marshal(t, again.Secrets), marshal(t, res.Secrets)) {
		t.Errorf("second render changed the secrets")
	}
}

func hasWarning(ws []string, sub string) bool {
	for _, w := range ws {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Determinism.

// TestDeterministic: with the clock, the token randomness and crypto/rand
// all fixed, and one worker, two issuings from scratch are byte-identical.
// Not parallel: SetGlobalRandom is process-wide.
func TestDeterministic(t *testing.T) {
	for _, alg := range []model.KeyAlgorithm{model.ECDSAP256, model.RSA2048} {
		t.Run(string(alg), func(t *testing.T) {
			spec := threeMasters(alg)
			if alg == model.RSA2048 {
				spec = oneMaster(alg) // fewer slow keys
			}
			p := spec.plan(t)
			issue := func(seed uint64) []byte {
				cryptotest.SetGlobalRandom(t, seed)
				is := &pki.Issuer{Now: clock(t0), Rand: seeded(seed), Workers: 1}
				return marshal(t, ensure(t, is, p, nil).Secrets)
			}
			a, b := issue(7), issue(7)
			if !bytes.Equal(a, b) {
				t.Fatalf("same seed, different secrets:\n%s", firstDiff(a, b))
			}
			if c := issue(8); bytes.Equal(a, c) {
				t.Errorf("different seeds gave the same secrets: the seed is not used")
			}
		})
	}
}

// TestStable: a second Ensure on the secrets it wrote changes nothing,
// whether it gets the Secrets value or the file's bytes back.
func TestStable(t *testing.T) {
	p := threeMasters(model.ECDSAP256).plan(t)
	res := ensure(t, issuer(t0), p, nil)
	first := marshal(t, res.Secrets)
	for _, old := range []*pki.Secrets{res.Secrets, parse(t, first)} {
		// A day later, with a different token source: nothing is drawn.
		is := &pki.Issuer{Now: clock(t0.Add(24 * time.Hour)), Rand: seeded(99), Workers: 0}
		again := ensure(t, is, p, old)
		if len(again.Reissued)+len(again.Warnings) > 0 {
			t.Errorf("second Ensure: reissued %v, warnings %v", again.Reissued, again.Warnings)
		}
		if second := marshal(t, again.Secrets); !bytes.Equal(first, second) {
			t.Errorf("second Ensure changed the secrets:\n%s", firstDiff(first, second))
		}
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(al), len(bl))
}

// ---------------------------------------------------------------------------
// Re-issuing: only what changed.

type change struct{ host, cert string }

// compare reports every difference between before and after: CAs, the
// service-account key, tokens, and leaves; leaves listed in changed must
// differ, every other leaf present in both must be byte-equal.
func compare(t *testing.T, before, after *pki.Secrets, changed ...change) {
	t.Helper()
	for name, kp := range before.CAs {
		if after.CAs[name] != kp {
			t.Errorf("CA %s changed", name)
		}
	}
	if before.ServiceAccount != after.ServiceAccount {
		t.Errorf("service-account key changed")
	}
	if before.BootstrapToken != after.BootstrapToken || before.KeepalivedAuthPass != after.KeepalivedAuthPass {
		t.Errorf("token or auth pass changed")
	}
	want := map[change]bool{}
	for _, c := range changed {
		want[c] = true
	}
	for h, m := range before.Leaves {
		for name, kp := range m {
			now, ok := after.Leaf(h, name)
			if !ok {
				continue
			}
			if diff := now != kp; diff != want[change{h, name}] {
				t.Errorf("%s/%s: changed %v, want %v", h, name, diff, want[change{h, name}])
			}
			if want[change{h, name}] && now.Key == kp.Key {
				t.Errorf("%s/%s: re-issued with the old key", h, name)
			}
		}
	}
}

func reissued(r *pki.Result) []change {
	var out []change
	for _, x := range r.Reissued {
		out = append(out, change{x.Host, x.Cert})
	}
	slices.SortFunc(out, func(a, b change) int { return strings.Compare(a.host+"/"+a.cert, b.host+"/"+b.cert) })
	return out
}

func allLeaves(s *pki.Secrets) []change {
	var out []change
	for h, m := range s.Leaves {
		for name := range m {
			out = append(out, change{h, name})
		}
	}
	slices.SortFunc(out, func(a, b change) int { return strings.Compare(a.host+"/"+a.cert, b.host+"/"+b.cert) })
	return out
}

func TestAddWorker(t *testing.T) {
	spec := threeMasters(model.ECDSAP256)
	before := fresh(t, spec.plan(t))
	grown := spec.with(append(slices.Clone(spec.hosts), worker("worker3", "10.0.0.23"))...).plan(t)
	res := ensure(t, issuer(t0.Add(time.Hour)), grown, before)
	if len(res.Reissued) != 0 {
		t.Errorf("reissued %v", res.Reissued)
	}
	compare(t, before, res.Secrets)
	if !bytes.Equal(marshal(t, before), marshal(t, res.Secrets)) {
		t.Errorf("adding a worker changed the secrets file")
	}
	checkPKI(t, grown, res.Secrets, t0.Add(time.Hour))
}

// TestAddControlPlaneStacked: growing a stacked cluster from 3 to 5
// masters (etcd wants an odd count) issues the new masters' four leaves
// and nothing else.
func TestAddControlPlaneStacked(t *testing.T) {
	spec := threeMasters(model.ECDSAP256)
	before := fresh(t, spec.plan(t))
	grown := spec.with(append(slices.Clone(spec.hosts), cp("master3", "10.0.0.13"), cp("master4", "10.0.0.14"))...).plan(t)
	later := t0.Add(time.Hour)
	res := ensure(t, issuer(later), grown, before)
	if len(res.Reissued) != 0 {
		t.Errorf("reissued %v", res.Reissued)
	}
	compare(t, before, res.Secrets)
	var added []string
	for _, l := range haveLeafSet(res.Secrets) {
		if !slices.Contains(haveLeafSet(before), l) {
			added = append(added, l)
		}
	}
	wantAdded := []string{
		"master3/apiserver-etcd-client", "master3/etcd-healthcheck-client", "master3/etcd-peer", "master3/etcd-server",
		"master4/apiserver-etcd-client", "master4/etcd-healthcheck-client", "master4/etcd-peer", "master4/etcd-server",
	}
	if !slices.Equal(added, wantAdded) {
		t.Errorf("added leaves %v, want %v", added, wantAdded)
	}
	checkPKI(t, grown, res.Secrets, later)
	for _, l := range added {
		h, name, _ := strings.Cut(l, "/")
		kp, _ := res.Secrets.Leaf(h, name)
		if c := mustCert(t, l, kp.Cert); !c.NotBefore.Equal(later.Add(-pki.Backdate)) {
			t.Errorf("%s: NotBefore %s, want issued at %s", l, c.NotBefore, later)
		}
	}
}

// TestAddControlPlaneExternal: a fourth master with external etcd gets its
// apiserver-etcd-client; the etcd members' certs stay.
func TestAddControlPlaneExternal(t *testing.T) {
	spec := externalEtcd()
	before := fresh(t, spec.plan(t))
	grown := spec.with(append(slices.Clone(spec.hosts), cp("master3", "10.0.0.13"))...).plan(t)
	res := ensure(t, issuer(t0.Add(time.Hour)), grown, before)
	if len(res.Reissued) != 0 {
		t.Errorf("reissued %v", res.Reissued)
	}
	compare(t, before, res.Secrets)
	if got := slices.Sorted(maps.Keys(res.Secrets.Leaves["master3"])); !slices.Equal(got, []string{"apiserver-etcd-client"}) {
		t.Errorf("master3 leaves %v", got)
	}
	if got, want := len(haveLeafSet(res.Secrets)), len(haveLeafSet(before))+1; got != want {
		t.Errorf("%d leaves, want %d", got, want)
	}
	checkPKI(t, grown, res.Secrets, t0.Add(time.Hour))
}

// TestChangeAddress: a member's new address changes its etcd server and
// peer SANs; only those two certs are re-issued.
func TestChangeAddress(t *testing.T) {
	spec := threeMasters(model.ECDSAP256)
	before := fresh(t, spec.plan(t))
	hs := slices.Clone(spec.hosts)
	hs[1] = cp("master1", "10.0.0.111")
	moved := spec.with(hs...).plan(t)
	res := ensure(t, issuer(t0.Add(time.Hour)), moved, before)
	want := []change{{"master1", "etcd-peer"}, {"master1", "etcd-server"}}
	if got := reissued(res); !slices.Equal(got, want) {
		t.Fatalf("reissued %v, want %v", got, want)
	}
	for _, r := range res.Reissued {
		if !strings.Contains(r.Reason, "SANs changed") || !strings.Contains(r.Reason, "+10.0.0.111") || !strings.Contains(r.Reason, "-10.0.0.11") {
			t.Errorf("%s/%s: reason %q, want the SAN change", r.Host, r.Cert, r.Reason)
		}
		if r.Restart != "etcd" {
			t.Errorf("%s/%s: restart %q, want etcd", r.Host, r.Cert, r.Restart)
		}
	}
	compare(t, before, res.Secrets, want...)
	checkPKI(t, moved, res.Secrets, t0.Add(time.Hour))
}

// TestChangeKeyAlgorithm: new leaves with the new algorithm, same CAs.
func TestChangeKeyAlgorithm(t *testing.T) {
	spec := oneMaster(model.ECDSAP256)
	before := fresh(t, spec.plan(t))
	spec.alg = model.ECDSAP384
	p := spec.plan(t)
	res := ensure(t, issuer(t0.Add(time.Hour)), p, before)
	if got, want := reissued(res), allLeaves(before); !slices.Equal(got, want) {
		t.Errorf("reissued %v, want every leaf %v", got, want)
	}
	for _, r := range res.Reissued {
		if !strings.Contains(r.Reason, "key algorithm ECDSA-P256, want ECDSA-P384") {
			t.Errorf("%s/%s: reason %q", r.Host, r.Cert, r.Reason)
		}
	}
	compare(t, before, res.Secrets, allLeaves(before)...)
	for h, m := range res.Secrets.Leaves {
		for name, kp := range m {
			checkAlg(t, h+"/"+name, mustCert(t, name, kp.Cert).PublicKey, model.ECDSAP384)
		}
	}
	// The CAs (and the SA key) keep the algorithm they were made with.
	for name, kp := range res.Secrets.CAs {
		checkAlg(t, "CA "+name, mustCert(t, name, kp.Cert).PublicKey, model.ECDSAP256)
	}
	if again := ensure(t, issuer(t0.Add(2*time.Hour)), p, roundTrip(t, res.Secrets)); len(again.Reissued) != 0 {
		t.Errorf("re-issued again: %v", again.Reissued)
	}
}

// TestChangeCertValidity: a new certValidity re-issues every leaf.
func TestChangeCertValidity(t *testing.T) {
	spec := oneMaster(model.ECDSAP256)
	before := fresh(t, spec.plan(t))
	spec.certValidity = "4380h"
	p := spec.plan(t)
	later := t0.Add(time.Hour)
	res := ensure(t, issuer(later), p, before)
	if got, want := reissued(res), allLeaves(before); !slices.Equal(got, want) {
		t.Errorf("reissued %v, want every leaf %v", got, want)
	}
	for _, r := range res.Reissued {
		if !strings.Contains(r.Reason, "validity 8760h0m0s, want 4380h0m0s") {
			t.Errorf("%s/%s: reason %q", r.Host, r.Cert, r.Reason)
		}
	}
	compare(t, before, res.Secrets, allLeaves(before)...)
	checkPKI(t, p, res.Secrets, later)
}

// TestRenewal: a leaf is kept until it enters the renewal window, then
// re-issued with an "expires" reason; an expired leaf says "expired".
func TestRenewal(t *testing.T) {
	spec := oneMaster(model.ECDSAP256)
	p := spec.plan(t)
	before := fresh(t, p)
	end := t0.Add(p.PKI.CertValidity)
	window := pki.RenewWithin(p.PKI.CertValidity)

	outside := ensure(t, issuer(end.Add(-window-time.Second)), p, before)
	if len(outside.Reissued) != 0 {
		t.Errorf("re-issued before the renewal window: %v", outside.Reissued)
	}
	compare(t, before, outside.Secrets)

	for _, c := range []struct {
		name   string
		now    time.Time
		reason string
	}{
		{"window", end.Add(-window + time.Hour), "within the renewal window"},
		{"expired", end.Add(time.Hour), "expired on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := ensure(t, issuer(c.now), p, before)
			if got, want := reissued(res), allLeaves(before); !slices.Equal(got, want) {
				t.Errorf("reissued %v, want every leaf %v", got, want)
			}
			for _, r := range res.Reissued {
				if !strings.Contains(r.Reason, "expire") || !strings.Contains(r.Reason, c.reason) {
					t.Errorf("%s/%s: reason %q, want %q", r.Host, r.Cert, r.Reason, c.reason)
				}
			}
			compare(t, before, res.Secrets, allLeaves(before)...)
			checkPKI(t, p, res.Secrets, c.now)
			checkLeavesIssuedAt(t, p, res.Secrets, c.now)
		})
	}
}

func checkLeavesIssuedAt(t *testing.T, p *model.Plan, s *pki.Secrets, now time.Time) {
	t.Helper()
	for h, m := range s.Leaves {
		for name, kp := range m {
			c := mustCert(t, name, kp.Cert)
			if !c.NotBefore.Equal(now.Add(-pki.Backdate)) || !c.NotAfter.Equal(now.Add(p.PKI.CertValidity)) {
				t.Errorf("%s/%s: valid %s to %s, want from %s for %s", h, name, c.NotBefore, c.NotAfter, now, p.PKI.CertValidity)
			}
		}
	}
}

// TestCAExpiry: a CA with less than certValidity left warns; an expired CA
// is an error, never a silent regeneration.
func TestCAExpiry(t *testing.T) {
	spec := oneMaster(model.ECDSAP256)
	spec.caValidity, spec.certValidity = "10000h", "2000h"
	p := spec.plan(t)
	s := ensure(t, issuer(t0), p, nil).Secrets

	ok := ensure(t, issuer(t0.Add(7000*time.Hour)), p, s) // 3000h left
	if len(ok.Warnings) != 0 {
		t.Errorf("warnings with 3000h left of the CA: %q", ok.Warnings)
	}

	soon := t0.Add(8500 * time.Hour) // 1500h left < certValidity
	res := ensure(t, issuer(soon), p, s)
	for _, ca := range pki.CAs() {
		if !hasWarning(res.Warnings, "CA "+ca.Name+" expires on "+t0.Add(10000*time.Hour).Format(time.DateOnly)) {
			t.Errorf("no warning for CA %s: %q", ca.Name, res.Warnings)
		}
	}
	compare(t, s, res.Secrets, allLeaves(s)...) // the leaves were expired: re-issued, CAs kept
	checkPKI(t, p, res.Secrets, soon)

	_, err := issuer(t0.Add(10000*time.Hour+time.Second)).Ensure(p, s)
	var se *pki.SecretsError
	if !errors.As(err, &se) {
		t.Fatalf("expired CA: err %v (%T), want *pki.SecretsError", err, err)
	}
	if se.Entry != "cas.ca" || !strings.Contains(se.Msg, "expired") {
		t.Errorf("expired CA: %v, want entry cas.ca and \"expired\"", se)
	}
}
