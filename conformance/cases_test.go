package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// specCase is one spec the suite renders and checks.
type specCase struct {
	name     string // subtest name
	filename string // its extension picks the spec format
	src      string
	// earlier are the specs of renders before this one, in order, with
	// one secrets file: src is then a change of a running cluster.
	earlier []string
}

// allCases is every example plus the generated variations.
func allCases(t testing.TB) []specCase {
	t.Helper()
	paths, err := filepath.Glob("../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	var cases []specCase
	for _, p := range paths {
		ext := filepath.Ext(p)
		if ext != ".cue" && ext != ".yaml" && ext != ".yml" && ext != ".json" {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, specCase{name: "example-" + strings.TrimSuffix(filepath.Base(p), ext), filename: p, src: string(src)})
	}
	if len(cases) == 0 {
		t.Fatal("no examples found in ../examples")
	}
	// Example sequences (examples/grow/): the last render, a change.
	dirs, err := filepath.Glob("../examples/*/*.cue")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	seqs := map[string][]string{}
	var order []string
	for _, p := range dirs {
		d := filepath.Base(filepath.Dir(p))
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if seqs[d] == nil {
			order = append(order, d)
		}
		seqs[d] = append(seqs[d], string(src))
	}
	for _, d := range order {
		srcs := seqs[d]
		cases = append(cases, specCase{name: "example-" + d, filename: d + ".cue", src: srcs[len(srcs)-1], earlier: srcs[:len(srcs)-1]})
	}
	return append(cases, variations()...)
}

// variant describes a generated spec: the stacked example's shape with one
// or more axes changed.
type variant struct {
	name        string
	k8s         string // kubernetes.version
	run         string // etcd.run
	topology    string // etcd.topology
	etcdVersion string // etcd.version, "" for the default
	keyAlg      string // pki.keyAlgorithm
	ipv6        bool
	lb          string // the loadBalancer struct, in CUE; %s is the VIP
	schedulable bool
	// masters and etcds count the control-plane and dedicated etcd hosts
	// (3 and, for topology external, 3 when zero); the masters are
	// master<first>, master<first+1>...
	masters, etcds, first int
	// before are the renders of the same cluster before this one: the
	// case is their change of membership.
	before []variant
}

const (
	lbKeepalived = `keepalived: {vip: "%s", interface: "eth0", routerID: 51}`
	lbUnicast    = `keepalived: {vip: "%s", interface: "eth0", routerID: 52, unicast: true}`
	lbHAProxy    = `keepalived: {vip: "%s", interface: "eth0", routerID: 53, haproxy: port: 8443}`
	lbBoth       = `keepalived: {vip: "%s", interface: "eth0", routerID: 54, unicast: true, haproxy: port: 9443}`
	lbExternal   = `external: endpoint: "api.example.com:6443"`
)

// variations are the generated specs: every run mode, load balancer form,
// kubeadm API version, key type and address family the stacked example
// does not cover by itself.
func variations() []specCase {
	vs := []variant{
		{name: "stacked-static-pod", run: "static-pod", lb: lbKeepalived},
		{name: "stacked-unicast", lb: lbUnicast},
		{name: "stacked-haproxy", lb: lbHAProxy},
		{name: "stacked-ecdsa-p256", keyAlg: "ECDSA-P256", lb: lbKeepalived},
		{name: "stacked-ecdsa-p384-static-pod", keyAlg: "ECDSA-P384", run: "static-pod", lb: lbUnicast},
		{name: "stacked-k8s-1.36", k8s: "1.36.3", lb: lbKeepalived},
		{name: "stacked-k8s-1.36-static-pod-haproxy", k8s: "1.36.3", run: "static-pod", lb: lbHAProxy},
		{name: "stacked-k8s-1.35", k8s: "1.35.4", lb: lbUnicast},
		{name: "stacked-k8s-1.34", k8s: "1.34.2", lb: lbHAProxy},
		{name: "stacked-k8s-1.30-v1beta3", k8s: "1.30.14", lb: lbKeepalived},
		{name: "stacked-k8s-1.30-static-pod-haproxy", k8s: "1.30.14", run: "static-pod", lb: lbHAProxy, schedulable: true},
		{name: "stacked-etcd-3.4", k8s: "1.30.14", etcdVersion: "3.4.23", lb: lbExternal},
		{name: "stacked-etcd-3.4-static-pod", k8s: "1.30.14", etcdVersion: "3.4.23", run: "static-pod", lb: lbExternal},
		{name: "stacked-etcd-3.6-k8s-1.37", etcdVersion: "3.6.8", lb: lbHAProxy},
		{name: "external-etcd-static-pod", topology: "external", run: "static-pod", lb: lbUnicast},
		{name: "ipv6-keepalived", ipv6: true, keyAlg: "ECDSA-P256", lb: lbKeepalived},
		{name: "ipv6-unicast-haproxy-static-pod", ipv6: true, run: "static-pod", lb: lbBoth},
		{name: "ipv6-k8s-1.30", ipv6: true, k8s: "1.30.14", lb: lbUnicast},
	}
	// Changes of membership: the bundles that carry them out.
	grown := variant{lb: lbKeepalived, masters: 1}
	vs = append(vs,
		variant{name: "change-grow-1-to-3", lb: lbKeepalived, before: []variant{grown}},
		variant{name: "change-grow-1-to-3-static-pod-etcd-3.4", k8s: "1.30.14", etcdVersion: "3.4.23", run: "static-pod", lb: lbExternal,
			before: []variant{{k8s: "1.30.14", etcdVersion: "3.4.23", run: "static-pod", lb: lbExternal, masters: 1}}},
		variant{name: "change-external-3-5-3-static-pod", topology: "external", run: "static-pod", lb: lbHAProxy,
			before: []variant{{topology: "external", run: "static-pod", lb: lbHAProxy}, {topology: "external", run: "static-pod", lb: lbHAProxy, etcds: 5}}},
		variant{name: "change-replace-init-unicast", lb: lbUnicast, first: 1, before: []variant{{lb: lbUnicast}}},
		variant{name: "change-ipv6-shrink-5-to-3", ipv6: true, lb: lbBoth, before: []variant{{ipv6: true, lb: lbBoth, masters: 5}}},
	)
	out := make([]specCase, len(vs))
	for i, v := range vs {
		out[i] = specCase{name: v.name, filename: v.name + ".cue", src: v.cue()}
		for _, b := range v.before {
			b.name = v.name // one cluster
			out[i].earlier = append(out[i].earlier, b.cue())
		}
	}
	return out
}

func (v variant) cue() string {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	addr, vip := func(n int) string { return fmt.Sprintf("10.0.0.%d", n) }, "10.0.0.100"
	pod, svc, prefix := "10.32.0.0/12", "10.96.0.0/12", "/24"
	if v.ipv6 {
		addr, vip = func(n int) string { return fmt.Sprintf("fd00:10::%d", n) }, "fd00:10::100"
		pod, svc, prefix = "fd00:32::/56", "fd00:96::/108", "/64"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "// generated by the conformance suite: %s\n", v.name)
	fmt.Fprintf(&b, "name: %q\n", strings.NewReplacer(".", "-").Replace(v.name))
	fmt.Fprintf(&b, "kubernetes: version: %q\n", or(v.k8s, "1.37.2"))
	fmt.Fprintf(&b, "network: {podSubnet: %q, serviceSubnet: %q}\n", pod, svc)
	lb := v.lb
	if strings.Contains(lb, "%s") {
		lb = fmt.Sprintf(lb, vip)
	}
	fmt.Fprintf(&b, "controlPlane: {schedulable: %v, loadBalancer: %s}\n", v.schedulable, lb)
	fmt.Fprintf(&b, "etcd: {topology: %q, run: %q", or(v.topology, "stacked"), or(v.run, "systemd"))
	if v.etcdVersion != "" {
		fmt.Fprintf(&b, ", version: %q", v.etcdVersion)
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "pki: keyAlgorithm: %q\n", or(v.keyAlg, "RSA-2048"))
	b.WriteString("hosts: {\n")
	for i := v.first; i < v.first+or0(v.masters, 3); i++ {
		fmt.Fprintf(&b, "\tmaster%d: {address: %q, roles: [\"control-plane\"]}\n", i, addr(10+i)+prefix)
	}
	if v.topology == "external" {
		for i := 0; i < or0(v.etcds, 3); i++ {
			fmt.Fprintf(&b, "\tetcd%d: {address: %q, roles: [\"etcd\"]}\n", i, addr(30+i))
		}
	}
	for i := 0; i < 2; i++ {
		fmt.Fprintf(&b, "\tworker%d: {address: %q, roles: [\"worker\"]}\n", i, addr(20+i))
	}
	b.WriteString("}\n")
	return b.String()
}

func or0(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}
