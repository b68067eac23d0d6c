package conformance

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler/model"
)

const pkiDir = "/etc/kubernetes/pki"

// certRole is what the suite expects of one certificate file below pkiDir.
type certRole struct {
	ca       string   // the CA file it must chain to (itself for a CA)
	purposes []string // openssl -purpose values it must pass
	isCA     bool
}

// certRoles are the certificates hagen places, by path below pkiDir.
var certRoles = map[string]certRole{
	"ca.crt":                      {ca: "ca.crt", isCA: true},
	"front-proxy-ca.crt":          {ca: "front-proxy-ca.crt", isCA: true},
	"etcd/ca.crt":                 {ca: "etcd/ca.crt", isCA: true},
	"etcd/server.crt":             {ca: "etcd/ca.crt", purposes: []string{"sslserver", "sslclient"}},
	"etcd/peer.crt":               {ca: "etcd/ca.crt", purposes: []string{"sslserver", "sslclient"}},
	"etcd/healthcheck-client.crt": {ca: "etcd/ca.crt", purposes: []string{"sslclient"}},
	"apiserver-etcd-client.crt":   {ca: "etcd/ca.crt", purposes: []string{"sslclient"}},
}

// checkCert: openssl verifies cert against caFile (strict X.509, each of
// purposes) and finds it unexpired.
func checkCert(openssl, caFile, cert string, purposes []string) error {
	runs := [][]string{{"verify", "-x509_strict", "-CAfile", caFile, cert}}
	for _, p := range purposes {
		runs = append(runs, []string{"verify", "-x509_strict", "-purpose", p, "-CAfile", caFile, cert})
	}
	runs = append(runs, []string{"x509", "-checkend", "0", "-noout", "-in", cert})
	for _, args := range runs {
		out, err := run(time.Minute, "", nil, openssl, args...)
		if err != nil {
			return err
		}
		if args[0] == "verify" && !strings.Contains(out, ": OK") {
			return fmt.Errorf("openssl %s: no OK:\n%s", strings.Join(args, " "), indent(out))
		}
	}
	return nil
}

// checkKeyPair: key's public key is cert's (or, for a bare public key file
// like sa.pub, that key).
func checkKeyPair(openssl, certOrPub, key string) error {
	fromKey, err := run(time.Minute, "", nil, openssl, "pkey", "-pubout", "-in", key)
	if err != nil {
		return err
	}
	var fromCert string
	if strings.HasSuffix(certOrPub, ".crt") {
		fromCert, err = run(time.Minute, "", nil, openssl, "x509", "-pubkey", "-noout", "-in", certOrPub)
	} else {
		fromCert, err = run(time.Minute, "", nil, openssl, "pkey", "-pubin", "-pubout", "-in", certOrPub)
	}
	if err != nil {
		return err
	}
	if fromKey != fromCert || !strings.Contains(fromKey, "PUBLIC KEY") {
		return fmt.Errorf("%s does not hold the private key of %s", filepath.Base(key), filepath.Base(certOrPub))
	}
	return nil
}

func parseCertFile(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

// checkMemberSANs: an etcd member's server or peer cert is issued to the
// member (CN = host name) and carries every name clients and peers dial.
func checkMemberSANs(cert string, h *model.Host) error {
	c, err := parseCertFile(cert)
	if err != nil {
		return err
	}
	if c.Subject.CommonName != h.Name {
		return fmt.Errorf("%s: CN %q, want the member's name %q", filepath.Base(cert), c.Subject.CommonName, h.Name)
	}
	for _, dns := range []string{h.Name, "localhost"} {
		if !slices.Contains(c.DNSNames, dns) {
			return fmt.Errorf("%s: no DNS SAN %s (has %v)", filepath.Base(cert), dns, c.DNSNames)
		}
	}
	for _, ip := range []string{h.Address.String(), "127.0.0.1"} {
		if !slices.ContainsFunc(c.IPAddresses, func(x net.IP) bool { return x.Equal(net.ParseIP(ip)) }) {
			return fmt.Errorf("%s: no IP SAN %s (has %v)", filepath.Base(cert), ip, c.IPAddresses)
		}
	}
	return nil
}

// checkHostPKI checks every certificate and key below one host's pki dir.
func checkHostPKI(openssl, dir string, h *model.Host) error {
	var e errs
	files, err := snapshot(dir)
	if err != nil {
		return err
	}
	for _, rel := range sortedKeys(files) {
		p := filepath.Join(dir, rel)
		switch {
		case strings.HasSuffix(rel, ".crt"):
			role, ok := certRoles[filepath.ToSlash(rel)]
			if !ok {
				e.add(fmt.Errorf("%s: a certificate the suite does not know: which CA signs it?", rel))
				continue
			}
			ca := filepath.Join(dir, role.ca)
			if _, err := os.Stat(ca); err != nil {
				e.add(fmt.Errorf("%s: its CA %s is not on the host", rel, role.ca))
				continue
			}
			if err := checkCert(openssl, ca, p, role.purposes); err != nil {
				e.add(fmt.Errorf("%s: %w", rel, err))
			}
			c, err := parseCertFile(p)
			if err != nil {
				e.add(err)
				continue
			}
			if c.IsCA != role.isCA {
				e.add(fmt.Errorf("%s: IsCA %v, want %v", rel, c.IsCA, role.isCA))
			}
			if rel == filepath.FromSlash("etcd/server.crt") || rel == filepath.FromSlash("etcd/peer.crt") {
				e.add(checkMemberSANs(p, h))
			}
			if key := strings.TrimSuffix(p, ".crt") + ".key"; fileExists(key) {
				e.add(checkKeyPair(openssl, p, key))
			} else if !role.isCA {
				e.add(fmt.Errorf("%s: no key beside it", rel))
			}
		case strings.HasSuffix(rel, ".key"):
			base := strings.TrimSuffix(p, ".key")
			if !fileExists(base+".crt") && !fileExists(base+".pub") {
				e.add(fmt.Errorf("%s: a key without a certificate or public key", rel))
			}
			if rel == "sa.key" {
				e.add(checkKeyPair(openssl, base+".pub", p))
			}
		}
	}
	return e.err()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestCertificates(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		openssl := tool(t, "openssl")
		members := map[string]bool{}
		for _, m := range f.plan.Etcd.Members {
			members[m.Name] = true
		}
		shared := map[string][]byte{}
		for _, h := range f.plan.Hosts {
			dir := f.hostPath(h.Name, pkiDir)
			_, err := os.Stat(dir)
			cp := h.Has(model.RoleControlPlane)
			if !cp && !members[h.Name] {
				if err == nil {
					t.Errorf("%s (%v) has a pki directory", h.Name, h.Roles)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", h.Name, err)
				continue
			}
			if err := checkHostPKI(openssl, dir, h); err != nil {
				t.Errorf("%s: %v", h.Name, err)
			}
			// What each role must (not) hold.
			want := []string{"etcd/ca.crt"}
			if cp {
				want = append(want, "ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub", "apiserver-etcd-client.crt", "apiserver-etcd-client.key")
			}
			if members[h.Name] {
				want = append(want, "etcd/server.crt", "etcd/server.key", "etcd/peer.crt", "etcd/peer.key", "etcd/healthcheck-client.crt", "etcd/healthcheck-client.key")
			}
			for _, w := range want {
				if !fileExists(filepath.Join(dir, w)) {
					t.Errorf("%s: no %s", h.Name, w)
				}
			}
			if fileExists(filepath.Join(dir, "etcd/ca.key")) {
				t.Errorf("%s holds the etcd CA key", h.Name)
			}
			if !cp && fileExists(filepath.Join(dir, "ca.key")) {
				t.Errorf("%s (%v) holds the cluster CA key", h.Name, h.Roles)
			}
			// Shared material is byte-identical everywhere.
			for _, name := range []string{"ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-ca.key", "etcd/ca.crt"} {
				data, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					continue
				}
				if prev, ok := shared[name]; ok && !bytes.Equal(prev, data) {
					t.Errorf("%s: %s differs from another host's", h.Name, name)
				}
				shared[name] = data
			}
		}
		// Leaves are per host, never copied.
		seen := map[string]string{}
		for _, file := range append(f.files(pkiDir+"/*.crt"), f.files(pkiDir+"/*/*.crt")...) {
			if strings.HasSuffix(file.Path, "ca.crt") {
				continue
			}
			if other, dup := seen[string(file.Data)]; dup {
				t.Errorf("%s is byte-identical to %s: a leaf copied between hosts", file.BundlePath(), other)
			}
			seen[string(file.Data)] = file.BundlePath()
		}
		// Modes as the contract fixes them, in the bundle and on disk.
		for _, file := range append(f.files(pkiDir+"/*"), f.files(pkiDir+"/*/*")...) {
			want := os.FileMode(0o644)
			if strings.HasSuffix(file.Path, ".key") {
				want = 0o600
			}
			if file.Mode.Perm() != want {
				t.Errorf("%s: mode %04o, want %04o", file.BundlePath(), file.Mode.Perm(), want)
			}
			if fi, err := os.Stat(f.path(file)); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s on disk: %v %v, want %04o", file.BundlePath(), fi.Mode(), err, want)
			}
		}
	})
}
