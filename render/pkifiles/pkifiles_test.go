package pkifiles

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"path"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
)

const stacked = `name: "prod"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
pki: keyAlgorithm: "ECDSA-P256"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0", routerID: 51}
hosts: {
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"]}
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
	w1: {address: "10.0.0.21", roles: ["worker"]}
}
`

const external = `name: "dc1"
kubernetes: version: "1.35.0"
network: podSubnet: "10.244.0.0/16"
pki: keyAlgorithm: "ECDSA-P256"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
etcd: topology: "external"
hosts: {
	m0: {address: "192.168.10.10", roles: ["control-plane"]}
	m1: {address: "192.168.10.11", roles: ["control-plane"]}
	m2: {address: "192.168.10.12", roles: ["control-plane"]}
	e0: {address: "192.168.10.20", roles: ["etcd"]}
	e1: {address: "192.168.10.21", roles: ["etcd"]}
	e2: {address: "192.168.10.22", roles: ["etcd"]}
	w0: {address: "192.168.10.30", roles: ["worker"]}
}
`

type rendered struct {
	p      *model.Plan
	s      *pki.Secrets
	files  []bundle.File
	byHost map[string]map[string]bundle.File
}

func render(t *testing.T, src string) rendered {
	t.Helper()
	res, err := compiler.Compile("t.cue", []byte(src))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	issued, err := (&pki.Issuer{}).Ensure(res.Plan, nil)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	files, err := Files(res.Plan, issued.Secrets)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	r := rendered{p: res.Plan, s: issued.Secrets, files: files, byHost: map[string]map[string]bundle.File{}}
	for _, f := range files {
		if f.Host == "" {
			t.Errorf("bundle-level PKI file %s", f.Path)
		}
		if r.byHost[f.Host] == nil {
			r.byHost[f.Host] = map[string]bundle.File{}
		}
		if _, dup := r.byHost[f.Host][f.Path]; dup {
			t.Errorf("%s:%s rendered twice", f.Host, f.Path)
		}
		r.byHost[f.Host][f.Path] = f
	}
	return r
}

func (r rendered) paths(host string) []string {
	var out []string
	for p := range r.byHost[host] {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func pkiPaths(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = path.Join(pki.Dir, n)
	}
	sort.Strings(out)
	return out
}

var controlPlaneShared = []string{
	"ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key",
	"sa.key", "sa.pub", "etcd/ca.crt",
}

var controlPlaneOwn = []string{"apiserver-etcd-client.crt", "apiserver-etcd-client.key"}

var memberOwn = []string{
	"etcd/server.crt", "etcd/server.key", "etcd/peer.crt", "etcd/peer.key",
	"etcd/healthcheck-client.crt", "etcd/healthcheck-client.key",
}

func TestWhoGetsWhat(t *testing.T) {
	cp := append(append([]string{}, controlPlaneShared...), controlPlaneOwn...)
	stackedCP := pkiPaths(append(append([]string{}, cp...), memberOwn...)...)
	externalCP := pkiPaths(cp...)
	member := pkiPaths(append([]string{"etcd/ca.crt"}, memberOwn...)...)

	for _, tc := range []struct {
		name, src string
		want      map[string][]string
	}{
		{"stacked", stacked, map[string][]string{
			"m0": stackedCP, "m1": stackedCP, "m2": stackedCP, "w0": nil, "w1": nil,
		}},
		{"external", external, map[string][]string{
			"m0": externalCP, "m1": externalCP, "m2": externalCP,
			"e0": member, "e1": member, "e2": member, "w0": nil,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.src)
			for h, want := range tc.want {
				if got := r.paths(h); !reflect.DeepEqual(got, want) {
					t.Errorf("%s gets\n  %v\nwant\n  %v", h, got, want)
				}
			}
			for h := range r.byHost {
				if _, ok := tc.want[h]; !ok {
					t.Errorf("unexpected host %s", h)
				}
			}
		})
	}
}

func TestNoHostGetsTheEtcdCAKey(t *testing.T) {
	for _, src := range []string{stacked, external} {
		r := render(t, src)
		etcdKey := r.s.CAs[pki.EtcdCA].Key
		for _, f := range r.files {
			if f.Path == path.Join(pki.Dir, "etcd/ca.key") {
				t.Errorf("%s gets etcd/ca.key", f.Host)
			}
			if bytes.Equal(f.Data, []byte(etcdKey)) {
				t.Errorf("%s:%s holds the etcd CA key", f.Host, f.Path)
			}
		}
	}
}

func TestWorkersGetNothing(t *testing.T) {
	for _, src := range []string{stacked, external} {
		r := render(t, src)
		for _, h := range r.p.HostsWith(model.RoleWorker) {
			if n := len(r.byHost[h.Name]); n != 0 {
				t.Errorf("worker %s gets %d PKI files: %v", h.Name, n, r.paths(h.Name))
			}
		}
	}
}

func TestModes(t *testing.T) {
	r := render(t, external)
	for _, f := range r.files {
		var want = bundle.ModePublic
		switch {
		case strings.HasSuffix(f.Path, ".key"):
			want = bundle.ModeSecret
		case strings.HasSuffix(f.Path, ".crt"), strings.HasSuffix(f.Path, ".pub"):
			want = bundle.ModePublic
		default:
			t.Errorf("%s:%s is neither key nor cert", f.Host, f.Path)
		}
		if f.Mode != want {
			t.Errorf("%s:%s mode %v, want %v", f.Host, f.Path, f.Mode, want)
		}
		if !strings.HasPrefix(f.Path, pki.Dir+"/") {
			t.Errorf("%s:%s outside %s", f.Host, f.Path, pki.Dir)
		}
	}
}

func TestSharedFilesIdenticalOnEveryMaster(t *testing.T) {
	for _, src := range []string{stacked, external} {
		r := render(t, src)
		for _, name := range controlPlaneShared {
			p := path.Join(pki.Dir, name)
			var first []byte
			for i, h := range r.p.ControlPlane.Hosts {
				f, ok := r.byHost[h.Name][p]
				if !ok {
					t.Fatalf("%s lacks %s", h.Name, p)
				}
				if i == 0 {
					first = f.Data
					continue
				}
				if !bytes.Equal(first, f.Data) {
					t.Errorf("%s differs between %s and %s", p, r.p.ControlPlane.Hosts[0].Name, h.Name)
				}
			}
		}
		// And they are the secrets' material.
		m0 := r.byHost[r.p.ControlPlane.Hosts[0].Name]
		for p, want := range map[string]string{
			"ca.crt": r.s.CAs[pki.ClusterCA].Cert, "ca.key": r.s.CAs[pki.ClusterCA].Key,
			"front-proxy-ca.crt": r.s.CAs[pki.FrontProxyCA].Cert, "front-proxy-ca.key": r.s.CAs[pki.FrontProxyCA].Key,
			"etcd/ca.crt": r.s.CAs[pki.EtcdCA].Cert,
			"sa.key":      r.s.ServiceAccount.Key, "sa.pub": r.s.ServiceAccount.Pub,
		} {
			if got := string(m0[path.Join(pki.Dir, p)].Data); got != want {
				t.Errorf("%s is not the secrets' material", p)
			}
		}
		// The etcd members' etcd/ca.crt is the same CA.
		for _, m := range r.p.Etcd.Members {
			if got := string(r.byHost[m.Name][path.Join(pki.Dir, "etcd/ca.crt")].Data); got != r.s.CAs[pki.EtcdCA].Cert {
				t.Errorf("%s: etcd/ca.crt is not the etcd CA", m.Name)
			}
		}
	}
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate:\n%s", data)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLeavesAreEachHostsOwn(t *testing.T) {
	for _, src := range []string{stacked, external} {
		r := render(t, src)
		etcdCA := parseCert(t, []byte(r.s.CAs[pki.EtcdCA].Cert))
		pool := x509.NewCertPool()
		pool.AddCert(etcdCA)
		for _, leaf := range []string{"etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client"} {
			seen := map[string]string{}
			for host, files := range r.byHost {
				f, ok := files[path.Join(pki.Dir, leaf+".crt")]
				if !ok {
					continue
				}
				if prev, dup := seen[string(f.Data)]; dup {
					t.Errorf("%s: %s and %s got the same certificate", leaf, prev, host)
				}
				seen[string(f.Data)] = host
				key, ok := files[path.Join(pki.Dir, leaf+".key")]
				if !ok {
					t.Errorf("%s: %s without its key", host, leaf)
				}
				spec := leafName(leaf)
				kp, ok := r.s.Leaf(host, spec)
				if !ok {
					t.Fatalf("secrets lack %s for %s", spec, host)
				}
				if string(f.Data) != kp.Cert || string(key.Data) != kp.Key {
					t.Errorf("%s: %s is not its own secrets entry", host, leaf)
				}
				c := parseCert(t, f.Data)
				if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
					t.Errorf("%s: %s does not chain to the etcd CA: %v", host, leaf, err)
				}
				switch leaf {
				case "etcd/server", "etcd/peer":
					if c.Subject.CommonName != host {
						t.Errorf("%s: %s CN %q, want the host name", host, leaf, c.Subject.CommonName)
					}
					addr := r.p.Host(host).Address.String()
					ok := false
					for _, ip := range c.IPAddresses {
						if ip.String() == addr {
							ok = true
						}
					}
					if !ok || !containsStr(c.DNSNames, host) {
						t.Errorf("%s: %s SANs %v %v lack the host's name or address %s", host, leaf, c.DNSNames, c.IPAddresses, addr)
					}
				}
			}
			if len(seen) == 0 {
				t.Errorf("nobody got %s", leaf)
			}
		}
	}
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// leafName maps a file below pki.Dir to the certificate table's name.
func leafName(file string) string {
	for _, c := range pki.Certs() {
		if c.File == file {
			return c.Name
		}
	}
	return ""
}

func TestMissingSecretsAreErrors(t *testing.T) {
	r := render(t, stacked)
	s := *r.s
	s.Leaves = map[string]map[string]pki.KeyPair{}
	if _, err := Files(r.p, &s); err == nil {
		t.Error("Files with no leaves: no error")
	}
	s = *r.s
	s.CAs = map[string]pki.KeyPair{}
	if _, err := Files(r.p, &s); err == nil {
		t.Error("Files with no CAs: no error")
	}
}
