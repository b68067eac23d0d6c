// Package pkifiles places the secrets file's keys and certificates on the
// hosts that need them, under kubeadm's file names so that kubeadm reuses
// what it finds instead of generating its own.
package pkifiles

import (
	"fmt"
	"path"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
)

// Dir is kubeadm's certificatesDir.
const Dir = "/etc/kubernetes/pki"

// CertPath and KeyPath are the on-host paths of a table entry's files.
func CertPath(file string) string { return path.Join(Dir, file+".crt") }
func KeyPath(file string) string  { return path.Join(Dir, file+".key") }

// Files returns every host's PKI files:
//   - control-plane hosts: the cluster and front-proxy CAs with their keys
//     (kubeadm signs the apiserver, kubelet-client and front-proxy-client
//     certs on each master), the shared service-account key pair, and the
//     etcd CA certificate;
//   - etcd members: the etcd CA certificate;
//   - every host: the leaves the certificate table gives it.
//
// The etcd CA key goes nowhere: no host issues etcd certificates.
func Files(p *model.Plan, s *pki.Secrets) ([]bundle.File, error) {
	var files []bundle.File
	for _, h := range p.Hosts {
		cp := h.Has(model.RoleControlPlane)
		member := p.Member(h.Name) != nil
		for _, ca := range pki.CAs() {
			kp, ok := s.CAs[ca.Name]
			if !ok {
				return nil, fmt.Errorf("secrets lack CA %s", ca.Name)
			}
			wantsCert := cp || (ca.Name == pki.EtcdCA && member)
			if !wantsCert {
				continue
			}
			files = append(files, bundle.File{Host: h.Name, Path: CertPath(ca.File), Mode: bundle.ModePublic, Data: []byte(kp.Cert)})
			if cp && ca.KeyOnHosts {
				files = append(files, bundle.File{Host: h.Name, Path: KeyPath(ca.File), Mode: bundle.ModeSecret, Data: []byte(kp.Key)})
			}
		}
		if cp {
			files = append(files,
				bundle.File{Host: h.Name, Path: path.Join(Dir, "sa.key"), Mode: bundle.ModeSecret, Data: []byte(s.ServiceAccount.Key)},
				bundle.File{Host: h.Name, Path: path.Join(Dir, "sa.pub"), Mode: bundle.ModePublic, Data: []byte(s.ServiceAccount.Pub)},
			)
		}
	}
	for _, spec := range pki.Certs() {
		for _, h := range spec.HostsOf(p) {
			kp, ok := s.Leaf(h.Name, spec.Name)
			if !ok {
				return nil, fmt.Errorf("secrets lack %s for %s", spec.Name, h.Name)
			}
			files = append(files,
				bundle.File{Host: h.Name, Path: CertPath(spec.File), Mode: bundle.ModePublic, Data: []byte(kp.Cert)},
				bundle.File{Host: h.Name, Path: KeyPath(spec.File), Mode: bundle.ModeSecret, Data: []byte(kp.Key)},
			)
		}
	}
	return files, nil
}
