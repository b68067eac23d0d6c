package compiler

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hagen/hagen/compiler/model"
)

func compile(t *testing.T, file, src string) *Result {
	t.Helper()
	res, err := Compile(file, []byte(src))
	if err != nil {
		t.Fatalf("Compile(%s): %v", file, err)
	}
	return res
}

// TestExampleSequences compiles each example sequence (examples/grow/) in
// order, each spec with the history the one before leaves: the last one
// plans a change of membership, and the only warnings are a single
// master's.
func TestExampleSequences(t *testing.T) {
	dirs, err := filepath.Glob("../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		specs, _ := filepath.Glob(filepath.Join(d, "*.cue"))
		if len(specs) == 0 {
			continue
		}
		n++
		t.Run(filepath.Base(d), func(t *testing.T) {
			var h *model.History
			var res *Result
			for _, spec := range specs {
				src, err := os.ReadFile(spec)
				if err != nil {
					t.Fatal(err)
				}
				var opts Options
				if h != nil {
					opts = Options{History: h, Cluster: res.Plan.Name}
				}
				if res, err = CompileWith(spec, src, opts); err != nil {
					t.Fatalf("%s: %v", spec, err)
				}
				for _, w := range res.Warnings {
					if len(res.Plan.ControlPlane.Hosts) > 1 || !strings.Contains(w.Msg, "not highly available") {
						t.Errorf("%s: %s", spec, w)
					}
				}
				h = res.Plan.History()
			}
			if res.Plan.Etcd.Change.Empty() {
				t.Errorf("the last spec of %s changes no membership", d)
			}
		})
	}
	if n == 0 {
		t.Fatal("no example sequences")
	}
}

func TestExamplesCompile(t *testing.T) {
	files, err := filepath.Glob("../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			continue // a sequence: TestExampleSequences
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res := compile(t, f, string(src))
			// The one warning an example may carry: the seed guides'
			// kubeadm 1.10, kept on purpose, is out of upstream support.
			for _, w := range res.Warnings {
				if !(w.Path.String() == "kubernetes.version" && strings.Contains(w.Msg, "out of upstream support") && !upstreamSupported(res.Plan.Kubernetes.Version.Minor)) {
					t.Errorf("an example should compile without warnings, got: %s", w)
				}
			}
			if len(res.Plan.ControlPlane.Hosts) == 0 || len(res.Plan.Etcd.Members) == 0 {
				t.Errorf("plan without control plane or etcd members: %+v", res.Plan)
			}
		})
	}
}

// facts flattens the parts of a plan the renderers depend on into strings,
// so that the cases below state them compactly.
func facts(pl *model.Plan) map[string]string {
	cp, e := pl.ControlPlane, pl.Etcd
	join := func(n int, f func(int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = f(i)
		}
		return strings.Join(s, ",")
	}
	hosts := func(hs []*model.Host) string {
		return join(len(hs), func(i int) string { return hs[i].Name })
	}
	f := map[string]string{
		"name":           pl.Name,
		"kubernetes":     pl.Kubernetes.Version.String(),
		"kubeadmAPI":     pl.Kubernetes.KubeadmAPI,
		"podSubnet":      pl.Network.PodSubnet.String(),
		"serviceSubnet":  pl.Network.ServiceSubnet.String(),
		"serviceIP":      pl.Network.KubernetesServiceIP.String(),
		"dnsDomain":      pl.Network.DNSDomain,
		"port":           fmt.Sprint(cp.Port),
		"schedulable":    fmt.Sprint(cp.Schedulable),
		"endpoint":       cp.Endpoint.String(),
		"controlPlane":   hosts(cp.Hosts),
		"init":           cp.Init().Name,
		"workers":        hosts(pl.HostsWith(model.RoleWorker)),
		"etcdVersion":    e.Version.String(),
		"topology":       e.Topology,
		"run":            e.Run,
		"dataDir":        e.DataDir,
		"discovery":      e.Discovery,
		"members":        join(len(e.Members), func(i int) string { return e.Members[i].Name }),
		"memberDataDirs": join(len(e.Members), func(i int) string { return e.Members[i].DataDir }),
		"initialCluster": model.InitialCluster(e.Members),
		"clientURLs":     strings.Join(e.ClientURLs(), ","),
		"keyAlgorithm":   string(pl.PKI.KeyAlgorithm),
		"caValidity":     pl.PKI.CAValidity.String(),
		"certValidity":   pl.PKI.CertValidity.String(),
		"addresses":      join(len(pl.Hosts), func(i int) string { return pl.Hosts[i].Name + "=" + pl.Hosts[i].Address.String() }),
		"external":       "-",
		"keepalived":     "-",
		"haproxy":        "-",
	}
	if x := cp.External; x != nil {
		f["external"] = x.Endpoint.String()
	}
	if k := cp.Keepalived; k != nil {
		f["keepalived"] = fmt.Sprintf("%s %s %d unicast=%v", k.VIP, k.Interface, k.RouterID, k.Unicast)
		f["vrrp"] = join(len(k.Peers), func(i int) string {
			p := k.Peers[i]
			return fmt.Sprintf("%s %s %d", p.Host.Name, p.State, p.Priority)
		})
		if k.HAProxy != nil {
			f["haproxy"] = fmt.Sprint(k.HAProxy.Port)
		}
	}
	return f
}

const ipv6Spec = `name: "v6"
kubernetes: version: "1.35.0"
network: {
	podSubnet:     "fd00:10::/56"
	serviceSubnet: "fd00:20::/112"
}
controlPlane: loadBalancer: keepalived: {vip: "2001:db8::100", interface: "eth0"}
hosts: {
	m0: {address: "2001:db8::10/64", roles: ["control-plane"]}
	m1: {address: "2001:db8::11/64", roles: ["control-plane"]}
	m2: {address: "2001:db8::12/64", roles: ["control-plane"]}
	w0: {address: "2001:db8::20", roles: ["worker"]}
}
`

const externalEtcd = `etcd: topology: "external"
hosts: {
	e2: {address: "10.0.0.32", roles: ["etcd"]}
	e0: {address: "10.0.0.30", roles: ["etcd"], etcd: dataDir: "/data/etcd"}
	e1: {address: "10.0.0.31", roles: ["etcd"]}
}
`

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
		want map[string]string
	}{
		{name: "defaults", src: edit(base, `pki: caValidity: "87600h"`+"\n", ""), want: map[string]string{
			"name":           "t",
			"kubeadmAPI":     model.KubeadmV1Beta4,
			"podSubnet":      "10.32.0.0/12",
			"serviceSubnet":  "10.96.0.0/12",
			"serviceIP":      "10.96.0.1",
			"dnsDomain":      "cluster.local",
			"port":           "6443",
			"schedulable":    "false",
			"endpoint":       "10.0.0.100:6443",
			"keepalived":     "10.0.0.100 eth0 51 unicast=false",
			"haproxy":        "-",
			"external":       "-",
			"etcdVersion":    "3.6.5",
			"topology":       "stacked",
			"run":            "systemd",
			"dataDir":        "/var/lib/etcd",
			"memberDataDirs": "/var/lib/etcd,/var/lib/etcd,/var/lib/etcd",
			"discovery":      "",
			"keyAlgorithm":   "RSA-2048",
			"caValidity":     "87600h0m0s",
			"certValidity":   "8760h0m0s",
		}},
		{name: "stacked members are the control-plane hosts", src: base, want: map[string]string{
			"controlPlane":   "m0,m1,m2",
			"workers":        "w0",
			"init":           "m0",
			"members":        "m0,m1,m2",
			"initialCluster": "m0=https://10.0.0.10:2380,m1=https://10.0.0.11:2380,m2=https://10.0.0.12:2380",
			"clientURLs":     "https://10.0.0.10:2379,https://10.0.0.11:2379,https://10.0.0.12:2379",
			"vrrp":           "m0 MASTER 101,m1 BACKUP 100,m2 BACKUP 99",
		}},
		{name: "hosts sorted by name, not file order", src: `name: "t"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0"}
hosts: {
	cp9: {address: "10.0.0.19/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
	cp2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	cp10: {address: "10.0.0.110/24", roles: ["control-plane"]}
	cp5: {address: "10.0.0.15/24", roles: ["control-plane"]}
	cp1: {address: "10.0.0.11/24", roles: ["control-plane"]}
}
`, want: map[string]string{
			"controlPlane": "cp1,cp10,cp2,cp5,cp9",
			"init":         "cp1",
			"members":      "cp1,cp10,cp2,cp5,cp9",
			"vrrp":         "cp1 MASTER 101,cp10 BACKUP 100,cp2 BACKUP 99,cp5 BACKUP 98,cp9 BACKUP 97",
			"addresses":    "cp1=10.0.0.11,cp10=10.0.0.110,cp2=10.0.0.12,cp5=10.0.0.15,cp9=10.0.0.19,w0=10.0.0.20",
		}},
		{name: "keepalived with haproxy default port",
			src: edit(base, `interface: "eth0"}`, `interface: "eth0", routerID: 7, unicast: true, haproxy: {}}`), want: map[string]string{
				"endpoint":   "10.0.0.100:8443",
				"haproxy":    "8443",
				"port":       "6443",
				"keepalived": "10.0.0.100 eth0 7 unicast=true",
			}},
		{name: "keepalived with haproxy port and apiserver port",
			src: edit(base, `interface: "eth0"}`, `interface: "eth0", haproxy: port: 443}`) + "controlPlane: port: 7443\n", want: map[string]string{
				"endpoint": "10.0.0.100:443",
				"haproxy":  "443",
				"port":     "7443",
			}},
		{name: "external load balancer", src: baseExternal, want: map[string]string{
			"endpoint":   "lb.example.com:6443",
			"external":   "lb.example.com:6443",
			"keepalived": "-",
		}},
		{name: "external load balancer on IPv6",
			src: edit(baseExternal, `"lb.example.com:6443"`, `"[2001:db8::1]:443"`), want: map[string]string{
				"endpoint": "[2001:db8::1]:443",
			}},
		{name: "external etcd members are the etcd hosts", src: base + externalEtcd, want: map[string]string{
			"topology":       "external",
			"controlPlane":   "m0,m1,m2",
			"members":        "e0,e1,e2",
			"memberDataDirs": "/data/etcd,/var/lib/etcd,/var/lib/etcd",
			"initialCluster": "e0=https://10.0.0.30:2380,e1=https://10.0.0.31:2380,e2=https://10.0.0.32:2380",
		}},
		{name: "per-host data dir on a stacked member",
			src: edit(base, `"10.0.0.12/24", roles: ["control-plane"]}`, `"10.0.0.12/24", roles: ["control-plane"], etcd: dataDir: "/srv/etcd"}`) + `etcd: dataDir: "/data/etcd"` + "\n",
			want: map[string]string{
				"dataDir":        "/data/etcd",
				"memberDataDirs": "/data/etcd,/data/etcd,/srv/etcd",
			}},
		{name: "kubernetes 1.35", src: base, want: map[string]string{
			"kubernetes": "1.35.0", "kubeadmAPI": model.KubeadmV1Beta4, "etcdVersion": "3.6.5"}},
		{name: "kubernetes 1.37", src: edit(base, `"1.35.0"`, `"1.37.2"`), want: map[string]string{
			"kubernetes": "1.37.2", "kubeadmAPI": model.KubeadmV1Beta4, "etcdVersion": "3.7.0"}},
		{name: "kubernetes 1.36", src: edit(base, `"1.35.0"`, `"1.36.3"`), want: map[string]string{
			"kubernetes": "1.36.3", "kubeadmAPI": model.KubeadmV1Beta4, "etcdVersion": "3.6.8"}},
		{name: "kubernetes 1.31", src: edit(base, `"1.35.0"`, `"1.31.2"`), want: map[string]string{
			"kubeadmAPI": model.KubeadmV1Beta4, "etcdVersion": "3.5.24"}},
		{name: "kubernetes 1.30", src: edit(base, `"1.35.0"`, `"1.30.14"`), want: map[string]string{
			"kubernetes": "1.30.14", "kubeadmAPI": model.KubeadmV1Beta3, "etcdVersion": "3.5.12"}},
		{name: "kubernetes 1.22", src: edit(base, `"1.35.0"`, `"1.22.0"`), want: map[string]string{
			"kubeadmAPI": model.KubeadmV1Beta3, "etcdVersion": "3.5.0"}},
		{name: "kubernetes 1.10", src: edit(base, `"1.35.0"`, `"1.10.13"`), want: map[string]string{
			"kubeadmAPI": model.KubeadmV1Alpha1, "etcdVersion": "3.1.12"}},
		{name: "kubernetes 1.9", src: edit(base, `"1.35.0"`, `"v1.9.11"`), want: map[string]string{
			"kubernetes": "1.9.11", "kubeadmAPI": model.KubeadmV1Alpha1, "etcdVersion": "3.1.10"}},
		{name: "explicit etcd version and discovery",
			src: edit(base, `"1.35.0"`, `"1.27.16"`) + "etcd: {\n\tversion: \"3.5.21\"\n\tdiscovery: \"https://discovery.etcd.io/abc\"\n}\n", want: map[string]string{
				"etcdVersion": "3.5.21", "discovery": "https://discovery.etcd.io/abc"}},
		{name: "IPv6", src: ipv6Spec, want: map[string]string{
			"podSubnet":      "fd00:10::/56",
			"serviceSubnet":  "fd00:20::/112",
			"serviceIP":      "fd00:20::1",
			"endpoint":       "[2001:db8::100]:6443",
			"keepalived":     "2001:db8::100 eth0 51 unicast=false",
			"members":        "m0,m1,m2",
			"initialCluster": "m0=https://[2001:db8::10]:2380,m1=https://[2001:db8::11]:2380,m2=https://[2001:db8::12]:2380",
			"addresses":      "m0=2001:db8::10,m1=2001:db8::11,m2=2001:db8::12,w0=2001:db8::20",
		}},
		{name: "YAML", file: "spec.yaml", src: baseYAML, want: map[string]string{
			"endpoint": "10.0.0.100:6443", "members": "m0,m1,m2", "workers": "w0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "spec.cue"
			}
			res := compile(t, file, tc.src)
			for _, w := range res.Warnings {
				// Older releases are out of upstream support: TestCheckWarnings.
				if !strings.Contains(w.Msg, "out of upstream support") {
					t.Errorf("unexpected warning: %s", w)
				}
			}
			got := facts(res.Plan)
			for k, want := range tc.want {
				g, ok := got[k]
				if !ok {
					t.Fatalf("the test asks for unknown fact %q", k)
				}
				if g != want {
					t.Errorf("%s = %q, want %q", k, g, want)
				}
			}
		})
	}
}

func TestIPv6Hosts(t *testing.T) {
	pl := compile(t, "spec.cue", ipv6Spec).Plan
	m0 := pl.Host("m0")
	if m0 == nil || !m0.Address.Is6() || m0.Prefix != netip.MustParsePrefix("2001:db8::/64") {
		t.Errorf("m0 = %+v, want 2001:db8::10 in 2001:db8::/64", m0)
	}
	if w0 := pl.Host("w0"); w0 == nil || w0.Prefix.IsValid() {
		t.Errorf("w0 = %+v, want an address without a prefix", w0)
	}
	if m := pl.Member("m1"); m == nil || m.ClientURL() != "https://[2001:db8::11]:2379" {
		t.Errorf("member m1 = %+v, want client URL https://[2001:db8::11]:2379", m)
	}
	// The service subnet rule (at most 20 host bits) in IPv6 terms.
	_, err := Compile("spec.cue", []byte(edit(ipv6Spec, `"fd00:20::/112"`, `"fd00:20::/107"`)))
	if err == nil || !strings.Contains(err.Error(), "too large") || !strings.Contains(err.Error(), "/108 or longer") {
		t.Errorf("a /107 IPv6 service subnet: got %v, want too large (/108 or longer)", err)
	}
	if _, err := Compile("spec.cue", []byte(edit(ipv6Spec, `"fd00:20::/112"`, `"fd00:20::/108"`))); err != nil {
		t.Errorf("a /108 IPv6 service subnet: %v", err)
	}
}

// TestFormatsAgree proves that YAML and JSON go through the same schema
// and checks as CUE: equivalent specs give equal plans.
func TestFormatsAgree(t *testing.T) {
	want := compile(t, "spec.cue", base).Plan
	opts := cmp.Options{
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
	for _, f := range []struct{ file, src string }{
		{"spec.yaml", baseYAML},
		{"spec.yml", baseYAML},
		{"spec.json", baseJSON},
	} {
		got := compile(t, f.file, f.src).Plan
		if diff := cmp.Diff(want, got, opts); diff != "" {
			t.Errorf("%s: plan differs from the CUE spec's (-cue +%s):\n%s", f.file, filepath.Ext(f.file), diff)
		}
	}
}

// TestErrorsCollected: Compile reports every cross-field problem at once,
// sorted by position, not just the first.
func TestErrorsCollected(t *testing.T) {
	src := edit(base, `name: "t"`, `name: "T"`, `"10.0.0.20"`, `"10.0.0.300"`, `"87600h"`, `"forever"`)
	_, err := Compile("spec.cue", []byte(src))
	var cerr Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v, want a compiler.Error", err)
	}
	var paths []string
	for _, p := range cerr {
		paths = append(paths, p.Path.String())
	}
	if got, want := strings.Join(paths, " "), "name pki.caValidity hosts.w0.address"; got != want {
		t.Errorf("problems at %s, want %s (in file order):\n%s", got, want, cerr)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Path: Path{"hosts", "m3", "address"}, Pos: Pos{"spec.cue", 9, 23}, Msg: "bad"}, "hosts.m3.address: bad (spec.cue:9:23)"},
		{Problem{Path: Path{"hosts", "m0", "roles", "1"}, Pos: Pos{"s.yaml", 4, 0}, Msg: "x"}, "hosts.m0.roles[1]: x (s.yaml:4)"},
		{Problem{Path: Path{"hosts", "a.b"}, Pos: Pos{File: "s.cue"}, Msg: "x"}, `hosts."a.b": x (s.cue)`},
		{Problem{Msg: "x"}, "x"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.p, got, tc.want)
		}
	}
	if got := (Error{{Msg: "a"}, {Msg: "b"}}).Error(); got != "a\nb" {
		t.Errorf("Error.Error() = %q, want one problem per line", got)
	}
}

// TestReleaseTable: every release's default etcd passes its own kubeadm's
// minimum and is one hagen writes flags for; the newest minor is in the
// table and inside the support window.
func TestReleaseTable(t *testing.T) {
	for minor, r := range releases {
		etcd := mustVersion(r.etcd)
		if err := checkEtcdVersion(etcd); err != nil {
			t.Errorf("1.%d: %v", minor, err)
		}
		if olderThan(etcd, mustVersion(r.minEtcd)) {
			t.Errorf("1.%d pairs etcd %s, below its kubeadm's minimum %s", minor, r.etcd, r.minEtcd)
		}
		want := model.KubeadmV1Beta4
		switch {
		case minor <= 10:
			want = model.KubeadmV1Alpha1
		case minor <= 30:
			want = model.KubeadmV1Beta3
		}
		if r.api != want {
			t.Errorf("1.%d emits %s, want %s", minor, r.api, want)
		}
	}
	newest := mustVersion(NewestRelease)
	if newest.Minor != newestMinor || !upstreamSupported(newest.Minor) {
		t.Errorf("NewestRelease %s is not of the newest minor 1.%d", NewestRelease, newestMinor)
	}
	if _, ok := releases[newestMinor]; !ok {
		t.Errorf("1.%d is not in the table", newestMinor)
	}
	if upstreamSupported(newestMinor-supportedMinors) || !upstreamSupported(newestMinor-supportedMinors+1) {
		t.Errorf("the support window is not the newest %d minors", supportedMinors)
	}
}
