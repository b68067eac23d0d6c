package pki

import (
	"crypto/x509"
	"sort"
	"time"
)

// CertInfo describes one certificate of a secrets file.
type CertInfo struct {
	Name      string    `json:"name"`
	Host      string    `json:"host,omitempty"` // empty for CAs
	CN        string    `json:"cn"`
	SANs      []string  `json:"sans"`
	Algorithm string    `json:"algorithm"`
	NotAfter  time.Time `json:"notAfter"`
	DaysLeft  int       `json:"daysLeft"`
	IsCA      bool      `json:"isCA"`
}

// Inventory lists every certificate in s: CAs first, then leaves by host
// and name.
func (s *Secrets) Inventory(now time.Time) ([]CertInfo, error) {
	var out []CertInfo
	add := func(name, host, pemCert string) error {
		c, err := ParseCert(pemCert)
		if err != nil {
			return err
		}
		out = append(out, info(name, host, c, now))
		return nil
	}
	for _, ca := range CAs() {
		if kp, ok := s.CAs[ca.Name]; ok {
			if err := add(ca.Name, "", kp.Cert); err != nil {
				return nil, err
			}
		}
	}
	var leaves []CertInfo
	for _, host := range sortedKeys(s.Leaves) {
		for _, name := range sortedKeys(s.Leaves[host]) {
			c, err := ParseCert(s.Leaves[host][name].Cert)
			if err != nil {
				return nil, err
			}
			leaves = append(leaves, info(name, host, c, now))
		}
	}
	sort.SliceStable(leaves, func(i, j int) bool {
		if leaves[i].Host != leaves[j].Host {
			return leaves[i].Host < leaves[j].Host
		}
		return leaves[i].Name < leaves[j].Name
	})
	return append(out, leaves...), nil
}

func info(name, host string, c *x509.Certificate, now time.Time) CertInfo {
	sans := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	return CertInfo{
		Name: name, Host: host, CN: c.Subject.CommonName, SANs: sans,
		Algorithm: string(AlgorithmOf(c.PublicKey)), NotAfter: c.NotAfter.UTC(),
		DaysLeft: int(c.NotAfter.Sub(now).Hours() / 24), IsCA: c.IsCA,
	}
}
