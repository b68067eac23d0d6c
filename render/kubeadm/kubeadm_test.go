package kubeadm

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
)

// base is three masters behind a keepalived VIP and two workers. The hosts
// are written out of name order: the init host is the first by name, not
// the first written.
const base = `name: "prod"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
pki: keyAlgorithm: "ECDSA-P256"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0", routerID: 51}
hosts: {
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"]}
	w1: {address: "10.0.0.21", roles: ["worker"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
}
`

// withVersion replaces the Kubernetes version of base. kubeadm 1.9 and 1.10
// load only RSA keys (vet refuses ECDSA for them): their keys are RSA-2048.
func withVersion(v string) string {
	src := strings.Replace(base, `"1.35.0"`, `"`+v+`"`, 1)
	if strings.HasPrefix(v, "1.9.") || strings.HasPrefix(v, "1.10.") {
		src = strings.Replace(src, `"ECDSA-P256"`, `"RSA-2048"`, 1)
	}
	return src
}

const externalLB = `name: "cloud"
kubernetes: version: "1.35.0"
network: podSubnet: "192.168.0.0/16"
pki: keyAlgorithm: "ECDSA-P256"
controlPlane: loadBalancer: external: endpoint: "k8s-api.cloud.example.com:6443"
etcd: run: "static-pod"
hosts: {
	"cp-a": {address: "172.31.0.10", roles: ["control-plane"]}
	"cp-b": {address: "172.31.16.10", roles: ["control-plane"]}
	"cp-c": {address: "172.31.32.10", roles: ["control-plane"]}
	"node-a": {address: "172.31.0.100", roles: ["worker"]}
}
`

const ipv6 = `name: "v6"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
pki: keyAlgorithm: "ECDSA-P256"
controlPlane: loadBalancer: keepalived: {vip: "2001:db8::100", interface: "eth0", routerID: 51}
hosts: {
	m0: {address: "2001:db8::10/64", roles: ["control-plane"]}
	m1: {address: "2001:db8::11/64", roles: ["control-plane"]}
	m2: {address: "2001:db8::12/64", roles: ["control-plane"]}
	w0: {address: "2001:db8::20", roles: ["worker"]}
}
`

type rendered struct {
	p     *model.Plan
	s     *pki.Secrets
	files []bundle.File
}

// secretsBySrc keeps each spec's secrets for the tests that render it
// again: the v1alpha1 specs' RSA keys take seconds to generate. The tests
// only read them and do not run in parallel.
var secretsBySrc = map[string]*pki.Secrets{}

func render(t *testing.T, src string) rendered {
	t.Helper()
	p := testplan.Compile(t, src)
	s, ok := secretsBySrc[src]
	if !ok {
		s = testplan.Secrets(t, p)
		secretsBySrc[src] = s
	}
	files, err := Files(p, s)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	return rendered{p: p, s: s, files: files}
}

// file returns host's file at path, or fails.
func (r rendered) file(t *testing.T, host, p string) bundle.File {
	t.Helper()
	for _, f := range r.files {
		if f.Host == host && f.Path == p {
			return f
		}
	}
	t.Fatalf("no %s on %s", p, host)
	return bundle.File{}
}

func (r rendered) has(host, p string) bool {
	for _, f := range r.files {
		if f.Host == host && f.Path == p {
			return true
		}
	}
	return false
}

// docs decodes host's kubeadm.yaml into its documents, by kind.
func (r rendered) docs(t *testing.T, host string) map[string]map[string]any {
	t.Helper()
	return decodeDocs(t, r.file(t, host, ConfigPath).Data)
}

func decodeDocs(t *testing.T, data []byte) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, raw := range bytes.Split(data, []byte("\n---\n")) {
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("decoding %s: %v", raw, err)
		}
		if doc == nil {
			continue
		}
		kind, _ := doc["kind"].(string)
		if kind == "" {
			t.Fatalf("document without kind:\n%s", raw)
		}
		if _, dup := out[kind]; dup {
			t.Fatalf("two %s documents", kind)
		}
		out[kind] = doc
	}
	return out
}

func kinds(docs map[string]map[string]any) []string {
	var ks []string
	for k := range docs {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// get walks a decoded document: get(doc, "a", "b") is doc.a.b.
func get(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for i, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T, not a map", strings.Join(keys[:i], "."), v)
		}
		v, ok = m[k]
		if !ok {
			t.Fatalf("no %s in %v", strings.Join(keys[:i+1], "."), m)
		}
	}
	return v
}

func has(v any, keys ...string) bool {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

func str(t *testing.T, v any, keys ...string) string {
	t.Helper()
	x := get(t, v, keys...)
	s, ok := x.(string)
	if !ok {
		t.Fatalf("%s is %T (%v), not a string", strings.Join(keys, "."), x, x)
	}
	return s
}

func strs(t *testing.T, v any, keys ...string) []string {
	t.Helper()
	x := get(t, v, keys...)
	l, ok := x.([]any)
	if !ok {
		t.Fatalf("%s is %T (%v), not a list", strings.Join(keys, "."), x, x)
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			t.Fatalf("%s[%d] is %T, not a string", strings.Join(keys, "."), i, e)
		}
		out[i] = s
	}
	return out
}

// caHash computes kubeadm's CA pin independently of pki.CACertHash.
func caHash(t *testing.T, certPEM string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil {
		t.Fatal("cluster CA is not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestAPIVersionPerKubernetesVersion(t *testing.T) {
	for _, tc := range []struct {
		version, api string
	}{
		{"1.35.0", "kubeadm.k8s.io/v1beta4"},
		{"1.31.2", "kubeadm.k8s.io/v1beta4"},
		{"1.30.4", "kubeadm.k8s.io/v1beta3"},
		{"1.22.0", "kubeadm.k8s.io/v1beta3"},
		{"1.10.13", "kubeadm.k8s.io/v1alpha1"},
		{"1.9.11", "kubeadm.k8s.io/v1alpha1"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			r := render(t, withVersion(tc.version))
			for _, h := range []string{"m0", "m1", "m2", "w0", "w1"} {
				for kind, doc := range r.docs(t, h) {
					if got := str(t, doc, "apiVersion"); got != tc.api {
						t.Errorf("%s %s: apiVersion %s, want %s", h, kind, got, tc.api)
					}
				}
			}
		})
	}
}

func TestKindsPerHost(t *testing.T) {
	r := render(t, base)
	want := map[string][]string{
		"m0": {"ClusterConfiguration", "InitConfiguration"},
		"m1": {"JoinConfiguration"},
		"m2": {"JoinConfiguration"},
		"w0": {"JoinConfiguration"},
		"w1": {"JoinConfiguration"},
	}
	for h, w := range want {
		if got := kinds(r.docs(t, h)); !reflect.DeepEqual(got, w) {
			t.Errorf("%s: kinds %v, want %v", h, got, w)
		}
	}
	init := r.docs(t, "m0")["InitConfiguration"]
	if got := str(t, init, "localAPIEndpoint", "advertiseAddress"); got != "10.0.0.10" {
		t.Errorf("init advertiseAddress %s, want 10.0.0.10", got)
	}
	if got := str(t, init, "nodeRegistration", "name"); got != "m0" {
		t.Errorf("init node name %s", got)
	}
	for h, addr := range map[string]string{"m1": "10.0.0.11", "m2": "10.0.0.12"} {
		j := r.docs(t, h)["JoinConfiguration"]
		if got := str(t, j, "controlPlane", "localAPIEndpoint", "advertiseAddress"); got != addr {
			t.Errorf("%s: controlPlane.localAPIEndpoint.advertiseAddress %s, want %s", h, got, addr)
		}
		if got := get(t, j, "controlPlane", "localAPIEndpoint", "bindPort"); got != float64(6443) {
			t.Errorf("%s: bindPort %v, want 6443", h, got)
		}
		if got := str(t, j, "nodeRegistration", "name"); got != h {
			t.Errorf("%s: node name %s", h, got)
		}
	}
	for _, h := range []string{"w0", "w1"} {
		j := r.docs(t, h)["JoinConfiguration"]
		if has(j, "controlPlane") {
			t.Errorf("%s: a worker's join has controlPlane: %v", h, j["controlPlane"])
		}
		if got := str(t, j, "nodeRegistration", "name"); got != h {
			t.Errorf("%s: node name %s", h, got)
		}
	}
}

func TestDedicatedEtcdHostsGetNoKubeadm(t *testing.T) {
	r := render(t, testplan.ExternalEtcd)
	for _, f := range r.files {
		if strings.HasPrefix(f.Host, "etcd") {
			t.Errorf("etcd host %s gets %s", f.Host, f.Path)
		}
	}
	for _, h := range []string{"master0", "master1", "master2", "worker0"} {
		if !r.has(h, ConfigPath) {
			t.Errorf("%s lacks %s", h, ConfigPath)
		}
	}
}

func TestExternalEtcdEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		init      string
		endpoints []string
	}{
		{"stacked", base, "m0", []string{"https://10.0.0.10:2379", "https://10.0.0.11:2379", "https://10.0.0.12:2379"}},
		{"external", testplan.ExternalEtcd, "master0", []string{"https://192.168.10.20:2379", "https://192.168.10.21:2379", "https://192.168.10.22:2379"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.src)
			cc := r.docs(t, tc.init)["ClusterConfiguration"]
			if has(cc, "etcd", "local") {
				t.Error("etcd.local set: hagen, not kubeadm, runs etcd")
			}
			if got := strs(t, cc, "etcd", "external", "endpoints"); !reflect.DeepEqual(got, tc.endpoints) {
				t.Errorf("endpoints %v, want %v", got, tc.endpoints)
			}
			for key, want := range map[string]string{
				"caFile":   "/etc/kubernetes/pki/etcd/ca.crt",
				"certFile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
				"keyFile":  "/etc/kubernetes/pki/apiserver-etcd-client.key",
			} {
				if got := str(t, cc, "etcd", "external", key); got != want {
					t.Errorf("etcd.external.%s = %s, want %s", key, got, want)
				}
			}
		})
	}
}

func TestControlPlaneEndpointAndCertSANs(t *testing.T) {
	for _, tc := range []struct {
		name, src, init string
		endpoint, host  string
	}{
		{"vip", base, "m0", "10.0.0.100:6443", "10.0.0.100"},
		{"haproxy", testplan.ExternalEtcd, "master0", "192.168.10.50:8443", "192.168.10.50"},
		{"external", externalLB, "cp-a", "k8s-api.cloud.example.com:6443", "k8s-api.cloud.example.com"},
		{"ipv6", ipv6, "m0", "[2001:db8::100]:6443", "2001:db8::100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.src)
			cc := r.docs(t, tc.init)["ClusterConfiguration"]
			if got := str(t, cc, "controlPlaneEndpoint"); got != tc.endpoint {
				t.Errorf("controlPlaneEndpoint %s, want %s", got, tc.endpoint)
			}
			sans := strs(t, cc, "apiServer", "certSANs")
			if !contains(sans, tc.host) {
				t.Errorf("certSANs %v lack the endpoint host %s", sans, tc.host)
			}
			for _, f := range r.files {
				if f.Path != ConfigPath || f.Host == tc.init {
					continue
				}
				j := decodeDocs(t, f.Data)["JoinConfiguration"]
				if got := str(t, j, "discovery", "bootstrapToken", "apiServerEndpoint"); got != tc.endpoint {
					t.Errorf("%s: discovery endpoint %s, want %s", f.Host, got, tc.endpoint)
				}
			}
		})
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestCACertHashesPinTheClusterCA(t *testing.T) {
	for _, version := range []string{"1.35.0", "1.30.0", "1.10.13"} {
		t.Run(version, func(t *testing.T) {
			r := render(t, withVersion(version))
			want := caHash(t, r.s.CAs[pki.ClusterCA].Cert)
			joins := 0
			for _, f := range r.files {
				if f.Path != ConfigPath {
					continue
				}
				if strings.Contains(strings.ToLower(string(f.Data)), "unsafeskipcaverification") {
					t.Errorf("%s: unsafeSkipCAVerification in\n%s", f.Host, f.Data)
				}
				for kind, doc := range decodeDocs(t, f.Data) {
					var hashes []string
					switch kind {
					case "JoinConfiguration":
						hashes = strs(t, doc, "discovery", "bootstrapToken", "caCertHashes")
					case "NodeConfiguration":
						hashes = strs(t, doc, "discoveryTokenCACertHashes")
					default:
						continue
					}
					joins++
					if !reflect.DeepEqual(hashes, []string{want}) {
						t.Errorf("%s %s: caCertHashes %v, want [%s]", f.Host, kind, hashes, want)
					}
				}
			}
			wantJoins := 4 // m1, m2, w0, w1
			if version == "1.10.13" {
				wantJoins = 2 // every master inits
			}
			if joins != wantJoins {
				t.Errorf("%d join documents, want %d", joins, wantJoins)
			}
		})
	}
}

func TestTokenIsTheSecretsToken(t *testing.T) {
	for _, version := range []string{"1.35.0", "1.30.0", "1.10.13", "1.9.11"} {
		t.Run(version, func(t *testing.T) {
			r := render(t, withVersion(version))
			token := r.s.BootstrapToken
			if !regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`).MatchString(token) {
				t.Fatalf("secrets' token %q is not a kubeadm token", token)
			}
			for _, f := range r.files {
				if f.Path != ConfigPath {
					continue
				}
				for kind, doc := range r.docs(t, f.Host) {
					var got []string
					switch kind {
					case "InitConfiguration":
						bts := get(t, doc, "bootstrapTokens").([]any)
						for _, bt := range bts {
							got = append(got, str(t, bt, "token"))
						}
					case "JoinConfiguration":
						got = []string{str(t, doc, "discovery", "bootstrapToken", "token")}
					case "MasterConfiguration", "NodeConfiguration":
						got = []string{str(t, doc, "token")}
					default:
						continue
					}
					if !reflect.DeepEqual(got, []string{token}) {
						t.Errorf("%s %s: tokens %v, want [%s]", f.Host, kind, got, token)
					}
				}
			}
		})
	}
}

func TestModes(t *testing.T) {
	r := render(t, base)
	for _, f := range r.files {
		want := bundle.ModePublic
		if f.Path == ConfigPath || f.Path == RejoinConfigPath {
			want = bundle.ModeSecret // holds the bootstrap token
		}
		if f.Mode != want {
			t.Errorf("%s:%s mode %v, want %v", f.Host, f.Path, f.Mode, want)
		}
	}
}

func TestTaints(t *testing.T) {
	sched := strings.Replace(base, "controlPlane: loadBalancer:", "controlPlane: schedulable: true\ncontrolPlane: loadBalancer:", 1)
	for _, tc := range []struct {
		name, src   string
		schedulable bool
	}{
		{"default", base, false},
		{"schedulable", sched, true},
		{"schedulable-v1beta3", strings.Replace(sched, `"1.35.0"`, `"1.30.0"`, 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.src)
			if r.p.ControlPlane.Schedulable != tc.schedulable {
				t.Fatalf("plan schedulable %v, want %v", r.p.ControlPlane.Schedulable, tc.schedulable)
			}
			for _, h := range []string{"m0", "m1", "m2", "w0", "w1"} {
				docs := r.docs(t, h)
				doc := docs["InitConfiguration"]
				if doc == nil {
					doc = docs["JoinConfiguration"]
				}
				nr := get(t, doc, "nodeRegistration")
				master := strings.HasPrefix(h, "m")
				if master && tc.schedulable {
					taints, ok := get(t, nr, "taints").([]any)
					if !ok || len(taints) != 0 {
						t.Errorf("%s: taints %v, want []", h, get(t, nr, "taints"))
					}
				} else if has(nr, "taints") {
					t.Errorf("%s: taints %v, want none (kubeadm's default)", h, get(t, nr, "taints"))
				}
			}
			// The raw text says "taints: []" so kubeadm sees an empty list, not null.
			init := string(r.file(t, "m0", ConfigPath).Data)
			if tc.schedulable != strings.Contains(init, "taints: []") {
				t.Errorf("schedulable=%v but init file:\n%s", tc.schedulable, init)
			}
		})
	}
}

func TestLegacyTaint(t *testing.T) {
	sched := strings.Replace(withVersion("1.10.13"), "controlPlane: loadBalancer:", "controlPlane: schedulable: true\ncontrolPlane: loadBalancer:", 1)
	r := render(t, sched)
	if got := get(t, r.docs(t, "m0")["MasterConfiguration"], "noTaintMaster"); got != true {
		t.Errorf("noTaintMaster %v, want true", got)
	}
	r = render(t, withVersion("1.10.13"))
	if has(r.docs(t, "m0")["MasterConfiguration"], "noTaintMaster") {
		t.Error("noTaintMaster set on an unschedulable control plane")
	}
}

func TestKubeletExtraArgs(t *testing.T) {
	t.Run("v1beta4", func(t *testing.T) {
		r := render(t, base)
		for h, addr := range map[string]string{"m0": "10.0.0.10", "m1": "10.0.0.11", "w1": "10.0.0.21"} {
			docs := r.docs(t, h)
			doc := docs["InitConfiguration"]
			if doc == nil {
				doc = docs["JoinConfiguration"]
			}
			args, ok := get(t, doc, "nodeRegistration", "kubeletExtraArgs").([]any)
			if !ok {
				t.Fatalf("%s: kubeletExtraArgs is %T, want a list of {name, value}", h, get(t, doc, "nodeRegistration", "kubeletExtraArgs"))
			}
			want := []any{map[string]any{"name": "node-ip", "value": addr}}
			if !reflect.DeepEqual(args, want) {
				t.Errorf("%s: kubeletExtraArgs %v, want %v", h, args, want)
			}
		}
	})
	t.Run("v1beta3", func(t *testing.T) {
		r := render(t, withVersion("1.30.0"))
		for h, addr := range map[string]string{"m0": "10.0.0.10", "m2": "10.0.0.12", "w0": "10.0.0.20"} {
			docs := r.docs(t, h)
			doc := docs["InitConfiguration"]
			if doc == nil {
				doc = docs["JoinConfiguration"]
			}
			args, ok := get(t, doc, "nodeRegistration", "kubeletExtraArgs").(map[string]any)
			if !ok {
				t.Fatalf("%s: kubeletExtraArgs is %T, want a map", h, get(t, doc, "nodeRegistration", "kubeletExtraArgs"))
			}
			if want := map[string]any{"node-ip": addr}; !reflect.DeepEqual(args, want) {
				t.Errorf("%s: kubeletExtraArgs %v, want %v", h, args, want)
			}
		}
	})
}

func TestV1beta4OnlyFields(t *testing.T) {
	r := render(t, base)
	cc := r.docs(t, "m0")["ClusterConfiguration"]
	if got := str(t, cc, "encryptionAlgorithm"); got != "ECDSA-P256" {
		t.Errorf("encryptionAlgorithm %s, want ECDSA-P256", got)
	}
	if got := str(t, cc, "certificateValidityPeriod"); got != "8760h0m0s" {
		t.Errorf("certificateValidityPeriod %s, want 8760h0m0s", got)
	}
	if got := str(t, cc, "caCertificateValidityPeriod"); got != "87600h0m0s" {
		t.Errorf("caCertificateValidityPeriod %s, want 87600h0m0s", got)
	}

	for _, v := range []string{"1.30.0", "1.22.0"} {
		r = render(t, withVersion(v))
		for _, f := range r.files {
			for _, key := range []string{"encryptionAlgorithm", "certificateValidityPeriod", "caCertificateValidityPeriod"} {
				if bytes.Contains(f.Data, []byte(key)) {
					t.Errorf("%s %s:%s has v1beta4's %s", v, f.Host, f.Path, key)
				}
			}
		}
	}
}

func TestLegacyMasterConfiguration(t *testing.T) {
	for _, tc := range []struct {
		version string
		extra   map[string]any
		cpe     bool
	}{
		{"1.9.11", map[string]any{"apiserver-count": "3"}, false},
		{"1.10.13", map[string]any{"endpoint-reconciler-type": "lease"}, true},
	} {
		t.Run(tc.version, func(t *testing.T) {
			r := render(t, withVersion(tc.version))
			for h, addr := range map[string]string{"m0": "10.0.0.10", "m1": "10.0.0.11", "m2": "10.0.0.12"} {
				docs := r.docs(t, h)
				if got := kinds(docs); !reflect.DeepEqual(got, []string{"MasterConfiguration"}) {
					t.Fatalf("%s: kinds %v, want [MasterConfiguration]", h, got)
				}
				mc := docs["MasterConfiguration"]
				if got := get(t, mc, "apiServerExtraArgs"); !reflect.DeepEqual(got, tc.extra) {
					t.Errorf("%s: apiServerExtraArgs %v, want %v", h, got, tc.extra)
				}
				if got := str(t, mc, "api", "advertiseAddress"); got != addr {
					t.Errorf("%s: advertiseAddress %s, want %s", h, got, addr)
				}
				if got := str(t, mc, "nodeName"); got != h {
					t.Errorf("%s: nodeName %s", h, got)
				}
				if tc.cpe {
					if got := str(t, mc, "api", "controlPlaneEndpoint"); got != "10.0.0.100" {
						t.Errorf("%s: api.controlPlaneEndpoint %s, want 10.0.0.100", h, got)
					}
				} else if has(mc, "api", "controlPlaneEndpoint") {
					t.Errorf("%s: kubeadm 1.9 has no api.controlPlaneEndpoint", h)
				}
				if sans := strs(t, mc, "apiServerCertSANs"); !contains(sans, "10.0.0.100") {
					t.Errorf("%s: apiServerCertSANs %v lack the VIP", h, sans)
				}
				if got := strs(t, mc, "etcd", "endpoints"); len(got) != 3 {
					t.Errorf("%s: etcd endpoints %v", h, got)
				}
				if has(mc, "patches") || r.has(h, PatchesDir+"/"+kubeletPatchName) {
					t.Errorf("%s: kubeadm %s reads no patches", h, tc.version)
				}
			}
			for _, h := range []string{"w0", "w1"} {
				docs := r.docs(t, h)
				if got := kinds(docs); !reflect.DeepEqual(got, []string{"NodeConfiguration"}) {
					t.Fatalf("%s: kinds %v, want [NodeConfiguration]", h, got)
				}
				if got := strs(t, docs["NodeConfiguration"], "discoveryTokenAPIServers"); !reflect.DeepEqual(got, []string{"10.0.0.100:6443"}) {
					t.Errorf("%s: discoveryTokenAPIServers %v", h, got)
				}
			}
		})
	}
}

// kubeadm's --patches file names: target[suffix][+patchtype].(yaml|json).
var patchTargets = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubeletconfiguration", "corednsdeployment"}

var patchRest = regexp.MustCompile(`^[^+.]*(\+(strategic|merge|json))?\.(yaml|json)$`)

func validPatchName(name string) bool {
	for _, target := range patchTargets {
		if rest, ok := strings.CutPrefix(name, target); ok && patchRest.MatchString(rest) {
			return true
		}
	}
	return false
}

func TestPatchNameValidator(t *testing.T) {
	for name, want := range map[string]bool{
		"kubeletconfiguration+strategic.yaml": true,
		"kube-apiserver0+merge.json":          true,
		"etcd.yaml":                           true,
		"kubelet+strategic.yaml":              false,
		"kubeletconfiguration+strategic.yml":  false,
		"kubeletconfiguration+bogus.yaml":     false,
	} {
		if got := validPatchName(name); got != want {
			t.Errorf("validPatchName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestPatches(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    bool
	}{
		{"1.35.0", true},
		{"1.30.0", true},
		{"1.25.0", true},
		{"1.24.0", false},
		{"1.22.0", false},
		{"1.10.13", false},
	} {
		t.Run(tc.version, func(t *testing.T) {
			r := render(t, withVersion(tc.version))
			for _, h := range []string{"m0", "m1", "m2", "w0", "w1"} {
				var patchFiles []bundle.File
				for _, f := range r.files {
					if f.Host == h && strings.HasPrefix(f.Path, PatchesDir+"/") {
						patchFiles = append(patchFiles, f)
					}
				}
				for kind, doc := range r.docs(t, h) {
					if kind == "ClusterConfiguration" {
						continue
					}
					if got := has(doc, "patches"); got != tc.want {
						t.Errorf("%s %s: patches set %v, want %v", h, kind, got, tc.want)
					} else if got && str(t, doc, "patches", "directory") != PatchesDir {
						t.Errorf("%s %s: patches.directory %s, want %s", h, kind, str(t, doc, "patches", "directory"), PatchesDir)
					}
				}
				if !tc.want {
					if len(patchFiles) > 0 {
						t.Errorf("%s: patch files for kubeadm %s: %v", h, tc.version, patchFiles[0].Path)
					}
					continue
				}
				found := false
				for _, f := range patchFiles {
					name := path.Base(f.Path)
					if path.Dir(f.Path) != PatchesDir {
						t.Errorf("%s: patch %s not directly in %s", h, f.Path, PatchesDir)
					}
					if !validPatchName(name) {
						t.Errorf("%s: kubeadm ignores patch file %s", h, name)
					}
					if name == "kubeletconfiguration+strategic.yaml" {
						found = true
						var doc map[string]any
						if err := yaml.Unmarshal(f.Data, &doc); err != nil {
							t.Fatalf("patch: %v", err)
						}
						if doc["kind"] != "KubeletConfiguration" || doc["apiVersion"] != "kubelet.config.k8s.io/v1beta1" {
							t.Errorf("patch is %v %v", doc["apiVersion"], doc["kind"])
						}
					}
				}
				if !found {
					t.Errorf("%s: no kubeletconfiguration+strategic.yaml in %s", h, PatchesDir)
				}
			}
		})
	}
}

func TestIPv6(t *testing.T) {
	r := render(t, ipv6)
	cc := r.docs(t, "m0")["ClusterConfiguration"]
	if got := str(t, cc, "controlPlaneEndpoint"); got != "[2001:db8::100]:6443" {
		t.Errorf("controlPlaneEndpoint %s", got)
	}
	if got := strs(t, cc, "etcd", "external", "endpoints"); got[0] != "https://[2001:db8::10]:2379" {
		t.Errorf("etcd endpoints %v: IPv6 must be bracketed", got)
	}
	sans := strs(t, cc, "apiServer", "certSANs")
	if !contains(sans, "::1") || !contains(sans, "2001:db8::100") {
		t.Errorf("certSANs %v", sans)
	}
	j := r.docs(t, "w0")["JoinConfiguration"]
	if got := str(t, j, "discovery", "bootstrapToken", "apiServerEndpoint"); got != "[2001:db8::100]:6443" {
		t.Errorf("join endpoint %s", got)
	}
}

func TestDeterministic(t *testing.T) {
	r := render(t, base)
	again, err := Files(r.p, r.s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.files, again) {
		t.Error("two renders of the same inputs differ")
	}
}

func TestClusterConfigurationBasics(t *testing.T) {
	r := render(t, base)
	cc := r.docs(t, "m0")["ClusterConfiguration"]
	for key, want := range map[string]string{
		"clusterName":       "prod",
		"kubernetesVersion": "v1.35.0",
		"certificatesDir":   "/etc/kubernetes/pki",
	} {
		if got := str(t, cc, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if got := str(t, cc, "networking", "podSubnet"); got != "10.32.0.0/12" {
		t.Errorf("podSubnet %s", got)
	}
	if got := str(t, cc, "networking", "serviceSubnet"); got != "10.96.0.0/12" {
		t.Errorf("serviceSubnet %s", got)
	}
	if got := fmt.Sprint(get(t, r.docs(t, "m0")["InitConfiguration"], "bootstrapTokens")); !strings.Contains(got, "ttl:24h0m0s") {
		t.Errorf("bootstrapTokens %s: want a 24h ttl", got)
	}
}

// TestLegacyHAProxyEndpoint: kubeadm 1.10 builds every kubeconfig's server
// from api.controlPlaneEndpoint (a host only) and api.bindPort
// (util.GetMasterHostPort), so masters would bypass HAProxy while workers
// dial its port: the compiler refuses the combination.
func TestLegacyHAProxyEndpoint(t *testing.T) {
	src := strings.Replace(withVersion("1.10.13"), `routerID: 51}`, `routerID: 51, haproxy: port: 8443}`, 1)
	_, err := compiler.Compile("t.cue", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "haproxy") {
		t.Fatalf("kubeadm 1.10 with HAProxy: got %v, want an error on controlPlane.loadBalancer.keepalived.haproxy", err)
	}
}
