package render_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/kubeadm"
	"github.com/hagen/hagen/render/runbook"
)

// manifestExternalSpec is the shared external-etcd scenario with etcd as
// static pods.
const manifestExternalSpec = testplan.ExternalEtcd + "etcd: run: \"static-pod\"\n"

const manifestStackedSpec = `name: "prod"
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

const manifestCloudSpec = `name: "cloud"
kubernetes: version: "1.35.0"
network: podSubnet: "192.168.0.0/16"
pki: keyAlgorithm: "ECDSA-P256"
controlPlane: loadBalancer: external: endpoint: "k8s-api.cloud.example.com:6443"
etcd: run: "static-pod"
hosts: {
	"cp-a": {address: "172.31.0.10", roles: ["control-plane"], zone: "a"}
	"cp-b": {address: "172.31.16.10", roles: ["control-plane"], zone: "b"}
	"cp-c": {address: "172.31.32.10", roles: ["control-plane"], zone: "c"}
	"node-a": {address: "172.31.0.100", roles: ["worker"]}
}
`

var manifestSpecs = []struct{ name, src string }{
	{"stacked", manifestStackedSpec},
	{"external-etcd", manifestExternalSpec},
	{"cloud", manifestCloudSpec},
}

type manifestRender struct {
	p *model.Plan
	s *pki.Secrets
	b *bundle.Bundle
	m bundle.Manifest
}

func renderForManifest(t *testing.T, src string) manifestRender {
	t.Helper()
	res, err := compiler.Compile("t.cue", []byte(src))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	issued, err := (&pki.Issuer{}).Ensure(res.Plan, nil)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	b, err := render.Render(res.Plan, issued.Secrets)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	f, ok := b.Get(bundle.ManifestName)
	if !ok {
		t.Fatal("no MANIFEST.json in the bundle")
	}
	var m bundle.Manifest
	if err := json.Unmarshal(f.Data, &m); err != nil {
		t.Fatalf("MANIFEST.json: %v", err)
	}
	return manifestRender{p: res.Plan, s: issued.Secrets, b: b, m: m}
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestManifestListsEveryHostFile(t *testing.T) {
	for _, tc := range manifestSpecs {
		t.Run(tc.name, func(t *testing.T) {
			r := renderForManifest(t, tc.src)
			if r.m.Version != bundle.ManifestVersion || r.m.Cluster != r.p.Name {
				t.Errorf("version %d cluster %q", r.m.Version, r.m.Cluster)
			}
			var names []string
			for n := range r.m.Hosts {
				names = append(names, n)
			}
			sort.Strings(names)
			var want []string
			for _, h := range r.p.Hosts {
				want = append(want, h.Name)
			}
			if !reflect.DeepEqual(names, want) {
				t.Errorf("manifest hosts %v, want %v", names, want)
			}
			listed := 0
			for _, h := range r.p.Hosts {
				mh := r.m.Hosts[h.Name]
				var roles []string
				for _, role := range h.Roles {
					roles = append(roles, string(role))
				}
				if !reflect.DeepEqual(mh.Roles, roles) {
					t.Errorf("%s: roles %v, want %v", h.Name, mh.Roles, roles)
				}
				if mh.Address != h.Address.String() {
					t.Errorf("%s: address %s, want %s", h.Name, mh.Address, h.Address)
				}
				entries := map[string]bundle.ManifestEntry{}
				var paths []string
				for _, e := range mh.Files {
					if _, dup := entries[e.Path]; dup {
						t.Errorf("%s: %s listed twice", h.Name, e.Path)
					}
					entries[e.Path] = e
					paths = append(paths, e.Path)
				}
				if !sort.StringsAreSorted(paths) {
					t.Errorf("%s: files not sorted: %v", h.Name, paths)
				}
				files := r.b.HostFiles(h.Name)
				if len(files) != len(mh.Files) {
					t.Errorf("%s: manifest lists %d files, the bundle has %d", h.Name, len(mh.Files), len(files))
				}
				for _, f := range files {
					e, ok := entries[f.Path]
					if !ok {
						t.Errorf("%s: %s not in the manifest", h.Name, f.Path)
						continue
					}
					listed++
					if want := fmt.Sprintf("%04o", uint32(f.Mode.Perm())); e.Mode != want {
						t.Errorf("%s:%s mode %s, want %s", h.Name, f.Path, e.Mode, want)
					}
					if e.Owner != f.Owner || e.Owner == "" {
						t.Errorf("%s:%s owner %q, file's %q", h.Name, f.Path, e.Owner, f.Owner)
					}
					if e.SHA256 != sha(f.Data) {
						t.Errorf("%s:%s sha256 does not match the file", h.Name, f.Path)
					}
					if !path.IsAbs(e.Path) {
						t.Errorf("%s: path %s is not absolute", h.Name, e.Path)
					}
				}
			}
			hostFiles := 0
			for _, f := range r.b.Files() {
				if f.Host != "" {
					hostFiles++
				}
			}
			if listed != hostFiles {
				t.Errorf("manifest covers %d host files of %d", listed, hostFiles)
			}
		})
	}
}

func TestManifestListsBundleFiles(t *testing.T) {
	for _, tc := range manifestSpecs {
		t.Run(tc.name, func(t *testing.T) {
			r := renderForManifest(t, tc.src)
			listed := map[string]bundle.ManifestEntry{}
			for _, e := range r.m.Files {
				listed[e.Path] = e
			}
			if _, ok := listed[bundle.ManifestName]; ok {
				t.Error("MANIFEST.json lists itself")
			}
			n := 0
			for _, f := range r.b.Files() {
				if f.Host != "" || f.Path == bundle.ManifestName {
					continue
				}
				n++
				e, ok := listed[f.Path]
				if !ok {
					t.Errorf("bundle file %s not in the manifest", f.Path)
					continue
				}
				if e.SHA256 != sha(f.Data) || e.Mode != fmt.Sprintf("%04o", uint32(f.Mode.Perm())) || e.Owner != "root" {
					t.Errorf("%s: entry %+v does not match the file (mode %v)", f.Path, e, f.Mode)
				}
			}
			if n != len(r.m.Files) {
				t.Errorf("manifest lists %d bundle files, the bundle has %d", len(r.m.Files), n)
			}
			for _, want := range []string{runbook.Path, "cluster/kube-proxy-repoint.patch.yaml", "cluster/kube-proxy-repoint.sh"} {
				if _, ok := listed[want]; !ok {
					t.Errorf("%s not listed", want)
				}
			}
		})
	}
}

func TestManifestSteps(t *testing.T) {
	for _, tc := range manifestSpecs {
		t.Run(tc.name, func(t *testing.T) {
			r := renderForManifest(t, tc.src)
			want := runbook.Steps(r.p)
			if len(r.m.Steps) == 0 {
				t.Fatal("no steps")
			}
			if !reflect.DeepEqual(stepNamesOf(r.m.Steps), stepNamesOf(want)) {
				t.Errorf("steps %v, want %v", stepNamesOf(r.m.Steps), stepNamesOf(want))
			}
			for i := range want {
				if i < len(r.m.Steps) && !reflect.DeepEqual(r.m.Steps[i].Hosts, want[i].Hosts) && len(want[i].Hosts) > 0 {
					t.Errorf("step %s hosts %v, want %v", want[i].Name, r.m.Steps[i].Hosts, want[i].Hosts)
				}
			}
			if r.m.Steps[0].Name != runbook.StepCopy {
				t.Errorf("first step %s", r.m.Steps[0].Name)
			}
			// Every host named by a step exists.
			for _, s := range r.m.Steps {
				for _, h := range s.Hosts {
					if _, ok := r.m.Hosts[h]; !ok {
						t.Errorf("step %s names unknown host %s", s.Name, h)
					}
				}
			}
			rb, ok := r.b.Get(runbook.Path)
			if !ok {
				t.Fatal("no RUNBOOK.md")
			}
			for _, s := range r.m.Steps {
				if !strings.Contains(string(rb.Data), s.Name) {
					t.Errorf("RUNBOOK.md lacks step %s", s.Name)
				}
			}
		})
	}
}

func stepNamesOf(steps []bundle.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

// TestManifestMatchesWrittenBundle writes the bundle and checks the
// manifest against the disk, as `hagen verify` and transports would.
func TestManifestMatchesWrittenBundle(t *testing.T) {
	r := renderForManifest(t, manifestExternalSpec)
	dir := filepath.Join(t.TempDir(), "out")
	if err := bundle.Write(dir, r.b, false); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, bundle.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var m bundle.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	check := func(rel string, e bundle.ManifestEntry) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		info, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return
		}
		if got := fmt.Sprintf("%04o", uint32(info.Mode().Perm())); got != e.Mode {
			t.Errorf("%s: mode on disk %s, manifest %s", rel, got, e.Mode)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if sha(data) != e.SHA256 {
			t.Errorf("%s: sha256 on disk differs from the manifest", rel)
		}
	}
	n := 0
	for name, h := range m.Hosts {
		for _, e := range h.Files {
			check(path.Join("hosts", name, strings.TrimPrefix(e.Path, "/")), e)
			n++
		}
	}
	for _, e := range m.Files {
		check(e.Path, e)
		n++
	}
	// Nothing on disk that the manifest does not list, but the manifest.
	disk := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			disk++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if disk != n+1 {
		t.Errorf("%d files on disk, manifest lists %d (+ itself)", disk, n)
	}
	if !bundle.Unchanged(dir, r.b) {
		t.Error("Unchanged false right after Write")
	}
}

func TestRenderRoles(t *testing.T) {
	r := renderForManifest(t, manifestExternalSpec)
	has := func(host, p string) bool {
		for _, e := range r.m.Hosts[host].Files {
			if e.Path == p {
				return true
			}
		}
		return false
	}
	for _, h := range []string{"master0", "master1", "master2", "worker0"} {
		if !has(h, kubeadm.ConfigPath) {
			t.Errorf("%s lacks %s", h, kubeadm.ConfigPath)
		}
	}
	for _, h := range []string{"etcd0", "etcd1", "etcd2"} {
		if has(h, kubeadm.ConfigPath) {
			t.Errorf("dedicated etcd host %s gets kubeadm.yaml", h)
		}
		if !has(h, "/etc/kubernetes/manifests/etcd.yaml") {
			t.Errorf("static-pod etcd member %s lacks its manifest", h)
		}
		if !has(h, "/etc/kubernetes/pki/etcd/server.crt") {
			t.Errorf("%s lacks its server cert", h)
		}
	}
	for _, h := range []string{"master0", "master1", "master2"} {
		if has(h, "/etc/kubernetes/manifests/etcd.yaml") {
			t.Errorf("external topology: master %s runs etcd", h)
		}
		for _, p := range []string{"/etc/keepalived/keepalived.conf", "/etc/haproxy/haproxy.cfg"} {
			if !has(h, p) {
				t.Errorf("%s lacks %s", h, p)
			}
		}
	}
	for name, h := range r.m.Hosts {
		for _, e := range h.Files {
			if e.Path == "/etc/kubernetes/pki/etcd/ca.key" {
				t.Errorf("%s gets the etcd CA key", name)
			}
			if strings.HasPrefix(name, "worker") && strings.HasPrefix(e.Path, "/etc/kubernetes/pki/") {
				t.Errorf("worker %s gets %s", name, e.Path)
			}
		}
	}
}

func TestRenderFailsOnIncompleteSecrets(t *testing.T) {
	r := renderForManifest(t, manifestStackedSpec)
	s := *r.s
	s.Leaves = nil
	if _, err := render.Render(r.p, &s); err == nil {
		t.Error("Render with no leaves succeeded")
	}
}

func TestRenderWithTarballs(t *testing.T) {
	r := renderForManifest(t, manifestStackedSpec)
	b, err := render.RenderWith(r.p, r.s, render.Options{Tarballs: true})
	if err != nil {
		t.Fatal(err)
	}
	mf, _ := b.Get(bundle.ManifestName)
	var m bundle.Manifest
	if err := json.Unmarshal(mf.Data, &m); err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, e := range m.Files {
		listed[e.Path] = e.SHA256
	}
	for _, h := range r.p.Hosts {
		p := "tar/" + h.Name + ".tar.gz"
		f, ok := b.Get(p)
		if !ok {
			t.Errorf("no %s", p)
			continue
		}
		if f.Mode != bundle.ModeSecret {
			t.Errorf("%s mode %v, want 0600: it holds keys", p, f.Mode)
		}
		if listed[p] != sha(f.Data) {
			t.Errorf("%s not in the manifest with its digest", p)
		}
		gz, err := gzip.NewReader(bytes.NewReader(f.Data))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gz)
		got := map[string][]byte{}
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Typeflag == tar.TypeReg {
				data, _ := io.ReadAll(tr)
				got["/"+hdr.Name] = data
			}
		}
		files := b.HostFiles(h.Name)
		if len(got) != len(files) {
			t.Errorf("%s: %d files, host has %d", p, len(got), len(files))
		}
		for _, hf := range files {
			if !bytes.Equal(got[hf.Path], hf.Data) {
				t.Errorf("%s: %s differs from the host file", p, hf.Path)
			}
		}
	}
	// Without tarballs, the rest of the bundle is the same.
	for _, f := range r.b.Files() {
		if f.Path == bundle.ManifestName {
			continue
		}
		g, ok := b.Get(f.BundlePath())
		if !ok || !bytes.Equal(g.Data, f.Data) {
			t.Errorf("%s differs with tarballs", f.BundlePath())
		}
	}
}
