// Package render turns a plan and its secrets into the bundle: every
// renderer is a pure function of (Plan, Secrets), so the same inputs always
// give the same bytes.
package render

import (
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/ansible"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/cloudinit"
	"github.com/hagen/hagen/render/etcd"
	"github.com/hagen/hagen/render/haproxy"
	"github.com/hagen/hagen/render/ignition"
	"github.com/hagen/hagen/render/keepalived"
	"github.com/hagen/hagen/render/kubeadm"
	"github.com/hagen/hagen/render/kubeletetcd"
	"github.com/hagen/hagen/render/lifecycle"
	"github.com/hagen/hagen/render/pkifiles"
	"github.com/hagen/hagen/render/repoint"
	"github.com/hagen/hagen/render/runbook"
	"github.com/hagen/hagen/render/tarball"
)

// Options choose optional parts of the bundle.
type Options struct {
	// Tarballs adds tar/<host>.tar.gz for every host.
	Tarballs bool
	// CloudInit adds cloud-init/<host>.yaml, a #cloud-config per host.
	CloudInit bool
	// Ignition adds ignition/<host>.ign, an Ignition config per host.
	Ignition bool
}

// Render builds the whole bundle for p, without the optional parts.
func Render(p *model.Plan, s *pki.Secrets) (*bundle.Bundle, error) {
	return RenderWith(p, s, Options{})
}

// RenderWith builds the whole bundle for p with the parts opts choose.
func RenderWith(p *model.Plan, s *pki.Secrets, opts Options) (*bundle.Bundle, error) {
	b := bundle.New()
	renderers := []func() ([]bundle.File, error){
		func() ([]bundle.File, error) { return pkifiles.Files(p, s) },
		func() ([]bundle.File, error) { return etcd.Files(p) },
		func() ([]bundle.File, error) { return kubeletetcd.Files(p), nil },
		func() ([]bundle.File, error) { return keepalived.Files(p, s.KeepalivedAuthPass) },
		func() ([]bundle.File, error) { return haproxy.Files(p) },
		func() ([]bundle.File, error) { return kubeadm.Files(p, s) },
		func() ([]bundle.File, error) { return repoint.Files(p) },
		func() ([]bundle.File, error) { return lifecycle.Files(p) },
	}
	for _, r := range renderers {
		files, err := r()
		if err != nil {
			return nil, err
		}
		if err := b.Add(files...); err != nil {
			return nil, err
		}
	}
	if opts.Tarballs {
		for _, h := range p.Hosts {
			data, err := tarball.Host(b.HostFiles(h.Name))
			if err != nil {
				return nil, err
			}
			if err := b.Add(bundle.File{Path: "tar/" + h.Name + ".tar.gz", Mode: bundle.ModeSecret, Data: data}); err != nil {
				return nil, err
			}
		}
	}
	steps := runbook.Steps(p)
	// User-data for machines that boot into the cluster: each carries the
	// host's private keys, so it is as secret as they are.
	for _, h := range p.Hosts {
		var userData []bundle.File
		if opts.CloudInit {
			data, err := cloudinit.Host(p.Name, h.Name, b.HostFiles(h.Name), steps)
			if err != nil {
				return nil, err
			}
			userData = append(userData, bundle.File{Path: cloudinit.Path(h.Name), Mode: bundle.ModeSecret, Data: data})
		}
		if opts.Ignition {
			data, err := ignition.Host(h.Name, b.HostFiles(h.Name), steps)
			if err != nil {
				return nil, err
			}
			userData = append(userData, bundle.File{Path: ignition.Path(h.Name), Mode: bundle.ModeSecret, Data: data})
		}
		if err := b.Add(userData...); err != nil {
			return nil, err
		}
	}
	transport, err := ansible.Files(p, steps)
	if err != nil {
		return nil, err
	}
	if err := b.Add(transport...); err != nil {
		return nil, err
	}
	if err := b.Add(bundle.File{Path: runbook.Path, Mode: bundle.ModePublic, Data: runbook.Markdown(p, steps)}); err != nil {
		return nil, err
	}
	manifest, err := bundle.MarshalManifest(Manifest(p, b, steps))
	if err != nil {
		return nil, err
	}
	if err := b.Add(bundle.File{Path: bundle.ManifestName, Mode: bundle.ModePublic, Data: manifest}); err != nil {
		return nil, err
	}
	return b, nil
}

// Manifest describes the bundle b of plan p: its hosts, files and steps.
func Manifest(p *model.Plan, b *bundle.Bundle, steps []bundle.Step) *bundle.Manifest {
	hosts := make([]bundle.HostInfo, len(p.Hosts))
	for i, h := range p.Hosts {
		roles := make([]string, len(h.Roles))
		for j, r := range h.Roles {
			roles[j] = string(r)
		}
		hosts[i] = bundle.HostInfo{Name: h.Name, Roles: roles, Address: h.Address.String()}
	}
	sw := bundle.Software{Kubernetes: p.Kubernetes.Version.String(), Etcd: p.Etcd.Version.String()}
	m := bundle.NewManifest(p.Name, sw, hosts, b, steps)
	for _, h := range p.ControlPlane.Hosts {
		m.Membership.ControlPlane = append(m.Membership.ControlPlane, h.Name)
	}
	for _, e := range p.Etcd.Joined {
		m.Membership.EtcdMembers = append(m.Membership.EtcdMembers, e.Name)
	}
	m.Membership.Change = runbook.DescribeChange(p)
	if c := p.Etcd.Change; c != nil {
		for _, f := range runbook.Formers(c) {
			if m.Leaving == nil {
				m.Leaving = map[string]bundle.LeavingHost{}
			}
			roles := make([]string, len(f.Roles))
			for i, r := range f.Roles {
				roles[i] = string(r)
			}
			m.Leaving[f.Name] = bundle.LeavingHost{Address: f.Address.String(), Roles: roles}
		}
	}
	m.Procedures = runbook.Procedures(p)
	return m
}
