package compiler

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// base is a valid spec that the check cases below break one field at a
// time: three stacked masters behind a keepalived VIP, and a worker.
const base = `name: "t"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0"}
pki: caValidity: "87600h"
hosts: {
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"]}
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
}
`

// baseExternal is base behind an external load balancer, for checks that
// keepalived's own rules would otherwise mask.
var baseExternal = edit(base,
	`keepalived: {vip: "10.0.0.100", interface: "eth0"}`, `external: endpoint: "lb.example.com:6443"`)

// baseYAML is base in YAML.
const baseYAML = `name: t
kubernetes:
  version: "1.35.0"
network:
  podSubnet: 10.32.0.0/12
controlPlane:
  loadBalancer:
    keepalived: {vip: 10.0.0.100, interface: eth0}
pki:
  caValidity: 87600h
hosts:
  m0: {address: 10.0.0.10/24, roles: [control-plane]}
  m1: {address: 10.0.0.11/24, roles: [control-plane]}
  m2: {address: 10.0.0.12/24, roles: [control-plane]}
  w0: {address: 10.0.0.20, roles: [worker]}
`

// baseJSON is base in JSON.
const baseJSON = `{
  "name": "t",
  "kubernetes": {"version": "1.35.0"},
  "network": {"podSubnet": "10.32.0.0/12"},
  "controlPlane": {
    "loadBalancer": {"keepalived": {"vip": "10.0.0.100", "interface": "eth0"}}
  },
  "pki": {"caValidity": "87600h"},
  "hosts": {
    "m0": {"address": "10.0.0.10/24", "roles": ["control-plane"]},
    "m1": {"address": "10.0.0.11/24", "roles": ["control-plane"]},
    "m2": {"address": "10.0.0.12/24", "roles": ["control-plane"]},
    "w0": {"address": "10.0.0.20", "roles": ["worker"]}
  }
}
`

// edit replaces each old with its new in src; every old must occur exactly
// once, so that a fixture never silently stops testing what it claims.
func edit(src string, oldNew ...string) string {
	for i := 0; i < len(oldNew); i += 2 {
		if n := strings.Count(src, oldNew[i]); n != 1 {
			panic(fmt.Sprintf("edit: %q occurs %d times in the fixture", oldNew[i], n))
		}
		src = strings.Replace(src, oldNew[i], oldNew[i+1], 1)
	}
	return src
}

// lineOf returns the 1-based line of the one line of src that contains
// marker.
func lineOf(t *testing.T, src, marker string) int {
	t.Helper()
	line := 0
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, marker) {
			if line != 0 {
				t.Fatalf("marker %q is on lines %d and %d of the fixture", marker, line, i+1)
			}
			line = i + 1
		}
	}
	if line == 0 {
		t.Fatalf("marker %q is not in the fixture:\n%s", marker, src)
	}
	return line
}

// checkCase is a spec that breaks exactly one rule.
type checkCase struct {
	name string
	file string // default spec.cue
	src  string
	path string // the field the problem names
	at   string // a string on the line the problem points at; "" for line 1
	msg  string // a phrase of the message
	// others is how many further problems the spec legitimately causes.
	others int
	// fileOnly: the problem is about the whole file and has no line.
	fileOnly bool
	// noCol: the parser reports a line but no column (YAML's).
	noCol bool
}

func (tc checkCase) filename() string {
	if tc.file == "" {
		return "spec.cue"
	}
	return tc.file
}

// checkProblem finds the problem tc describes among ps and checks its
// position.
func checkProblem(t *testing.T, tc checkCase, ps []Problem) {
	t.Helper()
	if len(ps) != 1+tc.others {
		t.Errorf("got %d problems, want %d:\n%s", len(ps), 1+tc.others, Error(ps))
	}
	wantLine := 1
	switch {
	case tc.fileOnly:
		wantLine = 0
	case tc.at != "":
		wantLine = lineOf(t, tc.src, tc.at)
	}
	for _, p := range ps {
		if p.Path.String() != tc.path || !strings.Contains(p.Msg, tc.msg) {
			continue
		}
		if p.Pos.File != tc.filename() || p.Pos.Line != wantLine {
			t.Errorf("%s: at %s, want %s:%d", p.Path, p.Pos, tc.filename(), wantLine)
		}
		if tc.at != "" && !tc.noCol && p.Pos.Col == 0 {
			t.Errorf("%s: position %s has no column", p.Path, p.Pos)
		}
		return
	}
	t.Errorf("no problem %q containing %q among:\n%s", tc.path, tc.msg, Error(ps))
}

func compileError(t *testing.T, tc checkCase) Error {
	t.Helper()
	res, err := Compile(tc.filename(), []byte(tc.src))
	if err == nil {
		t.Fatalf("Compile succeeded (warnings %v), want an error", res.Warnings)
	}
	var cerr Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Compile returned %T (%v), want a compiler.Error", err, err)
	}
	for _, p := range cerr {
		if p.Pos.File != tc.filename() {
			t.Errorf("problem %q points into %q, not the user's file", p, p.Pos.File)
		}
	}
	return cerr
}

func TestCheckErrors(t *testing.T) {
	const kaVIP = "controlPlane.loadBalancer.keepalived.vip"
	tests := []checkCase{
		// Closed structs: a typo never passes silently.
		{name: "typo in a host", src: edit(base, `w0: {address`, `w0: {adress: "x", address`),
			path: "hosts.w0.adress", at: "adress", msg: "field not allowed"},
		{name: "typo at the top level", src: edit(base, `pki: caValidity`, `pki: caValidty`),
			path: "pki.caValidty", at: "caValidty", msg: "field not allowed"},
		{name: "unknown top-level field", src: base + "labels: {}\n",
			path: "labels", at: "labels", msg: "field not allowed"},

		// Required fields.
		{name: "missing name", src: edit(base, `name: "t"`+"\n", ""),
			path: "name", msg: "field is required but not present"},

		// Wrong types.
		{name: "port as a string", src: base + `controlPlane: port: "6443"` + "\n",
			path: "controlPlane.port", at: `port: "6443"`, msg: `got "6443", want int`},
		{name: "roles as a string", src: edit(base, `roles: ["worker"]`, `roles: "worker"`),
			path: "hosts.w0.roles", at: `roles: "worker"`, msg: `got "worker"`},
		{name: "unknown role", src: edit(base, `roles: ["worker"]`, `roles: ["minion"]`),
			path: "hosts.w0.roles[0]", at: "minion", msg: `got "minion", want one of "control-plane", "etcd", "worker"`},
		{name: "unknown key algorithm", src: edit(base, `pki: caValidity: "87600h"`, `pki: keyAlgorithm: "DSA"`),
			path: "pki.keyAlgorithm", at: "DSA", msg: `got "DSA"`},
		{name: "schedulable as a string", src: base + `controlPlane: schedulable: "yes"` + "\n",
			path: "controlPlane.schedulable", at: "schedulable", msg: "want bool"},

		// DNS-label names.
		{name: "cluster name not a DNS label", src: edit(base, `name: "t"`, `name: "Prod_1"`),
			path: "name", at: "Prod_1", msg: "is not a DNS label"},
		{name: "host name not a DNS label", src: edit(base, `w0: {`, `"w_0": {`),
			path: "hosts.w_0", at: "w_0", msg: `host name "w_0" is not a DNS label`},
		{name: "host name too long", src: edit(base, `w0: {`, strings.Repeat("w", 64)+`: {`),
			path: "hosts." + strings.Repeat("w", 64), at: "wwww", msg: "is not a DNS label"},

		// Addresses parse, IPv4 and IPv6.
		{name: "bad IPv4 address", src: edit(base, `"10.0.0.20"`, `"10.0.0.256"`),
			path: "hosts.w0.address", at: "10.0.0.256", msg: `"10.0.0.256" is not an IP address`},
		{name: "bad IPv4 prefix", src: edit(base, `"10.0.0.11/24"`, `"10.0.0.11/33"`),
			path: "hosts.m1.address", at: "10.0.0.11/33", msg: "is not an IP address with prefix length"},
		{name: "bad IPv6 address", src: edit(base, `"10.0.0.20"`, `"2001:db8::g1"`),
			path: "hosts.w0.address", at: "2001:db8::g1", msg: `"2001:db8::g1" is not an IP address`},
		{name: "IPv6 zone", src: edit(base, `"10.0.0.20"`, `"fe80::1%eth0"`),
			path: "hosts.w0.address", at: "fe80::1%eth0", msg: "IPv6 zone"},
		{name: "network address as host", src: edit(base, `"10.0.0.11/24"`, `"10.0.0.0/24"`),
			path: "hosts.m1.address", at: "10.0.0.0/24", msg: "network or broadcast address"},
		{name: "VIP not an address", src: edit(base, `vip: "10.0.0.100"`, `vip: "10.0.0.100/24"`),
			path: kaVIP, at: "vip:", msg: "is not an IP address"},

		// No address used twice, the VIP included.
		{name: "duplicate host address", src: edit(base, `"10.0.0.20"`, `"10.0.0.11"`),
			path: "hosts.w0.address", at: `w0: {`, msg: "10.0.0.11 is already used by hosts.m1 at spec.cue:8:"},
		{name: "host address is the VIP", src: edit(base, `"10.0.0.20"`, `"10.0.0.100"`),
			path: "hosts.w0.address", at: `w0: {`, msg: "10.0.0.100 is already used by the keepalived VIP"},

		// At least one control-plane host.
		{name: "no control-plane host", src: edit(baseExternal,
			`m0: {address: "10.0.0.10/24", roles: ["control-plane"]}`+"\n\t", "",
			`m1: {address: "10.0.0.11/24", roles: ["control-plane"]}`+"\n\t", "",
			`m2: {address: "10.0.0.12/24", roles: ["control-plane"]}`+"\n\t", ""),
			path: "hosts", at: "hosts: {", msg: `no host has role "control-plane"`},

		// etcd member count odd.
		// Role etcd only with topology external, which needs an etcd host.
		{name: "etcd role with stacked topology", src: base + `hosts: e0: {address: "10.0.0.30", roles: ["etcd"]}` + "\n",
			path: "hosts.e0.roles", at: "e0:", msg: `role "etcd" needs etcd.topology "external"`},
		{name: "external topology without etcd hosts", src: base + `etcd: topology: "external"` + "\n",
			path: "etcd.topology", at: "topology", msg: `topology "external" needs hosts with role "etcd"`},
		{name: "etcd role combined", src: edit(base, `roles: ["worker"]`, `roles: ["worker", "etcd"]`) + `etcd: topology: "external"` + "\n",
			path: "hosts.w0.roles", at: "w0:", msg: `role "etcd" is for dedicated etcd hosts`},
		{name: "control-plane and worker", src: edit(base, `roles: ["worker"]`, `roles: ["worker", "control-plane"]`, `"10.0.0.20"`, `"10.0.0.20/24"`),
			path: "hosts.w0.roles", at: "w0:", msg: "either control-plane or worker"},

		// keepalived: prefixes and the VIP inside every subnet.
		{name: "keepalived without a prefix", src: edit(base, `"10.0.0.11/24"`, `"10.0.0.11"`),
			path: "hosts.m1.address", at: "10.0.0.11", msg: "needs a prefix length"},
		{name: "VIP outside a subnet", src: edit(base, `"10.0.0.12/24"`, `"10.0.1.12/24"`),
			path: kaVIP, at: "vip:", msg: "10.0.0.100 is outside the subnet of control-plane host m2 (10.0.1.0/24)"},
		{name: "VIP is the broadcast address", src: edit(base, `vip: "10.0.0.100"`, `vip: "10.0.0.255"`),
			path: kaVIP, at: "vip:", msg: "network or broadcast address"},
		{name: "bad interface", src: edit(base, `interface: "eth0"`, `interface: "eth 0"`),
			path: "controlPlane.loadBalancer.keepalived.interface", at: "eth 0", msg: "not a network interface name"},

		// Subnets do not overlap.
		{name: "pod subnet overlaps the default service subnet", src: edit(base, `podSubnet: "10.32.0.0/12"`, `podSubnet: "10.96.0.0/16"`),
			path: "network.podSubnet", at: "podSubnet", msg: "10.96.0.0/16 overlaps network.serviceSubnet 10.96.0.0/12 (the default"},
		{name: "pod and given service subnets overlap", src: edit(base, `network: podSubnet: "10.32.0.0/12"`, `network: {podSubnet: "10.96.0.0/16", serviceSubnet: "10.96.0.0/12"}`),
			path: "network.serviceSubnet", at: "serviceSubnet", msg: "10.96.0.0/12 overlaps network.podSubnet 10.96.0.0/16"},
		{name: "host subnet overlaps pod subnet", src: edit(base, `"10.0.0.20"`, `"10.32.0.20/24"`),
			path: "hosts.w0.address", at: "10.32.0.20", msg: "subnet 10.32.0.0/24 overlaps network.podSubnet 10.32.0.0/12"},
		{name: "host inside service subnet", src: edit(base, `"10.0.0.20"`, `"10.96.0.20"`),
			path: "hosts.w0.address", at: "10.96.0.20", msg: "10.96.0.20 lies inside network.serviceSubnet 10.96.0.0/12"},
		{name: "VIP inside pod subnet", src: edit(base,
			`vip: "10.0.0.100"`, `vip: "10.32.0.100"`,
			`"10.0.0.10/24"`, `"10.0.0.10/8"`, `"10.0.0.11/24"`, `"10.0.0.11/8"`, `"10.0.0.12/24"`, `"10.0.0.12/8"`),
			path: kaVIP, at: "vip:", msg: "10.32.0.100 lies inside network.podSubnet", others: 6},
		{name: "pod subnet not a CIDR", src: edit(base, `"10.32.0.0/12"`, `"10.32.0.0"`),
			path: "network.podSubnet", at: "podSubnet", msg: "is not a CIDR"},
		{name: "pod subnet host bits", src: edit(base, `"10.32.0.0/12"`, `"10.33.0.0/12"`),
			path: "network.podSubnet", at: "podSubnet", msg: "has host bits set: the network is 10.32.0.0/12"},
		{name: "service subnet too large", src: base + `network: serviceSubnet: "10.64.0.0/11"` + "\n",
			path: "network.serviceSubnet", at: "serviceSubnet", msg: "too large"},
		{name: "mixed IP families", src: base + `network: serviceSubnet: "fd00:20::/112"` + "\n",
			path: "network.serviceSubnet", at: "serviceSubnet", msg: "different IP families"},

		// Supported Kubernetes versions.
		{name: "unsupported kubernetes version", src: edit(base, `"1.35.0"`, `"1.15.3"`),
			path: "kubernetes.version", at: "1.15.3", msg: "Kubernetes 1.15.3 is not supported: supported are 1.9-1.10"},
		{name: "kubernetes 2.x", src: edit(base, `"1.35.0"`, `"2.0.0"`),
			path: "kubernetes.version", at: `"2.0.0"`, msg: "is not supported"},
		{name: "kubernetes version not a version", src: edit(base, `"1.35.0"`, `"latest"`),
			path: "kubernetes.version", at: "latest", msg: `"latest" is not a version`},
		{name: "unsupported etcd version", src: base + `etcd: version: "3.0.17"` + "\n",
			path: "etcd.version", at: "3.0.17", msg: "etcd 3.0.17 is not supported"},

		// Durations and validity.
		{name: "CA validity not a duration", src: edit(base, `"87600h"`, `"10y"`),
			path: "pki.caValidity", at: "10y", msg: `"10y" is not a duration`},
		{name: "cert validity too short", src: base + `pki: certValidity: "30m"` + "\n",
			path: "pki.certValidity", at: "30m", msg: "too short"},
		{name: "cert outlives CA", src: edit(base, `pki: caValidity: "87600h"`, "pki: {\n\tcaValidity: \"8760h\"\n\tcertValidity: \"17520h\"\n}"),
			path: "pki.certValidity", at: "17520h", msg: "17520h outlives pki.caValidity 8760h"},

		// routerID and ports.
		{name: "routerID 0", src: edit(base, `interface: "eth0"}`, `interface: "eth0", routerID: 0}`),
			path: "controlPlane.loadBalancer.keepalived.routerID", at: "routerID", msg: "invalid value 0 (out of bound >=1)"},
		{name: "routerID 256", src: edit(base, `interface: "eth0"}`, `interface: "eth0", routerID: 256}`),
			path: "controlPlane.loadBalancer.keepalived.routerID", at: "routerID", msg: "invalid value 256 (out of bound <=255)"},
		{name: "apiserver port 0", src: base + "controlPlane: port: 0\n",
			path: "controlPlane.port", at: "port: 0", msg: "invalid value 0 (out of bound >=1)"},
		{name: "apiserver port 70000", src: base + "controlPlane: port: 70000\n",
			path: "controlPlane.port", at: "70000", msg: "invalid value 70000 (out of bound <=65535)"},
		{name: "haproxy port 65536", src: edit(base, `interface: "eth0"}`, `interface: "eth0", haproxy: port: 65536}`),
			path: "controlPlane.loadBalancer.keepalived.haproxy.port", at: "65536", msg: "out of bound <=65535"},
		{name: "external endpoint port", src: edit(baseExternal, `:6443"`, `:0"`),
			path: "controlPlane.loadBalancer.external.endpoint", at: "lb.example.com", msg: `port "0" of "lb.example.com:0" is not in 1..65535`},
		{name: "external endpoint without port", src: edit(baseExternal, `:6443"`, `"`),
			path: "controlPlane.loadBalancer.external.endpoint", at: "lb.example.com", msg: "is not host:port"},

		// Zones on every control-plane host or none.
		{name: "zone on some control-plane hosts", src: edit(base,
			`"10.0.0.10/24", roles: ["control-plane"]}`, `"10.0.0.10/24", roles: ["control-plane"], zone: "a"}`,
			`"10.0.0.11/24", roles: ["control-plane"]}`, `"10.0.0.11/24", roles: ["control-plane"], zone: "b"}`),
			path: "hosts.m2", at: "m2:", msg: `control-plane host m2 has no zone, but m0 has "a"`},

		// HAProxy and the apiserver need their own ports.
		{name: "haproxy port is the apiserver port", src: edit(base, `interface: "eth0"}`, `interface: "eth0", haproxy: port: 6443}`),
			path: "controlPlane.loadBalancer.keepalived.haproxy.port", at: "haproxy", msg: "6443 is controlPlane.port"},

		// Exactly one load balancer form.
		{name: "both load balancer forms", src: edit(base, `loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0"}`,
			`loadBalancer: {keepalived: {vip: "10.0.0.100", interface: "eth0"}, external: endpoint: "lb.example.com:6443"}`),
			path: "controlPlane.loadBalancer", at: "loadBalancer", msg: "exactly one of keepalived and external, not both"},
		{name: "neither load balancer form", src: edit(base, `loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0"}`, `loadBalancer: {}`),
			path: "controlPlane.loadBalancer", at: "loadBalancer", msg: "give exactly one of keepalived"},
		{name: "no load balancer", src: edit(base, `controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0"}`+"\n", ""),
			path: "controlPlane.loadBalancer", msg: "field is required but not present"},

		// kubeadm's preflight refuses an external etcd older than its
		// MinExternalEtcdVersion: vet refuses it first.
		{name: "etcd older than kubeadm 1.37 accepts", src: edit(base, `"1.35.0"`, `"1.37.2"`) + `etcd: version: "3.5.21"` + "\n",
			path: "etcd.version", at: "3.5.21", msg: "etcd 3.5.21 is older than 3.5.24, the oldest etcd kubeadm 1.37 accepts (its ExternalEtcdVersion preflight check fails): use 3.5.24 or newer (the default for Kubernetes 1.37 is 3.7.0)"},
		{name: "etcd 3.4 with kubeadm 1.31", src: edit(base, `"1.35.0"`, `"1.31.2"`) + `etcd: version: "3.4.23"` + "\n",
			path: "etcd.version", at: "3.4.23", msg: "older than 3.5.24, the oldest etcd kubeadm 1.31 accepts"},
		{name: "etcd 3.3 with kubeadm 1.30", src: edit(base, `"1.35.0"`, `"1.30.14"`) + `etcd: version: "3.3.25"` + "\n",
			path: "etcd.version", at: "3.3.25", msg: "older than 3.4.13, the oldest etcd kubeadm 1.30 accepts"},
		{name: "etcd newer than known", src: edit(base, `"1.35.0"`, `"1.37.2"`) + `etcd: version: "3.8.0"` + "\n",
			path: "etcd.version", at: "3.8.0", msg: "hagen writes flags for etcd 3.1 to 3.7"},
		// A spec without a Kubernetes version: no default that an upgrade
		// of hagen could change.
		{name: "no kubernetes version", src: edit(base, `kubernetes: version: "1.35.0"`+"\n", ""),
			path: "kubernetes.version", msg: `field is required but not present: name the release to run, e.g. kubernetes: version: "1.37.2"`},
		// etcd discovery was removed in etcd 3.6 (the v2 store) and 3.7
		// (the flag).
		{name: "discovery with etcd 3.7", src: edit(base, `"1.35.0"`, `"1.37.2"`) + `etcd: discovery: "https://discovery.etcd.io/abc"` + "\n",
			path: "etcd.discovery", at: "discovery", msg: "etcd 3.7.0 cannot bootstrap through a discovery URL"},
		{name: "discovery with etcd 3.6", src: base + `etcd: discovery: "https://discovery.etcd.io/abc"` + "\n",
			path: "etcd.discovery", at: "discovery", msg: "dropped the v2 store that v2 discovery needs"},
		{name: "discovery not a URL", src: edit(base, `"1.35.0"`, `"1.30.0"`) + `etcd: discovery: "discovery.etcd.io/abc"` + "\n",
			path: "etcd.discovery", at: "discovery", msg: "is not an http(s) discovery URL"},

		// kubeadm 1.9/1.10 load only RSA keys: init cannot read ECDSA CAs.
		{name: "ECDSA with kubeadm 1.10", src: edit(base, `"1.35.0"`, `"1.10.13"`, `pki: caValidity: "87600h"`, `pki: {caValidity: "87600h", keyAlgorithm: "ECDSA-P256"}`),
			path: "pki.keyAlgorithm", at: "ECDSA-P256", msg: "ECDSA-P256: kubeadm 1.10 loads only RSA keys"},

		// A per-host etcd dataDir only on a member.
		{name: "etcd dataDir on a worker", src: edit(base, `roles: ["worker"]}`, `roles: ["worker"], etcd: dataDir: "/data/etcd"}`),
			path: "hosts.w0.etcd", at: "w0:", msg: "host w0 is not an etcd member"},
		{name: "relative etcd dataDir", src: edit(base, `roles: ["control-plane"]}`+"\n\tm2", `roles: ["control-plane"], etcd: dataDir: "data/etcd"}`+"\n\tm2"),
			path: "hosts.m1.etcd.dataDir", at: "data/etcd", msg: "is not a clean absolute directory"},
		{name: "duplicate role", src: edit(base, `roles: ["worker"]`, `roles: ["worker", "worker"]`),
			path: "hosts.w0.roles[1]", at: "w0:", msg: `role "worker" is listed twice`},
		{name: "no role", src: edit(base, `roles: ["worker"]`, `roles: []`),
			path: "hosts.w0.roles", at: "w0:", msg: "a host needs a role"},
	}
	runCheckCases(t, tests)
}

func runCheckCases(t *testing.T, tests []checkCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, tc := range tests {
		if seen[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			checkProblem(t, tc, compileError(t, tc))
		})
	}
}

func TestCheckWarnings(t *testing.T) {
	tests := []struct {
		name string
		file string
		src  string
		// want lists every warning as "path|marker|phrase".
		want []string
	}{
		{name: "one control-plane host and etcd member",
			src: edit(base,
				`m1: {address: "10.0.0.11/24", roles: ["control-plane"]}`+"\n\t", "",
				`m2: {address: "10.0.0.12/24", roles: ["control-plane"]}`+"\n\t", ""),
			want: []string{
				"hosts.m0|m0:|one etcd member is not highly available: losing m0 loses the cluster's data",
				"hosts.m0.roles|m0:|one control-plane host is not highly available",
			}},
		{name: "zone holds an etcd majority",
			src: edit(base,
				`"10.0.0.10/24", roles: ["control-plane"]}`, `"10.0.0.10/24", roles: ["control-plane"], zone: "a"}`,
				`"10.0.0.11/24", roles: ["control-plane"]}`, `"10.0.0.11/24", roles: ["control-plane"], zone: "a"}`,
				`"10.0.0.12/24", roles: ["control-plane"]}`, `"10.0.0.12/24", roles: ["control-plane"], zone: "b"}`),
			want: []string{`hosts.m0.zone|m0:|zone "a" holds 2 of 3 etcd members: losing that zone loses quorum`}},
		{name: "zone majority of external members",
			src: base + `etcd: topology: "external"
hosts: e0: {address: "10.0.0.30", roles: ["etcd"], zone: "x"}
hosts: e1: {address: "10.0.0.31", roles: ["etcd"], zone: "y"}
hosts: e2: {address: "10.0.0.32", roles: ["etcd"], zone: "y"}
`,
			want: []string{`hosts.e1.zone|e1:|zone "y" holds 2 of 3 etcd members`}},
		// An even membership runs, and is a step on the way from 3 to 5.
		{name: "even etcd members",
			src:  edit(base, `w0: {address: "10.0.0.20", roles: ["worker"]}`, `m3: {address: "10.0.0.13/24", roles: ["control-plane"]}`),
			want: []string{"hosts|hosts: {|4 etcd members: use an odd number (4 tolerates no more failures than 3 and needs a larger quorum)"}},
		{name: "even etcd members, topology given",
			src:  edit(base, `w0: {address: "10.0.0.20", roles: ["worker"]}`, `m3: {address: "10.0.0.13/24", roles: ["control-plane"]}`) + `etcd: topology: "stacked"` + "\n",
			want: []string{"etcd.topology|topology|4 etcd members: use an odd number"}},
		{name: "two external etcd hosts",
			src: base + `etcd: topology: "external"
hosts: e0: {address: "10.0.0.30", roles: ["etcd"]}
hosts: e1: {address: "10.0.0.31", roles: ["etcd"]}
`,
			want: []string{"etcd.topology|topology|2 etcd members: use an odd number"}},
		{name: "loopback address",
			src:  edit(baseExternal, `"10.0.0.20"`, `"127.0.0.1"`),
			want: []string{"hosts.w0.address|127.0.0.1|127.0.0.1 is a loopback address"}},
		{name: "IPv6 loopback address",
			src:  edit(baseExternal, `"10.0.0.20"`, `"::1"`),
			want: []string{"hosts.w0.address|::1|::1 is a loopback address"}},
		{name: "kubernetes newer than known",
			src:  edit(base, `"1.35.0"`, `"1.38.1"`),
			want: []string{"kubernetes.version|1.38.1|Kubernetes 1.38.1 is newer than 1.37, the newest hagen was checked against; emitting kubeadm.k8s.io/v1beta4"}},
		{name: "kubernetes out of upstream support",
			src:  edit(base, `"1.35.0"`, `"1.34.2"`),
			want: []string{"kubernetes.version|1.34.2|Kubernetes 1.34.2 is out of upstream support (supported: 1.35 to 1.37): hagen renders it, but plan an upgrade"}},
		{name: "the seed guides' kubeadm 1.10",
			src:  edit(base, `"1.35.0"`, `"1.10.13"`),
			want: []string{"kubernetes.version|1.10.13|Kubernetes 1.10.13 is out of upstream support (supported: 1.35 to 1.37)"}},
		// kubeadm before v1beta4 issues RSA-2048 certificates whatever
		// pki.keyAlgorithm says; v1beta4 follows it.
		{name: "v1beta3 and ECDSA",
			src: edit(base, `"1.35.0"`, `"1.30.14"`, `pki: caValidity: "87600h"`, `pki: {caValidity: "87600h", keyAlgorithm: "ECDSA-P256"}`),
			want: []string{
				"kubernetes.version|1.30.14|out of upstream support",
				"pki.keyAlgorithm|ECDSA-P256|ECDSA-P256: kubeadm 1.30 (kubeadm.k8s.io/v1beta3) cannot be told a key type, so the certificates it issues (apiserver, apiserver-kubelet-client, front-proxy-client, the kubeconfigs' client certificates) are RSA-2048; hagen's CAs and etcd certificates are ECDSA-P256",
			}},
		{name: "v1beta3 and RSA-4096",
			src: edit(base, `"1.35.0"`, `"1.22.17"`, `pki: caValidity: "87600h"`, `pki: {caValidity: "87600h", keyAlgorithm: "RSA-4096"}`),
			want: []string{
				"kubernetes.version|1.22.17|out of upstream support",
				"pki.keyAlgorithm|RSA-4096|kubeadm 1.22 (kubeadm.k8s.io/v1beta3) cannot be told a key type",
			}},
		{name: "v1alpha1 and RSA-3072",
			src: edit(base, `"1.35.0"`, `"1.10.13"`, `pki: caValidity: "87600h"`, `pki: {caValidity: "87600h", keyAlgorithm: "RSA-3072"}`),
			want: []string{
				"kubernetes.version|1.10.13|out of upstream support",
				"pki.keyAlgorithm|RSA-3072|kubeadm 1.10 (kubeadm.k8s.io/v1alpha1) cannot be told a key type",
			}},
		{name: "v1beta4 follows keyAlgorithm",
			src:  edit(base, `pki: caValidity: "87600h"`, `pki: {caValidity: "87600h", keyAlgorithm: "ECDSA-P384"}`),
			want: nil},
		{name: "external endpoint is a host",
			src:  edit(baseExternal, `"lb.example.com:6443"`, `"10.0.0.10:6443"`),
			want: []string{"controlPlane.loadBalancer.external.endpoint|10.0.0.10:6443|10.0.0.10 is the address of host m0, not of a load balancer"}},
		{name: "YAML loopback address", file: "spec.yaml",
			src:  edit(baseYAML, "keepalived: {vip: 10.0.0.100, interface: eth0}", "external: {endpoint: lb.example.com:6443}", "10.0.0.20", "127.0.0.20"),
			want: []string{"hosts.w0.address|127.0.0.20|127.0.0.20 is a loopback address"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "spec.cue"
			}
			res, err := Compile(file, []byte(tc.src))
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if len(res.Warnings) != len(tc.want) {
				t.Errorf("got %d warnings, want %d:\n%s", len(res.Warnings), len(tc.want), Error(res.Warnings))
			}
			for i, w := range tc.want {
				if i >= len(res.Warnings) {
					break
				}
				path, rest, _ := strings.Cut(w, "|")
				marker, phrase, _ := strings.Cut(rest, "|")
				got := res.Warnings[i]
				wantPos := fmt.Sprintf("%s:%d:", file, lineOf(t, tc.src, marker))
				if got.Path.String() != path || !strings.Contains(got.Msg, phrase) || !strings.HasPrefix(got.Pos.String(), wantPos) {
					t.Errorf("warning %d is %q\nwant %s: ...%s... (%s...)", i, got, path, phrase, wantPos)
				}
			}
		})
	}
}

// TestSiblingProblems breaks several fields under one parent at once, at
// every nesting level that has siblings: each problem keeps its own path
// and position. Paths built by appending to a shared parent once reported
// the keepalived interface under ...keepalived.vip.
func TestSiblingProblems(t *testing.T) {
	type want struct{ path, marker, phrase string }
	tests := []struct {
		name string
		src  string
		want []want
	}{
		{name: "keepalived vip and interface",
			src: edit(base, `keepalived: {vip: "10.0.0.100", interface: "eth0"}`, `keepalived: {vip: "not-an-ip", interface: "bad interface name!!"}`),
			want: []want{
				{"controlPlane.loadBalancer.keepalived.interface", "bad interface", "is not a network interface name"},
				{"controlPlane.loadBalancer.keepalived.vip", "not-an-ip", "is not an IP address"},
			}},
		{name: "keepalived interface, vip and haproxy port",
			src: edit(base, `keepalived: {vip: "10.0.0.100", interface: "eth0"}`, `keepalived: {vip: "10.0.1.100", interface: "bad interface name!!", haproxy: port: 6443}`),
			want: []want{
				{"controlPlane.loadBalancer.keepalived.haproxy.port", "bad interface", "is controlPlane.port"},
				{"controlPlane.loadBalancer.keepalived.interface", "bad interface", "is not a network interface name"},
				{"controlPlane.loadBalancer.keepalived.vip", "bad interface", "is outside the subnet"},
			}},
		{name: "one host's address, roles and zone",
			src: edit(baseExternal, `w0: {address: "10.0.0.20", roles: ["worker"]}`, `w0: {address: "10.0.0.300", roles: [], zone: "Zone A"}`),
			want: []want{
				{"hosts.w0.address", "w0:", "is not an IP address"},
				{"hosts.w0.roles", "w0:", "a host needs a role"},
				{"hosts.w0.zone", "w0:", "is not a zone name"},
			}},
		{name: "list items of one host",
			src: edit(base, `roles: ["worker"]`, `roles: ["worker", "worker", "worker"]`),
			want: []want{
				{"hosts.w0.roles[1]", "w0:", `role "worker" is listed twice`},
				{"hosts.w0.roles[2]", "w0:", `role "worker" is listed twice`},
			}},
		{name: "one host's address and etcd dataDir",
			src: edit(base, `m1: {address: "10.0.0.11/24", roles: ["control-plane"]}`, `m1: {address: "10.0.0.11", roles: ["control-plane"], etcd: dataDir: "data"}`),
			want: []want{
				{"hosts.m1.address", "m1:", "needs a prefix length"},
				{"hosts.m1.etcd.dataDir", "m1:", "is not a clean absolute directory"},
			}},
		{name: "network fields",
			src: edit(base, `network: podSubnet: "10.32.0.0/12"`, `network: {podSubnet: "10.32.1.0/12", serviceSubnet: "172.0.0.0/8", dnsDomain: "-bad-"}`),
			want: []want{
				{"network.dnsDomain", "network:", "is not a DNS domain"},
				{"network.podSubnet", "network:", "has host bits set"},
				{"network.serviceSubnet", "network:", "is too large"},
			}},
		{name: "pki validities",
			src: edit(base, `pki: caValidity: "87600h"`, `pki: {caValidity: "ten years", certValidity: "1m"}`),
			want: []want{
				{"pki.caValidity", "pki:", "is not a duration"},
				{"pki.certValidity", "pki:", "is too short"},
			}},
		{name: "etcd fields",
			src: base + `etcd: {dataDir: "var/lib/etcd", version: "three"}` + "\n",
			want: []want{
				{"etcd.dataDir", "etcd:", "is not a clean absolute directory"},
				{"etcd.version", "etcd:", "is not a version"},
			}},
		{name: "top-level fields",
			src: edit(base, `name: "t"`, `name: "T_1"`, `version: "1.35.0"`, `version: "one"`),
			want: []want{
				{"name", "T_1", "is not a DNS label"},
				{"kubernetes.version", `"one"`, "is not a version"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := compileError(t, checkCase{src: tc.src})
			if len(ps) != len(tc.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(ps), len(tc.want), ps)
			}
			for _, w := range tc.want {
				found := false
				for _, p := range ps {
					if p.Path.String() == w.path && strings.Contains(p.Msg, w.phrase) {
						found = true
						if line := lineOf(t, tc.src, w.marker); p.Pos.Line != line {
							t.Errorf("%s: at line %d, want %d", p.Path, p.Pos.Line, line)
						}
					}
				}
				if !found {
					t.Errorf("no problem at %s saying %q among:\n%s", w.path, w.phrase, ps)
				}
			}
		})
	}
}
