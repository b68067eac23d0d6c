// Package pki issues and keeps a cluster's certificate authorities, keys and
// certificates. It is hagen's only random, stateful step: everything it
// makes lives in the secrets file, and it re-issues a leaf only when the
// spec asks for a different one or it nears expiry. A CA is never replaced.
package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/parallel"
)

func init() { cflog.Level = cflog.LevelFatal } // cfssl logs every signature otherwise

// Backdate is how far before "now" certificates become valid, so that a
// host whose clock lags a little still accepts them.
const Backdate = 5 * time.Minute

// Issuer creates and renews secrets. The zero value uses the real clock and
// crypto/rand; tests inject both.
type Issuer struct {
	Now  func() time.Time
	Rand io.Reader // tokens and passwords; key generation uses crypto/rand
	// Workers bounds parallel key generation; 0 means one per CPU.
	Workers int
}

// Reissue records a leaf that existed and was replaced, and why.
type Reissue struct {
	Host, Cert string
	Reason     string
	Restart    string // what to restart on Host afterwards
}

// Result is the outcome of Ensure.
type Result struct {
	Secrets  *Secrets
	Reissued []Reissue
	Warnings []string
	// Changed: Secrets differ from the old ones (something was issued,
	// generated or dropped), so the secrets file must be written.
	Changed bool
}

type caMaterial struct {
	cert   *x509.Certificate
	keyPEM string
	key    crypto.Signer // parsed on first use, see signer
}

func (is *Issuer) now() time.Time {
	if is.Now != nil {
		return is.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

func (is *Issuer) rand() io.Reader {
	if is.Rand != nil {
		return is.Rand
	}
	return rand.Reader
}

// Ensure returns secrets that satisfy plan p, reusing old (nil for a new
// cluster) wherever it still fits.
func (is *Issuer) Ensure(p *model.Plan, old *Secrets) (*Result, error) {
	now := is.now()
	if old != nil && old.Cluster != p.Name {
		return nil, &SecretsError{Entry: "cluster", Msg: fmt.Sprintf("the secrets belong to cluster %q, the spec is cluster %q", old.Cluster, p.Name)}
	}
	if old != nil && old.checked != old.digest() {
		// Whoever built old, nothing unsound is reused.
		if err := old.check(""); err != nil {
			return nil, err
		}
	}
	s := &Secrets{Version: FormatVersion, Cluster: p.Name, CAs: map[string]KeyPair{}, Leaves: map[string]map[string]KeyPair{}}
	res := &Result{Secrets: s}
	if old != nil {
		s.ServiceAccount = old.ServiceAccount
		s.KeepalivedAuthPass = old.KeepalivedAuthPass
		s.BootstrapToken = old.BootstrapToken
	}

	// Which CAs to make (only for a new cluster: a CA is never replaced)
	// and which leaves to issue.
	cas := map[string]*caMaterial{}
	var newCAs []CASpec
	for _, spec := range CAs() {
		if old == nil {
			newCAs = append(newCAs, spec)
			continue
		}
		kp, ok := old.CAs[spec.Name]
		if !ok {
			return nil, fmt.Errorf("secrets: CA %s is missing", spec.Name)
		}
		m, err := parseCA(kp)
		if err != nil {
			return nil, fmt.Errorf("secrets: CA %s: %w", spec.Name, err)
		}
		cas[spec.Name], s.CAs[spec.Name] = m, kp
		if err := checkCAExpiry(spec, m.cert, now, p.PKI, res); err != nil {
			return nil, err
		}
	}
	var issue []Want
	for _, spec := range Certs() {
		for _, h := range spec.HostsOf(p) {
			want := WantFor(p, spec, h, now)
			if old != nil {
				if prev, ok := old.Leaves[h.Name][spec.Name]; ok {
					reasons, err := want.Mismatch(prev, cas[spec.CA].cert, now)
					if err != nil {
						return nil, fmt.Errorf("secrets: leaves.%s.%s: %w", h.Name, spec.Name, err)
					}
					if len(reasons) == 0 {
						s.setLeaf(h.Name, spec.Name, prev)
						continue
					}
					res.Reissued = append(res.Reissued, Reissue{Host: h.Name, Cert: spec.Name, Reason: strings.Join(reasons, "; "), Restart: spec.Restart})
				}
			}
			issue = append(issue, want)
		}
	}

	// Every new key at once, on every core: key generation is nearly all
	// the cost (RSA-2048 ~40 ms a key, signing ~1 ms), and keys do not
	// depend on the CAs that will sign them.
	needSA := s.ServiceAccount.Key == ""
	keys := make([]crypto.Signer, len(newCAs)+len(issue)+1)
	var jobs []func() error
	gen := func(i int, alg model.KeyAlgorithm) {
		jobs = append(jobs, func() error {
			k, err := generateKey(alg)
			keys[i] = k
			return err
		})
	}
	for i := range newCAs {
		gen(i, p.PKI.KeyAlgorithm)
	}
	for i, w := range issue {
		gen(len(newCAs)+i, w.Alg)
	}
	if needSA {
		gen(len(keys)-1, p.PKI.KeyAlgorithm)
	}
	if err := parallel.Within(is.Workers, len(jobs), func(i int) error { return jobs[i]() }); err != nil {
		return nil, err
	}

	for i, spec := range newCAs {
		kp, err := newCA(spec, keys[i], p.PKI, now)
		if err != nil {
			return nil, fmt.Errorf("issuing CA %s: %w", spec.Name, err)
		}
		m, err := parseCA(kp)
		if err != nil {
			return nil, err
		}
		cas[spec.Name], s.CAs[spec.Name] = m, kp
	}
	if needSA {
		sa, err := serviceAccountKey(keys[len(keys)-1])
		if err != nil {
			return nil, err
		}
		s.ServiceAccount = sa
	}
	for i, w := range issue {
		kp, err := issueLeaf(w, keys[len(newCAs)+i], cas[w.Spec.CA], now)
		if err != nil {
			return nil, fmt.Errorf("issuing %s for %s: %w", w.Spec.Name, w.Host.Name, err)
		}
		s.setLeaf(w.Host.Name, w.Spec.Name, kp)
	}

	kept, had := 0, 0
	for _, leaves := range s.Leaves {
		kept += len(leaves)
	}
	if old != nil {
		for _, leaves := range old.Leaves {
			had += len(leaves)
		}
	}
	res.Changed = old == nil || needSA || len(issue) > 0 || kept-len(issue) != had ||
		s.KeepalivedAuthPass == "" || s.BootstrapToken == ""

	if s.KeepalivedAuthPass == "" {
		pass, err := randomString(is.rand(), alnum, 8)
		if err != nil {
			return nil, err
		}
		s.KeepalivedAuthPass = pass
	}
	if s.BootstrapToken == "" {
		id, err := randomString(is.rand(), lowerAlnum, 6)
		if err != nil {
			return nil, err
		}
		secret, err := randomString(is.rand(), lowerAlnum, 16)
		if err != nil {
			return nil, err
		}
		s.BootstrapToken = id + "." + secret
	}
	if len(s.Leaves) == 0 {
		s.Leaves = nil
	}
	// The membership is remembered for the next render (a file from
	// before format 2 has none, and gains it now).
	s.History = p.History()
	if old == nil || !reflect.DeepEqual(old.History, s.History) {
		res.Changed = true
	}
	return res, nil
}

func (s *Secrets) setLeaf(host, name string, kp KeyPair) {
	if s.Leaves[host] == nil {
		s.Leaves[host] = map[string]KeyPair{}
	}
	s.Leaves[host][name] = kp
}

// Leaf returns host's certificate name, if the secrets hold one.
func (s *Secrets) Leaf(host, name string) (KeyPair, bool) {
	kp, ok := s.Leaves[host][name]
	return kp, ok
}

// caWarnWithin is how long before a CA's expiry every render warns (or
// sooner, when certificates are shorter-lived than that).
const caWarnWithin = 180 * 24 * time.Hour

func checkCAExpiry(spec CASpec, cert *x509.Certificate, now time.Time, p model.PKI, res *Result) error {
	left := cert.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return &SecretsError{Entry: "cas." + spec.Name, Msg: fmt.Sprintf("the CA expired on %s: every certificate it signed is invalid. Rotating a CA is a manual, planned operation; hagen will not do it silently", cert.NotAfter.Format(time.DateOnly))}
	case left < min(p.CertValidity, caWarnWithin):
		res.Warnings = append(res.Warnings, fmt.Sprintf("CA %s expires on %s (in %d days): certificates issued now end with it. Plan a CA rotation now", spec.Name, cert.NotAfter.Format(time.DateOnly), int(left.Hours()/24)))
	}
	return nil
}

// caProfile and leaf profiles in cfssl's terms.
func signingPolicy(validity time.Duration, usages []x509.ExtKeyUsage, isCA bool) *config.Signing {
	prof := &config.SigningProfile{Expiry: validity, ExpiryString: validity.String()}
	if isCA {
		prof.Usage = []string{"digital signature", "key encipherment", "cert sign"}
		prof.CAConstraint = config.CAConstraint{IsCA: true}
	} else {
		prof.Usage = []string{"digital signature", "key encipherment"}
		for _, u := range usages {
			switch u {
			case x509.ExtKeyUsageServerAuth:
				prof.Usage = append(prof.Usage, "server auth")
			case x509.ExtKeyUsageClientAuth:
				prof.Usage = append(prof.Usage, "client auth")
			}
		}
	}
	return &config.Signing{Default: prof}
}

func newCA(spec CASpec, key crypto.Signer, p model.PKI, now time.Time) (KeyPair, error) {
	req, err := csr.Generate(key, &csr.CertificateRequest{CN: spec.CN})
	if err != nil {
		return KeyPair{}, err
	}
	sg, err := local.NewSigner(key, nil, signer.DefaultSigAlgo(key), signingPolicy(p.CAValidity, nil, true))
	if err != nil {
		return KeyPair{}, err
	}
	certPEM, err := sg.Sign(signer.SignRequest{Request: string(req), NotBefore: now.Add(-Backdate), NotAfter: now.Add(p.CAValidity)})
	if err != nil {
		return KeyPair{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Cert: string(certPEM), Key: keyPEM}, nil
}

func parseCA(kp KeyPair) (*caMaterial, error) {
	cert, err := ParseCert(kp.Cert)
	if err != nil {
		return nil, fmt.Errorf("cert: %w", err)
	}
	if err := keyMatches(kp.Key, cert.PublicKey); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("the certificate is not a CA")
	}
	return &caMaterial{cert: cert, keyPEM: kp.Key}, nil
}

// signer parses the CA's key when it first has to sign: a re-render that
// issues nothing never needs it.
func (m *caMaterial) signer() (crypto.Signer, error) {
	if m.key == nil {
		k, err := ParseKey(m.keyPEM)
		if err != nil {
			return nil, err
		}
		m.key = k
	}
	return m.key, nil
}

// parseLeaf checks a leaf: its certificate parses, its key is sound and
// belongs to it, and (with ca) the CA signed it.
func parseLeaf(kp KeyPair, ca *caMaterial) (*x509.Certificate, error) {
	cert, err := ParseCert(kp.Cert)
	if err != nil {
		return nil, fmt.Errorf("cert: %w", err)
	}
	if err := keyMatches(kp.Key, cert.PublicKey); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if ca != nil {
		if err := cert.CheckSignatureFrom(ca.cert); err != nil {
			return nil, fmt.Errorf("not signed by its CA: %v", err)
		}
	}
	return cert, nil
}

func parseServiceAccount(sa ServiceAccountKey) error {
	pub, err := ParsePublicKey(sa.Pub)
	if err != nil {
		return fmt.Errorf("pub: %w", err)
	}
	if err := keyMatches(sa.Key, pub); errors.Is(err, errKeyMismatch) {
		return fmt.Errorf("pub is not the public half of key")
	} else if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	return nil
}

func serviceAccountKey(key crypto.Signer) (ServiceAccountKey, error) {
	k, err := encodeKey(key)
	if err != nil {
		return ServiceAccountKey{}, err
	}
	pub, err := encodePublicKey(key.Public())
	return ServiceAccountKey{Key: k, Pub: pub}, err
}

// Want is the certificate the spec asks for on one host.
type Want struct {
	Spec  CertSpec
	Host  *model.Host
	CN    string
	O     []string
	SANs  SANs
	Alg   model.KeyAlgorithm
	Valid time.Duration
}

// WantFor computes what spec's certificate for host h must contain.
func WantFor(p *model.Plan, spec CertSpec, h *model.Host, now time.Time) Want {
	return Want{Spec: spec, Host: h, CN: spec.CN(h), O: spec.O(p), SANs: spec.SANs(p, h), Alg: p.PKI.KeyAlgorithm, Valid: p.PKI.CertValidity}
}

// RenewWithin is how close to expiry a leaf is re-issued: 30 days, or a
// third of its validity for short-lived certificates.
func RenewWithin(validity time.Duration) time.Duration {
	return min(30*24*time.Hour, validity/3)
}

// Mismatch lists why an existing leaf no longer fits, or nothing if it does.
func (w Want) Mismatch(kp KeyPair, ca *x509.Certificate, now time.Time) ([]string, error) {
	// Ensure has proved old sound (its keys and chains) before asking:
	// here only what the spec wants of the certificate matters.
	cert, err := ParseCert(kp.Cert)
	if err != nil {
		return nil, fmt.Errorf("cert: %w", err)
	}
	var why []string
	if cert.Subject.CommonName != w.CN {
		why = append(why, fmt.Sprintf("CN %q, want %q", cert.Subject.CommonName, w.CN))
	}
	if !slices.Equal(sortedCopy(cert.Subject.Organization), sortedCopy(w.O)) {
		why = append(why, fmt.Sprintf("O %v, want %v", cert.Subject.Organization, w.O))
	}
	if d := diffSANs(cert, w.SANs); d != "" {
		why = append(why, "SANs changed: "+d)
	}
	if !slices.Equal(cert.ExtKeyUsage, w.Spec.Usages) {
		why = append(why, "usages changed")
	}
	if alg := AlgorithmOf(cert.PublicKey); alg != w.Alg {
		why = append(why, fmt.Sprintf("key algorithm %s, want %s", alg, w.Alg))
	}
	lifetime := cert.NotAfter.Sub(cert.NotBefore) - Backdate
	cappedByCA := cert.NotAfter.Equal(ca.NotAfter) && lifetime < w.Valid
	if lifetime != w.Valid && !cappedByCA {
		why = append(why, fmt.Sprintf("validity %s, want %s", lifetime, w.Valid))
	}
	if left := cert.NotAfter.Sub(now); left < RenewWithin(w.Valid) {
		if left <= 0 {
			why = append(why, "expired on "+cert.NotAfter.Format(time.DateOnly))
		} else {
			why = append(why, fmt.Sprintf("expires on %s, within the renewal window", cert.NotAfter.Format(time.DateOnly)))
		}
	}
	return why, nil
}

func diffSANs(cert *x509.Certificate, want SANs) string {
	have := map[string]bool{}
	for _, d := range cert.DNSNames {
		have[d] = true
	}
	for _, ip := range cert.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			have[a.Unmap().String()] = true
		}
	}
	wanted := map[string]bool{}
	for _, d := range want.DNS {
		wanted[d] = true
	}
	for _, a := range want.IPs {
		wanted[a.String()] = true
	}
	var diff []string
	for _, k := range sortedKeys(wanted) {
		if !have[k] {
			diff = append(diff, "+"+k)
		}
	}
	for _, k := range sortedKeys(have) {
		if !wanted[k] {
			diff = append(diff, "-"+k)
		}
	}
	return strings.Join(diff, " ")
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func issueLeaf(w Want, key crypto.Signer, ca *caMaterial, now time.Time) (KeyPair, error) {
	req := &csr.CertificateRequest{CN: w.CN}
	for _, o := range w.O {
		req.Names = append(req.Names, csr.Name{O: o})
	}
	csrPEM, err := csr.Generate(key, req)
	if err != nil {
		return KeyPair{}, err
	}
	var hosts []string
	hosts = append(hosts, w.SANs.DNS...)
	for _, ip := range w.SANs.IPs {
		hosts = append(hosts, ip.String())
	}
	notAfter := now.Add(w.Valid)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter // a leaf never outlives its CA
	}
	caKey, err := ca.signer()
	if err != nil {
		return KeyPair{}, err
	}
	sg, err := local.NewSigner(caKey, ca.cert, signer.DefaultSigAlgo(caKey), signingPolicy(w.Valid, w.Spec.Usages, false))
	if err != nil {
		return KeyPair{}, err
	}
	if hosts == nil {
		hosts = []string{} // no SANs, rather than the CSR's
	}
	certPEM, err := sg.Sign(signer.SignRequest{Request: string(csrPEM), Hosts: hosts, NotBefore: now.Add(-Backdate), NotAfter: notAfter})
	if err != nil {
		return KeyPair{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Cert: string(certPEM), Key: keyPEM}, nil
}

const (
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// randomString draws n characters uniformly from alphabet.
func randomString(r io.Reader, alphabet string, n int) (string, error) {
	out := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range out {
		k, err := rand.Int(r, max)
		if err != nil {
			return "", err
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out), nil
}
