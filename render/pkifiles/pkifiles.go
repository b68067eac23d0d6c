// Package pkifiles places the secrets file's keys and certificates on the
// hosts that need them, under kubeadm's file names so that kubeadm reuses
// what it finds instead of generating its own.
package pkifiles

import (
	"fmt"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
)

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
			files = append(files, bundle.File{Host: h.Name, Path: ca.CertPath(), Mode: bundle.ModePublic, Data: []byte(kp.Cert)})
			if cp && ca.KeyOnHosts {
				files = append(files, bundle.File{Host: h.Name, Path: ca.KeyPath(), Mode: bundle.ModeSecret, Data: []byte(kp.Key)})
			}
		}
		if cp {
			files = append(files,
				bundle.File{Host: h.Name, Path: pki.ServiceAccount().KeyPath(), Mode: bundle.ModeSecret, Data: []byte(s.ServiceAccount.Key)},
				bundle.File{Host: h.Name, Path: pki.ServiceAccount().PubPath(), Mode: bundle.ModePublic, Data: []byte(s.ServiceAccount.Pub)},
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
				bundle.File{Host: h.Name, Path: spec.CertPath(), Mode: bundle.ModePublic, Data: []byte(kp.Cert)},
				bundle.File{Host: h.Name, Path: spec.KeyPath(), Mode: bundle.ModeSecret, Data: []byte(kp.Key)},
			)
		}
	}
	return files, nil
}
