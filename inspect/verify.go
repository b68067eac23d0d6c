package inspect

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
)

// ExpiryWarning is how close to its end a certificate draws a warning.
const ExpiryWarning = 30 * 24 * time.Hour

// Verify re-checks the bundle in dir against its own MANIFEST.json and
// against what any hagen bundle must hold, at time now: every listed file
// present with its digest and mode, nothing unlisted, private keys closed to
// group and other, every certificate chained to its CA on the same host for
// the usages it serves, every key matching its certificate, the shared CA
// files identical on every host, etcd SANs covering each member, each
// host's user-data (cloud-init, Ignition) laying exactly its files, and
// nothing expired. Certificates ending within ExpiryWarning are warnings.
//
// A missing or broken MANIFEST.json is one finding: nothing else can be
// checked. err is an I/O failure, not a finding.
func Verify(dir string, now time.Time) (findings, warnings []Finding, err error) {
	l, err := load(dir)
	var me *ManifestError
	if errors.As(err, &me) {
		return []Finding{{Where: bundle.ManifestName, What: me.Msg}}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	v := &verifier{loaded: l, now: now, data: map[string][]byte{}}
	if err := v.files(); err != nil {
		return nil, nil, err
	}
	if err := v.extra(); err != nil {
		return nil, nil, err
	}
	for _, h := range l.hosts {
		v.pki(h)
	}
	v.shared()
	v.userData()
	return sortFindings(v.findings), sortFindings(v.warnings), nil
}

type verifier struct {
	*loaded
	now                time.Time
	data               map[string][]byte // bundle path -> bytes on disk, for files present
	findings, warnings []Finding
}

func (v *verifier) errorf(where, format string, args ...any) {
	v.findings = append(v.findings, Finding{Where: where, What: fmt.Sprintf(format, args...)})
}

func (v *verifier) warnf(where, format string, args ...any) {
	v.warnings = append(v.warnings, Finding{Where: where, What: fmt.Sprintf(format, args...)})
}

// isKey reports whether a path names a private key by kubeadm's naming.
func isKey(p string) bool { return strings.HasSuffix(p, pki.KeyExt) }

// files checks every listed file: present, regular, same digest, same mode,
// and, if secret, closed to group and other.
func (v *verifier) files() error {
	for _, e := range v.entries {
		p := diskPath(v.dir, e.Rel)
		info, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			v.errorf(e.Rel, "missing: MANIFEST.json lists it")
			continue
		}
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			v.errorf(e.Rel, "is a %s, not a regular file", kind(info.Mode()))
			continue
		}
		perm := info.Mode().Perm()
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrPermission) {
			v.errorf(e.Rel, "cannot be read (mode %04o, MANIFEST.json says %s)", perm, e.Mode)
			continue
		}
		if err != nil {
			return err
		}
		v.data[e.Rel] = data
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != e.SHA256 {
			v.errorf(e.Rel, "content differs from MANIFEST.json (sha256 %s, want %s)", short(got), short(e.SHA256))
		}
		secret := isKey(e.Path) || e.Perm&0o077 == 0
		switch {
		case secret && perm&0o077 != 0:
			what := "secret file"
			if isKey(e.Path) {
				what = "private key"
			}
			v.errorf(e.Rel, "%s readable by group or other: mode %04o, want %s", what, perm, e.Mode)
		case perm != e.Perm:
			v.errorf(e.Rel, "mode %04o, MANIFEST.json says %s", perm, e.Mode)
		}
		if isKey(e.Path) && e.Perm&0o077 != 0 {
			v.errorf(e.Rel, "private key listed with mode %s in MANIFEST.json: keys must be 0600", e.Mode)
		}
	}
	return nil
}

// extra reports anything in the tree MANIFEST.json does not list.
func (v *verifier) extra() error {
	return filepath.WalkDir(v.dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrPermission) {
			rel, _ := filepath.Rel(v.dir, p)
			v.errorf(filepath.ToSlash(rel), "cannot be read: %v", errors.Unwrap(err))
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(v.dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == bundle.ManifestName {
			return nil
		}
		if _, ok := v.byRel[rel]; !ok {
			v.errorf(rel, "not listed in MANIFEST.json")
		}
		return nil
	})
}

// certRule is what one PKI file of the certificate table must be.
type certRule struct {
	ca     string // the issuing CA's certificate path; "" for a CA itself
	caName string
	usages []x509.ExtKeyUsage
	keyOK  bool // for CAs: may the key be on a host
}

// rules maps every certificate path of pki's table to its rule.
func rules() map[string]certRule {
	caPath := map[string]string{}
	out := map[string]certRule{}
	for _, ca := range pki.CAs() {
		caPath[ca.Name] = ca.CertPath()
		out[ca.CertPath()] = certRule{caName: ca.Name, keyOK: ca.KeyOnHosts}
	}
	for _, c := range pki.Certs() {
		out[c.CertPath()] = certRule{ca: caPath[c.CA], caName: c.CA, usages: c.Usages}
	}
	return out
}

// Paths of the etcd member certificates whose SANs name the member.
var (
	etcdServer = pki.Cert(pki.EtcdServer).CertPath()
	etcdPeer   = pki.Cert(pki.EtcdPeer).CertPath()
	saKey      = pki.ServiceAccount().KeyPath()
	saPub      = pki.ServiceAccount().PubPath()
)

// pki checks host h's certificates and keys.
func (v *verifier) pki(h string) {
	table := rules()
	certs := map[string]*x509.Certificate{}
	var keys []entry
	for _, e := range v.byHost[h] {
		if !strings.HasPrefix(e.Path, pki.Dir+"/") {
			continue
		}
		data, ok := v.data[e.Rel]
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(e.Path, pki.CertExt):
			c, err := pki.ParseCert(string(data))
			if err != nil {
				v.errorf(e.where(), "not a certificate: %v", err)
				continue
			}
			certs[e.Path] = c
		case isKey(e.Path):
			keys = append(keys, e)
		}
	}
	paths := make([]string, 0, len(certs))
	for p := range certs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		c := certs[p]
		where := h + ":" + p
		v.expiry(where, c)
		rule, known := table[p]
		switch {
		case known && rule.ca == "":
			v.checkCA(where, c)
		case known:
			ca, ok := certs[rule.ca]
			if !ok {
				v.errorf(where, "cannot check its chain: the host has no %s (CA %s)", rule.ca, rule.caName)
				continue
			}
			for _, u := range rule.usages {
				if err := verifyChain(c, ca, u); err != nil {
					v.errorf(where, "does not verify against %s for %s: %v", rule.ca, usageName(u), err)
				}
			}
		default:
			v.checkUnknown(where, c, certs, table)
		}
	}
	if v.isMember(h) {
		addr, err := v.address(h)
		if err != nil {
			v.errorf(h, "address %q in MANIFEST.json: %v", v.m.Hosts[h].Address, err)
		}
		for _, p := range []string{etcdServer, etcdPeer} {
			if c, ok := certs[p]; ok {
				v.memberSANs(h+":"+p, c, h, addr, p == etcdServer)
			}
		}
	}
	for _, k := range keys {
		v.checkKey(h, k, certs, table)
	}
}

func (v *verifier) expiry(where string, c *x509.Certificate) {
	switch left := c.NotAfter.Sub(v.now); {
	case left <= 0:
		v.errorf(where, "expired on %s", c.NotAfter.UTC().Format(time.DateTime))
	case left < ExpiryWarning:
		v.warnf(where, "expires on %s (in %d days): re-render to renew it", c.NotAfter.UTC().Format(time.DateOnly), int(left.Hours()/24))
	}
	if v.now.Before(c.NotBefore) {
		v.warnf(where, "not valid before %s: hosts whose clocks read earlier reject it", c.NotBefore.UTC().Format(time.DateTime))
	}
}

// checkCA: a root hagen keeps is a self-signed CA allowed to sign.
func (v *verifier) checkCA(where string, c *x509.Certificate) {
	if !c.BasicConstraintsValid || !c.IsCA {
		v.errorf(where, "is not a CA certificate (basic constraints CA:FALSE or absent)")
		return
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		v.errorf(where, "CA certificate lacks the cert sign key usage")
	}
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		v.errorf(where, "CA is not self-signed: issued by %q", c.Issuer.String())
		return
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		v.errorf(where, "CA self-signature does not verify: %v", err)
	}
}

// checkUnknown chains a certificate the table does not name to any CA on
// the host.
func (v *verifier) checkUnknown(where string, c *x509.Certificate, certs map[string]*x509.Certificate, table map[string]certRule) {
	var cas []string
	for p, r := range table {
		if r.ca == "" && certs[p] != nil {
			cas = append(cas, p)
		}
	}
	sort.Strings(cas)
	if c.IsCA && bytes.Equal(c.RawIssuer, c.RawSubject) {
		v.checkCA(where, c)
		return
	}
	for _, p := range cas {
		if verifyChain(c, certs[p], x509.ExtKeyUsageAny) == nil {
			return
		}
	}
	v.errorf(where, "not issued by any CA on this host (%s)", strings.Join(cas, ", "))
}

// verifyChain verifies c against the single root ca for usage u. The time
// is c's own start, so that expiry is reported once, by expiry, and not
// again here as a broken chain.
func verifyChain(c, ca *x509.Certificate, u x509.ExtKeyUsage) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: c.NotBefore, KeyUsages: []x509.ExtKeyUsage{u}})
	return err
}

func usageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "server auth"
	case x509.ExtKeyUsageClientAuth:
		return "client auth"
	}
	return fmt.Sprintf("extended key usage %d", u)
}

// isMember: an etcd member is a host that holds an etcd server certificate.
func (v *verifier) isMember(h string) bool {
	_, ok := v.byRel["hosts/"+h+etcdServer]
	return ok
}

func (v *verifier) address(h string) (netip.Addr, error) {
	s := v.m.Hosts[h].Address
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr(), nil
	}
	return netip.ParseAddr(s)
}

// memberSANs: etcd clients and peers dial a member by its name and address
// (and, for the server, over loopback), so its certificate must name them.
func (v *verifier) memberSANs(where string, c *x509.Certificate, h string, addr netip.Addr, server bool) {
	var lack []string
	if addr.IsValid() && !hasIP(c, addr) {
		lack = append(lack, addr.String()+" (the member's address)")
	}
	if !slices.Contains(c.DNSNames, h) {
		lack = append(lack, h+" (its host name)")
	}
	if server {
		if !slices.Contains(c.DNSNames, "localhost") {
			lack = append(lack, "localhost")
		}
		if !hasIP(c, netip.MustParseAddr("127.0.0.1")) {
			lack = append(lack, "127.0.0.1")
		}
	}
	if len(lack) > 0 {
		v.errorf(where, "SANs lack %s", strings.Join(lack, ", "))
	}
}

func hasIP(c *x509.Certificate, a netip.Addr) bool {
	for _, ip := range c.IPAddresses {
		if b, ok := netip.AddrFromSlice(ip); ok && b.Unmap() == a.Unmap() {
			return true
		}
	}
	return false
}

// checkKey: a private key parses and belongs to its certificate (or, for
// the service-account key, to its public half); a CA key is only where the table allows it.
func (v *verifier) checkKey(h string, k entry, certs map[string]*x509.Certificate, table map[string]certRule) {
	where := h + ":" + k.Path
	key, err := pki.ParseKey(string(v.data[k.Rel]))
	if err != nil {
		v.errorf(where, "not a private key: %v", err)
		return
	}
	if k.Path == saKey {
		pubPEM, ok := v.data["hosts/"+h+saPub]
		if !ok {
			v.errorf(where, "the host has no %s to match it", saPub)
			return
		}
		pub, err := pki.ParsePublicKey(string(pubPEM))
		if err != nil {
			v.errorf(h+":"+saPub, "not a public key: %v", err)
			return
		}
		if !pki.SamePublicKey(key, pub) {
			v.errorf(where, "does not match %s", saPub)
		}
		return
	}
	crt := strings.TrimSuffix(k.Path, pki.KeyExt) + pki.CertExt
	if r, ok := table[crt]; ok && r.ca == "" && !r.keyOK {
		v.errorf(where, "the %s key must not be on any host: it stays in the secrets file", r.caName)
	}
	c, ok := certs[crt]
	if !ok {
		if _, listed := v.byRel["hosts/"+h+crt]; !listed {
			v.errorf(where, "the host has no %s to match it", crt)
		}
		return
	}
	if !pki.SamePublicKey(key, c.PublicKey) {
		v.errorf(where, "does not match %s", crt)
	}
}

// sharedPaths are the files every control-plane host must hold the same
// bytes of: the CAs (and the keys that go to hosts) and the
// service-account key pair. An apiserver with another CA or SA key splits
// the cluster.
func sharedPaths() []string {
	var out []string
	for _, ca := range pki.CAs() {
		out = append(out, ca.CertPath())
		if ca.KeyOnHosts {
			out = append(out, ca.KeyPath())
		}
	}
	out = append(out, saKey, saPub)
	sort.Strings(out)
	return out
}

// shared checks that every host holding a shared file holds the same bytes,
// and that no control-plane host lacks one the others have.
func (v *verifier) shared() {
	for _, p := range sharedPaths() {
		byContent := map[string][]string{}
		var cpLacking []string
		cpHolds := false
		for _, h := range v.hosts {
			_, listed := v.byRel["hosts/"+h+p]
			cp := slices.Contains(v.m.Hosts[h].Roles, string(model.RoleControlPlane))
			if cp && !listed {
				cpLacking = append(cpLacking, h)
			}
			cpHolds = cpHolds || (cp && listed)
			data, ok := v.data["hosts/"+h+p]
			if !ok {
				continue
			}
			byContent[string(data)] = append(byContent[string(data)], h)
		}
		if cpHolds {
			for _, h := range cpLacking {
				v.errorf(h+":"+p, "missing: the other control-plane hosts have it")
			}
		}
		if len(byContent) < 2 {
			continue
		}
		// The version most hosts hold is taken as right; ties go to the
		// first host by name.
		groups := make([][]string, 0, len(byContent))
		for _, hs := range byContent {
			groups = append(groups, hs)
		}
		sort.Slice(groups, func(i, j int) bool {
			if len(groups[i]) != len(groups[j]) {
				return len(groups[i]) > len(groups[j])
			}
			return groups[i][0] < groups[j][0]
		})
		for _, g := range groups[1:] {
			for _, h := range g {
				v.errorf(h+":"+p, "differs from the copy on %s: every host must hold the same file", strings.Join(groups[0], ", "))
			}
		}
	}
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

func sortFindings(list []Finding) []Finding {
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
	return slices.Compact(list)
}
