package pki

import (
	"crypto/x509"
	"net/netip"
	"path"

	"github.com/hagen/hagen/compiler/model"
)

// Dir is kubeadm's certificatesDir: every PKI file hagen places lives
// below it, under the names this table gives, so that kubeadm finds and
// reuses them. No other package spells a PKI file name.
const Dir = "/etc/kubernetes/pki"

// File name extensions, kubeadm's.
const (
	CertExt = ".crt"
	KeyExt  = ".key"
	PubExt  = ".pub"
)

// CA names, as the secrets file and kubeadm's file names spell them.
const (
	ClusterCA    = "ca"
	FrontProxyCA = "front-proxy-ca"
	EtcdCA       = "etcd-ca"
)

// Leaf certificate names: the secrets file's keys and kubeadm's names.
const (
	EtcdServer            = "etcd-server"
	EtcdPeer              = "etcd-peer"
	EtcdHealthcheckClient = "etcd-healthcheck-client"
	APIServerEtcdClient   = "apiserver-etcd-client"
)

// CertPath and KeyPath are where a table entry's files sit on a host.
func (c CASpec) CertPath() string   { return filePath(c.File, CertExt) }
func (c CASpec) KeyPath() string    { return filePath(c.File, KeyExt) }
func (c CertSpec) CertPath() string { return filePath(c.File, CertExt) }
func (c CertSpec) KeyPath() string  { return filePath(c.File, KeyExt) }

func filePath(file, ext string) string { return path.Join(Dir, file+ext) }

// ServiceAccountSpec is the key pair that signs and verifies service
// account tokens: not a certificate, but a PKI file pair all the same.
type ServiceAccountSpec struct {
	// File is the path below Dir, without extension.
	File string
}

// ServiceAccount is the service-account key pair's entry: kubeadm's sa.key
// and sa.pub, shared by every control-plane host.
func ServiceAccount() ServiceAccountSpec { return ServiceAccountSpec{File: "sa"} }

func (s ServiceAccountSpec) KeyPath() string { return filePath(s.File, KeyExt) }
func (s ServiceAccountSpec) PubPath() string { return filePath(s.File, PubExt) }

// CA returns the CA named name; it panics on a name the table lacks, a bug
// in hagen that every test run would find.
func CA(name string) CASpec {
	for _, c := range CAs() {
		if c.Name == name {
			return c
		}
	}
	panic("pki: no CA named " + name)
}

// Cert returns the leaf certificate named name; it panics on a name the
// table lacks.
func Cert(name string) CertSpec {
	for _, c := range Certs() {
		if c.Name == name {
			return c
		}
	}
	panic("pki: no certificate named " + name)
}

// CASpec is one certificate authority.
type CASpec struct {
	Name string
	CN   string
	// File is the path below Dir, without extension.
	File string
	// KeyOnHosts: whether any host receives the CA's private key. The etcd
	// CA's key never leaves the secrets file: no host issues etcd certs.
	KeyOnHosts bool
}

// CAs are every certificate authority hagen keeps, in issuing order. The CNs
// are kubeadm's, so kubeadm recognises the files it finds.
func CAs() []CASpec {
	return []CASpec{
		{Name: ClusterCA, CN: "kubernetes", File: "ca", KeyOnHosts: true},
		{Name: FrontProxyCA, CN: "front-proxy-ca", File: "front-proxy-ca", KeyOnHosts: true},
		{Name: EtcdCA, CN: "etcd-ca", File: "etcd/ca", KeyOnHosts: false},
	}
}

// CertSpec is one kind of leaf certificate, issued once per host that
// HostsOf returns.
type CertSpec struct {
	Name string // the secrets file's key, kubeadm's certificate name
	CA   string
	// File is the path below Dir, without extension.
	File    string
	CN      func(h *model.Host) string
	O       func(p *model.Plan) []string
	SANs    func(p *model.Plan, h *model.Host) SANs
	Usages  []x509.ExtKeyUsage
	HostsOf func(p *model.Plan) []*model.Host
	// Restart names what must restart on the host to pick up a new cert.
	Restart string
}

// SANs are a certificate's subject alternative names.
type SANs struct {
	DNS []string
	IPs []netip.Addr
}

// Usage lists are made per call so that no caller can alter another's.
func serverAndClient() []x509.ExtKeyUsage {
	return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
}

func clientOnly() []x509.ExtKeyUsage { return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} }

// Certs is the certificate table, built fresh on each call so no caller can
// change another's view.
func Certs() []CertSpec {
	return []CertSpec{
		{
			Name: EtcdServer, CA: EtcdCA, File: "etcd/server",
			CN: nodeName, O: none, SANs: etcdMemberSANs, Usages: serverAndClient(),
			HostsOf: etcdMembers, Restart: "etcd",
		},
		{
			// etcd dials its peers with this cert too: server and client auth.
			Name: EtcdPeer, CA: EtcdCA, File: "etcd/peer",
			CN: nodeName, O: none, SANs: etcdMemberSANs, Usages: serverAndClient(),
			HostsOf: etcdMembers, Restart: "etcd",
		},
		{
			Name: EtcdHealthcheckClient, CA: EtcdCA, File: "etcd/healthcheck-client",
			CN: fixed("kube-etcd-healthcheck-client"), O: mastersBefore129, SANs: noSANs, Usages: clientOnly(),
			HostsOf: etcdMembers, Restart: "nothing (used by health checks only)",
		},
		{
			Name: APIServerEtcdClient, CA: EtcdCA, File: "apiserver-etcd-client",
			CN: fixed("kube-apiserver-etcd-client"), O: mastersBefore129, SANs: noSANs, Usages: clientOnly(),
			HostsOf: controlPlanes, Restart: "kube-apiserver",
		},
	}
}

func nodeName(h *model.Host) string { return h.Name }

func fixed(cn string) func(*model.Host) string { return func(*model.Host) string { return cn } }

func none(*model.Plan) []string { return nil }

// mastersBefore129: kubeadm put its etcd client certs in system:masters
// until Kubernetes 1.29.
func mastersBefore129(p *model.Plan) []string {
	if p.Kubernetes.Version.AtLeast(1, 29) {
		return nil
	}
	return []string{"system:masters"}
}

// etcdMemberSANs are kubeadm's etcd server and peer SANs: the node name,
// localhost, the member's address and both loopbacks.
func etcdMemberSANs(_ *model.Plan, h *model.Host) SANs {
	ips := []netip.Addr{h.Address, netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	return SANs{DNS: []string{h.Name, "localhost"}, IPs: uniqueAddrs(ips)}
}

func noSANs(*model.Plan, *model.Host) SANs { return SANs{} }

func etcdMembers(p *model.Plan) []*model.Host {
	hs := make([]*model.Host, len(p.Etcd.Members))
	for i, m := range p.Etcd.Members {
		hs[i] = m.Host
	}
	return hs
}

func controlPlanes(p *model.Plan) []*model.Host { return p.ControlPlane.Hosts }

func uniqueAddrs(as []netip.Addr) []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, a := range as {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
