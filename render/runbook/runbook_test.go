package runbook

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/kubeadm"
)

const stacked = `name: "prod"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0", routerID: 51}
hosts: {
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
	w1: {address: "10.0.0.21", roles: ["worker"]}
}
`

const cloud = `name: "cloud"
kubernetes: version: "1.35.0"
network: podSubnet: "192.168.0.0/16"
controlPlane: loadBalancer: external: endpoint: "k8s-api.cloud.example.com:6443"
etcd: run: "static-pod"
hosts: {
	"cp-a": {address: "172.31.0.10", roles: ["control-plane"]}
	"cp-b": {address: "172.31.16.10", roles: ["control-plane"]}
	"cp-c": {address: "172.31.32.10", roles: ["control-plane"]}
	"node-a": {address: "172.31.0.100", roles: ["worker"]}
	"node-b": {address: "172.31.16.100", roles: ["worker"]}
}
`

const legacy = `name: "legacy"
kubernetes: version: "1.10.13"
network: podSubnet: "10.32.0.0/12"
controlPlane: {
	schedulable: true
	loadBalancer: keepalived: {vip: "10.10.40.100", interface: "eth0", routerID: 51}
}
hosts: {
	master0: {address: "10.10.40.90/24", roles: ["control-plane"]}
	master1: {address: "10.10.40.91/24", roles: ["control-plane"]}
	master2: {address: "10.10.40.92/24", roles: ["control-plane"]}
	worker0: {address: "10.10.40.93", roles: ["worker"]}
}
`

const single = `name: "one"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
hosts: m0: {address: "10.0.0.10", roles: ["control-plane"]}
`

func stepNames(steps []bundle.Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

func step(t *testing.T, steps []bundle.Step, name string) bundle.Step {
	t.Helper()
	for _, s := range steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %s in %v", name, stepNames(steps))
	return bundle.Step{}
}

func hasStep(steps []bundle.Step, name string) bool {
	for _, s := range steps {
		if s.Name == name {
			return true
		}
	}
	return false
}

func TestStepOrder(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"stacked", stacked, []string{StepCopy, StepEtcd, StepEtcdHealth, StepLoadBalancer, StepInit, StepCNI, StepToken, StepJoinCP, StepJoinWorkers, StepRepointWorker, StepRepointProxy}},
		{"external-lb", cloud, []string{StepCopy, StepEtcd, StepEtcdHealth, StepLoadBalancer, StepInit, StepCNI, StepToken, StepJoinCP, StepLBAddMasters, StepJoinWorkers, StepRepointWorker, StepRepointProxy}},
		{"external-etcd", testplan.ExternalEtcd, []string{StepCopy, StepEtcd, StepEtcdHealth, StepLoadBalancer, StepInit, StepCNI, StepToken, StepJoinCP, StepJoinWorkers, StepRepointWorker, StepRepointProxy}},
		{"legacy", legacy, []string{StepCopy, StepEtcd, StepEtcdHealth, StepLoadBalancer, StepInit, StepCNI, StepJoinWorkers, StepRepointWorker, StepRepointProxy}},
		{"single", single, []string{StepCopy, StepEtcd, StepEtcdHealth, StepLoadBalancer, StepInit, StepCNI, StepRepointProxy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stepNames(Steps(testplan.Compile(t, tc.src))); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("steps\n  %v\nwant\n  %v", got, tc.want)
			}
		})
	}
}

func TestStepHosts(t *testing.T) {
	steps := Steps(testplan.Compile(t, stacked))
	for name, want := range map[string][]string{
		StepCopy:          {"m0", "m1", "m2", "w0", "w1"},
		StepEtcd:          {"m0", "m1", "m2"},
		StepLoadBalancer:  {"m0", "m1", "m2"},
		StepInit:          {"m0"},
		StepJoinCP:        {"m1", "m2"},
		StepJoinWorkers:   {"w0", "w1"},
		StepRepointWorker: {"w0", "w1"},
	} {
		if got := step(t, steps, name).Hosts; !reflect.DeepEqual(got, want) {
			t.Errorf("%s on %v, want %v", name, got, want)
		}
	}
	if !step(t, steps, StepJoinCP).Serial {
		t.Error("join-control-plane is not serial")
	}
	if got := len(step(t, steps, StepEtcdHealth).Hosts); got != 1 {
		t.Errorf("check-etcd on %d hosts, want 1", got)
	}

	steps = Steps(testplan.Compile(t, testplan.ExternalEtcd))
	if got := step(t, steps, StepEtcd).Hosts; !reflect.DeepEqual(got, []string{"etcd0", "etcd1", "etcd2"}) {
		t.Errorf("external etcd: start-etcd on %v", got)
	}
	if got := step(t, steps, StepInit).Hosts; !reflect.DeepEqual(got, []string{"master0"}) {
		t.Errorf("external etcd: init on %v", got)
	}
}

func TestInitAndJoinCommands(t *testing.T) {
	steps := Steps(testplan.Compile(t, stacked))
	initCmd := "kubeadm init --config " + kubeadm.ConfigPath
	joinCmd := "kubeadm join --config " + kubeadm.ConfigPath
	if got := step(t, steps, StepInit).Commands; !reflect.DeepEqual(got, []string{initCmd}) {
		t.Errorf("init commands %v", got)
	}
	if got := step(t, steps, StepJoinCP).Commands; !reflect.DeepEqual(got, []string{joinCmd}) {
		t.Errorf("join-control-plane commands %v", got)
	}
	if got := step(t, steps, StepJoinWorkers).Commands; !reflect.DeepEqual(got, []string{joinCmd}) {
		t.Errorf("join-workers commands %v", got)
	}
	for _, s := range steps {
		for _, c := range s.Commands {
			if strings.Contains(c, "ignore-preflight-errors") {
				t.Errorf("systemd etcd: %s ignores preflight errors: %s", s.Name, c)
			}
		}
	}
}

func TestLegacyInitsEveryMasterSerially(t *testing.T) {
	steps := Steps(testplan.Compile(t, legacy))
	init := step(t, steps, StepInit)
	if !reflect.DeepEqual(init.Hosts, []string{"master0", "master1", "master2"}) || !init.Serial {
		t.Errorf("legacy init on %v serial=%v, want every master serially", init.Hosts, init.Serial)
	}
	if hasStep(steps, StepJoinCP) {
		t.Error("legacy has a join-control-plane step")
	}
}

// TestStaticPodIgnoresPreplacedEtcdManifest: with etcd as a static pod,
// etcd.yaml is in place before kubeadm runs, and kubeadm's check for it
// (cmd/kubeadm/app/preflight/checks.go: FileAvailableCheck) must be
// ignored by its exact name: kubeadm accepts unknown names silently, and
// the DirAvailable--etc-kubernetes-manifests once written here does not
// exist, so the first master stopped at preflight.
func TestStaticPodIgnoresPreplacedEtcdManifest(t *testing.T) {
	const flag = "--ignore-preflight-errors=FileAvailable--etc-kubernetes-manifests-etcd.yaml"
	steps := Steps(testplan.Compile(t, cloud))
	for _, name := range []string{StepInit, StepJoinCP} {
		s := step(t, steps, name)
		last := s.Commands[len(s.Commands)-1]
		if !strings.HasPrefix(last, "kubeadm ") || !strings.Contains(last, flag) {
			t.Errorf("%s: last command %q lacks %s", name, last, flag)
		}
		// The standalone kubelet hands over to kubeadm's first.
		if !reflect.DeepEqual(s.Commands[0], "systemctl stop kubelet") {
			t.Errorf("%s: first command %q, want systemctl stop kubelet", name, s.Commands[0])
		}
	}
	if c := step(t, steps, StepJoinWorkers).Commands; strings.Contains(strings.Join(c, " "), "ignore-preflight") {
		t.Errorf("workers ignore preflight errors: %v", c)
	}
	// The standalone kubelet runs etcd before init.
	if c := strings.Join(step(t, steps, StepEtcd).Commands, "\n"); !strings.Contains(c, "restart kubelet") {
		t.Errorf("static-pod start-etcd commands:\n%s", c)
	}
	if c := step(t, steps, StepEtcdHealth).Check; !strings.Contains(c, "crictl exec") {
		t.Errorf("static-pod health check %q does not use the etcd container's etcdctl", c)
	}
}

func TestExternalLBFirstMasterOnly(t *testing.T) {
	steps := Steps(testplan.Compile(t, cloud))
	lb := step(t, steps, StepLoadBalancer)
	if !strings.Contains(lb.Note, "172.31.0.10:6443 only") {
		t.Errorf("load balancer note %q does not point at the first master only", lb.Note)
	}
	for _, other := range []string{"172.31.16.10", "172.31.32.10"} {
		if strings.Contains(lb.Note, other) {
			t.Errorf("load balancer note names %s before it joined", other)
		}
	}
	add := step(t, steps, StepLBAddMasters)
	for _, other := range []string{"172.31.16.10:6443", "172.31.32.10:6443"} {
		if !strings.Contains(add.Note, other) {
			t.Errorf("add-masters note %q lacks %s", add.Note, other)
		}
	}
	if strings.Contains(add.Note, "172.31.0.10:") {
		t.Errorf("add-masters note %q re-adds the first master", add.Note)
	}
}

func TestEtcdHealthCommand(t *testing.T) {
	p := testplan.Compile(t, stacked)
	c := EtcdHealthCommand(p, p.Etcd.Members)
	for _, want := range []string{
		"--endpoints=https://10.0.0.10:2379,https://10.0.0.11:2379,https://10.0.0.12:2379",
		"--cacert=/etc/kubernetes/pki/etcd/ca.crt",
		"--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt",
		"--key=/etc/kubernetes/pki/etcd/healthcheck-client.key",
		"endpoint health",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("health command %q lacks %q", c, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	for _, tc := range []struct{ name, src string }{
		{"stacked", stacked}, {"cloud", cloud}, {"external-etcd", testplan.ExternalEtcd}, {"legacy", legacy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testplan.Compile(t, tc.src)
			steps := Steps(p)
			md := string(Markdown(p, steps))
			if !strings.Contains(md, "```mermaid\nflowchart") {
				t.Error("no mermaid block")
			}
			if strings.Count(md, "```")%2 != 0 {
				t.Error("unbalanced code fences")
			}
			for _, h := range p.Hosts {
				if !strings.Contains(md, "| "+h.Name+" | "+h.Address.String()+" |") {
					t.Errorf("host %s is not in the table", h.Name)
				}
			}
			// A join after the token's first day: 1.9/1.10 by hand, later
			// versions through the step's script.
			if token := "kubeadm token create"; p.Kubernetes.KubeadmAPI != model.KubeadmV1Alpha1 {
				if !hasStep(steps, StepToken) {
					t.Error("no token refresh step")
				}
			} else if !strings.Contains(md, token) {
				t.Error("no token renewal command")
			}
			for i, s := range steps {
				if !strings.Contains(md, fmt.Sprintf("### %d. %s\n", i+1, s.Name)) {
					t.Errorf("step %d %s missing", i+1, s.Name)
				}
				for _, c := range s.Commands {
					if !strings.Contains(md, c) {
						t.Errorf("step %s: command %q missing", s.Name, c)
					}
				}
			}
			if string(Markdown(p, steps)) != md {
				t.Error("Markdown is not deterministic")
			}
		})
	}
}

func TestDiagram(t *testing.T) {
	p := testplan.Compile(t, testplan.ExternalEtcd)
	d := Diagram(p)
	if !strings.HasPrefix(d, "flowchart ") {
		t.Errorf("diagram starts %q", d[:20])
	}
	for _, h := range p.Hosts {
		if !strings.Contains(d, nodeID(h.Name)+"[") {
			t.Errorf("diagram lacks node %s", h.Name)
		}
	}
	if !strings.Contains(d, "192.168.10.50:8443") {
		t.Error("diagram lacks the endpoint")
	}
	// Mermaid identifiers: no dashes or dots.
	p = testplan.Compile(t, cloud)
	for _, line := range strings.Split(Diagram(p), "\n") {
		if m := regexp.MustCompile(`^\s*(\S+?)[\[(]`).FindStringSubmatch(line); m != nil && strings.ContainsAny(m[1], "-.") {
			t.Errorf("unsafe mermaid id %q in %q", m[1], line)
		}
	}
}

// bigSpec is a CUE spec with three masters and n workers in three zones.
func bigSpec(n int) string {
	var b strings.Builder
	b.WriteString(`name: "big"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
hosts: {
	m0: {address: "172.16.0.10", roles: ["control-plane"], zone: "a"}
	m1: {address: "172.16.0.11", roles: ["control-plane"], zone: "b"}
	m2: {address: "172.16.0.12", roles: ["control-plane"], zone: "c"}
`)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\tw%d: {address: \"172.17.%d.%d\", roles: [\"worker\"], zone: %q}\n", i, i/250, i%250+1, string(rune('a'+i%3)))
	}
	b.WriteString("}\n")
	return b.String()
}

func TestLargeClusterDiagramStaysSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a 5000-worker spec")
	}
	const n = 5000
	p := testplan.Compile(t, bigSpec(n))
	if got := len(p.HostsWith(model.RoleWorker)); got != n {
		t.Fatalf("%d workers, want %d", got, n)
	}
	d := Diagram(p)
	if lines := strings.Count(d, "\n"); lines > 60 {
		t.Errorf("diagram of %d workers has %d lines", n, lines)
	}
	if len(d) > 4096 {
		t.Errorf("diagram of %d workers is %d bytes", n, len(d))
	}
	if strings.Contains(d, "w4999") || strings.Contains(d, nodeID("w17")+"[") {
		t.Error("diagram draws workers one by one")
	}
	total := 0
	for _, m := range regexp.MustCompile(`\[\["(\d+) workers"\]\]`).FindAllStringSubmatch(d, -1) {
		var k int
		fmt.Sscan(m[1], &k)
		total += k
	}
	if total != n {
		t.Errorf("worker groups add up to %d, want %d:\n%s", total, n, d)
	}
	steps := Steps(p)
	if got := len(step(t, steps, StepJoinWorkers).Hosts); got != n {
		t.Errorf("join-workers on %d hosts", got)
	}
	md := string(Markdown(p, steps))
	if !strings.Contains(md, "```mermaid\n"+d+"```") {
		t.Error("RUNBOOK's mermaid block is not the diagram")
	}
}

func TestSmallClusterDrawsEveryWorker(t *testing.T) {
	p := testplan.Compile(t, bigSpec(maxDrawnWorkers))
	d := Diagram(p)
	for _, h := range p.HostsWith(model.RoleWorker) {
		if !strings.Contains(d, nodeID(h.Name)+"[") {
			t.Errorf("worker %s not drawn", h.Name)
		}
	}
	if strings.Contains(d, " workers\"]]") {
		t.Error("workers grouped below the limit")
	}
}

func TestExternalLBNoteIPv6(t *testing.T) {
	p := testplan.Compile(t, `name: "v6"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "[2001:db8::100]:6443"
hosts: {
	m0: {address: "2001:db8::10", roles: ["control-plane"]}
	m1: {address: "2001:db8::11", roles: ["control-plane"]}
	m2: {address: "2001:db8::12", roles: ["control-plane"]}
}
`)
	steps := Steps(p)
	if add := step(t, steps, StepLBAddMasters).Note; !strings.Contains(add, "[2001:db8::11]:6443") {
		t.Errorf("add-masters note %q: IPv6 backends must be bracketed", add)
	}
	lb := step(t, steps, StepLoadBalancer).Note
	if !strings.Contains(lb, "[2001:db8::10]:6443 only") {
		t.Errorf("load balancer note %q does not name [2001:db8::10]:6443 only", lb)
	}
}

// TestEtcdHealthCommandAPI: ETCDCTL_API=3 only for etcdctl before 3.4,
// which defaulted to the v2 API; newer etcdctl warns about it.
func TestEtcdHealthCommandAPI(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want bool
	}{
		{stacked, false},
		{legacy, true},
	} {
		p := testplan.Compile(t, tc.spec)
		cmd := EtcdHealthCommand(p, p.Etcd.Members)
		if got := strings.HasPrefix(cmd, "ETCDCTL_API=3 "); got != tc.want {
			t.Errorf("etcd %s: %q", p.Etcd.Version, cmd)
		}
		if !strings.Contains(cmd, "etcdctl --endpoints=") {
			t.Errorf("etcd %s: %q runs no etcdctl", p.Etcd.Version, cmd)
		}
	}
}

// portsLine returns the RUNBOOK's "Ports:" prerequisite.
func portsLine(t *testing.T, src string) string {
	t.Helper()
	p := testplan.Compile(t, src)
	for _, l := range strings.Split(string(Markdown(p, Steps(p))), "\n") {
		if strings.HasPrefix(l, "- Ports: ") {
			return l
		}
	}
	t.Fatal("no Ports: line")
	return ""
}

// TestPortsVRRP: VRRP is IP protocol 112 in unicast mode too, and unicast is
// the mode for clouds, whose security groups must allow it by number.
func TestPortsVRRP(t *testing.T) {
	unicast := strings.Replace(stacked, "routerID: 51}", "routerID: 51, unicast: true}", 1)
	for _, tc := range []struct{ name, src, want string }{
		{"multicast", stacked, "VRRP multicast (protocol 112) between the control-plane hosts"},
		{"unicast", unicast, "VRRP (IP protocol 112, unicast between the control-plane hosts)"},
	} {
		if got := portsLine(t, tc.src); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q lacks %q", tc.name, got, tc.want)
		}
	}
	if got := portsLine(t, cloud); strings.Contains(got, "VRRP") {
		t.Errorf("external load balancer: %q names VRRP", got)
	}
}

// beforeYouStart returns the RUNBOOK's "Before you start" lines.
func beforeYouStart(t *testing.T, src string) []string {
	t.Helper()
	p := testplan.Compile(t, src)
	md := string(Markdown(p, Steps(p)))
	_, rest, ok := strings.Cut(md, "## Before you start\n\n")
	section, _, ok2 := strings.Cut(rest, "\n\n")
	if !ok || !ok2 {
		t.Fatalf("no Before you start section in\n%s", md)
	}
	return strings.Split(section, "\n")
}

// TestBeforeYouStart: each kind of host is told what it needs and nothing
// more. kubeadm 1.9/1.10 validate Docker (dockershim is their default CRI
// socket and their init preflight requires the docker service), so their
// clusters ask for Docker, not containerd. A dedicated etcd host runs no
// kubeadm; it needs a kubelet (and a runtime) only to run etcd as a static
// pod. HAProxy's health check needs 2.2 or newer.
func TestBeforeYouStart(t *testing.T) {
	staticPod := testplan.ExternalEtcd + `etcd: run: "static-pod"` + "\n"
	for _, tc := range []struct {
		name, src string
		// want: for each line prefix, phrases the line must hold; a
		// phrase starting with "!" must not be there.
		want map[string][]string
	}{
		{"legacy", legacy, map[string][]string{
			"- On every control-plane host and worker: Docker": {"Docker 1.11 to 1.13 or 17.03", "kubeadm 1.10's preflight", "!containerd"},
			"- On every control-plane host: kubeadm":           {"kubeadm, kubelet and kubectl 1.10.13"},
			"- On every worker:":                               {"kubeadm and kubelet 1.10.13", "!kubectl"},
			"- On every etcd member:":                          {"etcd and etcdctl 3.1.12"},
		}},
		{"stacked", stacked, map[string][]string{
			"- On every control-plane host and worker:": {"a container runtime (containerd)"},
			"- On every control-plane host: kubeadm":    {"kubeadm, kubelet and kubectl 1.35.0"},
			"- On every worker:":                        {"kubeadm and kubelet 1.35.0", "!kubectl"},
			"- On every control-plane host: keepalived": {"keepalived and curl", "!HAProxy"},
		}},
		{"external etcd, systemd", testplan.ExternalEtcd, map[string][]string{
			"- On every control-plane host and worker:": {"containerd"},
			"- On every dedicated etcd host:":           {"no container runtime, kubeadm, kubelet or kubectl"},
			"- On every etcd member:":                   {"etcd and etcdctl"},
			"- On every control-plane host: keepalived": {"HAProxy 2.2 or newer"},
		}},
		{"external etcd, static pod", staticPod, map[string][]string{
			"- On every control-plane host, worker and dedicated etcd host:": {"containerd"},
			"- On every dedicated etcd host:":                                {"kubelet 1.35.0", "no kubeadm or kubectl"},
			"- On every etcd member:":                                        {"crictl", "!/usr/local/bin"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := beforeYouStart(t, tc.src)
			for prefix, phrases := range tc.want {
				var line string
				for _, l := range lines {
					if strings.HasPrefix(l, prefix) {
						line = l
					}
				}
				if line == "" {
					t.Errorf("no line %q in\n%s", prefix, strings.Join(lines, "\n"))
					continue
				}
				for _, ph := range phrases {
					if not, ok := strings.CutPrefix(ph, "!"); ok {
						if strings.Contains(line, not) {
							t.Errorf("%q holds %q", line, not)
						}
					} else if !strings.Contains(line, ph) {
						t.Errorf("%q lacks %q", line, ph)
					}
				}
			}
			for _, l := range lines {
				if strings.HasPrefix(l, "- On every host:") {
					t.Errorf("one line for every host: %q", l)
				}
			}
		})
	}
}

// kubeadmRenewalSection returns the RUNBOOK's paragraph on the certificates
// kubeadm issues, and its shell block.
func kubeadmRenewalSection(t *testing.T, src string) (text, script string) {
	t.Helper()
	p := testplan.Compile(t, src)
	md := string(Markdown(p, Steps(p)))
	_, rest, ok := strings.Cut(md, "**The certificates kubeadm issues**")
	if !ok {
		t.Fatalf("no renewal of kubeadm's certificates in\n%s", md)
	}
	text, rest, _ = strings.Cut(rest, "```sh\n")
	script, _, ok = strings.Cut(rest, "```\n")
	if !ok {
		t.Fatalf("no shell block after%s", text)
	}
	return text, script
}

// TestKubeadmCertRenewal: the certificates kubeadm issues (not hagen's)
// expire too; the RUNBOOK says how each kubeadm renews them and restarts
// the static pods that read them, and the commands pass shellcheck.
func TestKubeadmCertRenewal(t *testing.T) {
	v1beta3 := strings.Replace(stacked, `"1.35.0"`, `"1.30.14"`, 1)
	for _, tc := range []struct {
		name, src        string
		text, script, no []string
	}{
		{"v1beta4", stacked,
			[]string{"apiserver-kubelet-client", "front-proxy-client", "super-admin.conf (on m0 only)", "pki.certValidity, 8760h", "rotates by itself"},
			[]string{"kubeadm certs check-expiration\n", "kubeadm certs renew all\n", `mv "/etc/kubernetes/manifests/$c.yaml" /etc/kubernetes/`, "crictl ps", "https://127.0.0.1:6443/readyz", "127.0.0.1:10257", "127.0.0.1:10259"},
			[]string{"alpha phase"}},
		{"v1beta3", v1beta3,
			[]string{"a year, kubeadm's default", "super-admin.conf"},
			[]string{"kubeadm certs renew all\n", `mv "/etc/kubernetes/manifests/$c.yaml" /etc/kubernetes/`},
			[]string{"certValidity"}},
		{"v1alpha1", legacy,
			[]string{"kubeadm 1.10 has no `certs renew`", "kubelet.conf", "a year"},
			[]string{"kubeadm alpha phase certs apiserver --config " + kubeadm.ConfigPath, "kubeadm alpha phase certs front-proxy-client", "kubeadm alpha phase kubeconfig all", "systemctl restart kubelet", "docker ps", "127.0.0.1:10252"},
			[]string{"kubeadm certs", "crictl", "super-admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, script := kubeadmRenewalSection(t, tc.src)
			for _, want := range tc.text {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
			for _, want := range tc.script {
				if !strings.Contains(script, want) {
					t.Errorf("commands lack %q:\n%s", want, script)
				}
			}
			for _, not := range tc.no {
				if strings.Contains(text+script, not) {
					t.Errorf("section holds %q:\n%s%s", not, text, script)
				}
			}
			const shellcheck = "/usr/bin/shellcheck"
			if _, err := os.Stat(shellcheck); err != nil {
				return
			}
			cmd := exec.Command(shellcheck, "-s", "sh", "-")
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("shellcheck: %v\n%s\n%s", err, out, script)
			}
		})
	}
}

// TestStepsRunTwice: steps that can only run once on a host say what they
// create, so that running every step again on a live cluster (what a
// configuration-management tool does) skips them; the load balancers
// reload rather than restart. hagen-lab runs every step twice on a live
// cluster to prove it.
func TestStepsRunTwice(t *testing.T) {
	creates := map[string]string{
		StepInit:        "/etc/kubernetes/admin.conf",
		StepJoinCP:      "/etc/kubernetes/kubelet.conf",
		StepJoinWorkers: "/etc/kubernetes/kubelet.conf",
	}
	for _, spec := range []string{stacked, cloud, legacy} {
		p := testplan.Compile(t, spec)
		for _, s := range Steps(p) {
			want, once := creates[s.Name]
			if s.Name == StepEtcd && p.Etcd.Run == "static-pod" {
				want, once = "/etc/kubernetes/kubelet.conf", true // stacked: kubeadm's kubelet took over
			}
			if once && s.Creates != want {
				t.Errorf("%s: step %s creates %q, want %q", p.Name, s.Name, s.Creates, want)
			}
			if !once && s.Creates != "" {
				t.Errorf("%s: step %s says it creates %q: it is meant to run every time", p.Name, s.Name, s.Creates)
			}
			for _, c := range s.Commands {
				if strings.Contains(c, "systemctl restart keepalived") || strings.Contains(c, "systemctl restart haproxy") {
					t.Errorf("%s: step %s restarts a load balancer (%q): a second run would drop the VIP", p.Name, s.Name, c)
				}
			}
		}
	}
	md := string(Markdown(testplan.Compile(t, stacked), Steps(testplan.Compile(t, stacked))))
	if !strings.Contains(md, "Skip this on a host that already has `/etc/kubernetes/admin.conf`") {
		t.Errorf("RUNBOOK.md does not say when to skip kubeadm init")
	}
}

// TestExternalEtcdStaticPodStartsOnce: dedicated etcd hosts keep the
// standalone kubelet for good; the step is done once its drop-in is
// linked, so a second run does not restart their kubelet.
func TestExternalEtcdStaticPodStartsOnce(t *testing.T) {
	p := testplan.Compile(t, testplan.ExternalEtcd+"etcd: run: \"static-pod\"\n")
	if s := step(t, Steps(p), StepEtcd); s.Creates != "/etc/systemd/system/kubelet.service.d/20-hagen-etcd.conf" {
		t.Errorf("start-etcd on dedicated hosts creates %q", s.Creates)
	}
}
