package repoint

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render/bundle"
)

const vip = `name: "prod"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0", routerID: 51}
hosts: {
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"]}
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
	w1: {address: "10.0.0.21", roles: ["worker"]}
}
`

const haproxy = `name: "dc1"
kubernetes: version: "1.35.0"
network: podSubnet: "10.244.0.0/16"
controlPlane: loadBalancer: keepalived: {vip: "192.168.10.50", interface: "ens192", routerID: 52, haproxy: port: 8443}
etcd: topology: "external"
hosts: {
	master0: {address: "192.168.10.10/24", roles: ["control-plane"]}
	etcd0: {address: "192.168.10.20", roles: ["etcd"]}
	worker0: {address: "192.168.10.30", roles: ["worker"]}
}
`

const externalLB = `name: "cloud"
kubernetes: version: "1.35.0"
network: podSubnet: "192.168.0.0/16"
controlPlane: loadBalancer: external: endpoint: "k8s-api.cloud.example.com:6443"
hosts: {
	"cp-a": {address: "172.31.0.10", roles: ["control-plane"]}
	"node-a": {address: "172.31.0.100", roles: ["worker"]}
	"node-b": {address: "172.31.0.101", roles: ["worker"]}
}
`

const ipv6 = `name: "v6"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "[2001:db8::100]:6443"
hosts: {
	m0: {address: "2001:db8::10", roles: ["control-plane"]}
	w0: {address: "2001:db8::20", roles: ["worker"]}
}
`

const noWorkers = `name: "small"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
hosts: m0: {address: "10.0.0.10", roles: ["control-plane"]}
`

func files(t *testing.T, p *model.Plan) []bundle.File {
	t.Helper()
	fs, err := Files(p)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	return fs
}

var cases = []struct {
	name, src string
	server    string
}{
	{"vip", vip, "https://10.0.0.100:6443"},
	{"haproxy", haproxy, "https://192.168.10.50:8443"},
	{"external", externalLB, "https://k8s-api.cloud.example.com:6443"},
	{"ipv6", ipv6, "https://[2001:db8::100]:6443"},
	// kubeadm 1.10: the kube-proxy script is written for kubectl 1.10.
	{"legacy", strings.Replace(vip, `"1.35.0"`, `"1.10.13"`, 1), "https://10.0.0.100:6443"},
}

func TestKubeletScriptOnWorkersOnly(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testplan.Compile(t, tc.src)
			got := map[string]bool{}
			for _, f := range files(t, p) {
				if f.Host == "" {
					continue
				}
				if f.Path != KubeletScript {
					t.Errorf("%s gets %s", f.Host, f.Path)
				}
				if got[f.Host] {
					t.Errorf("%s gets the script twice", f.Host)
				}
				got[f.Host] = true
				if !p.Host(f.Host).Has(model.RoleWorker) {
					t.Errorf("non-worker %s gets the kubelet script", f.Host)
				}
				if f.Mode != bundle.ModeScript {
					t.Errorf("%s: mode %v, want 0755", f.Host, f.Mode)
				}
				s := string(f.Data)
				if !strings.HasPrefix(s, "#!/bin/sh\n") {
					t.Errorf("%s: no shebang", f.Host)
				}
				if !strings.Contains(s, "'"+tc.server+"'") {
					t.Errorf("%s: script lacks the endpoint %s:\n%s", f.Host, tc.server, s)
				}
			}
			for _, w := range p.HostsWith(model.RoleWorker) {
				if !got[w.Name] {
					t.Errorf("worker %s lacks the kubelet script", w.Name)
				}
			}
		})
	}
}

func TestNoWorkersNoScripts(t *testing.T) {
	for _, f := range files(t, testplan.Compile(t, noWorkers)) {
		if f.Host != "" {
			t.Errorf("%s gets %s without workers", f.Host, f.Path)
		}
	}
}

func TestKubeProxyPatch(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var patch, apply *bundle.File
			fs := files(t, testplan.Compile(t, tc.src))
			for i, f := range fs {
				switch {
				case f.Host == "" && f.Path == KubeProxyPatch:
					patch = &fs[i]
				case f.Host == "" && f.Path == KubeProxyApply:
					apply = &fs[i]
				}
			}
			if patch == nil || apply == nil {
				t.Fatalf("patch %v, apply script %v", patch != nil, apply != nil)
			}
			if patch.Mode != bundle.ModePublic || apply.Mode != bundle.ModeScript {
				t.Errorf("modes: patch %v, script %v", patch.Mode, apply.Mode)
			}
			var doc struct {
				Data map[string]string `json:"data"`
			}
			if err := yaml.UnmarshalStrict(patch.Data, &doc); err != nil {
				t.Fatalf("patch: %v\n%s", err, patch.Data)
			}
			if len(doc.Data) != 1 {
				t.Errorf("patch data keys %v, want only kubeconfig.conf", doc.Data)
			}
			conf, ok := doc.Data["kubeconfig.conf"]
			if !ok {
				t.Fatalf("no data.kubeconfig.conf in\n%s", patch.Data)
			}
			var kc struct {
				Kind     string `json:"kind"`
				Clusters []struct {
					Name    string `json:"name"`
					Cluster struct {
						Server string `json:"server"`
						CA     string `json:"certificate-authority"`
					} `json:"cluster"`
				} `json:"clusters"`
				CurrentContext string `json:"current-context"`
			}
			if err := yaml.Unmarshal([]byte(conf), &kc); err != nil {
				t.Fatalf("kubeconfig.conf: %v\n%s", err, conf)
			}
			if kc.Kind != "Config" || len(kc.Clusters) != 1 {
				t.Fatalf("kubeconfig.conf: %+v", kc)
			}
			if got := kc.Clusters[0].Cluster.Server; got != tc.server {
				t.Errorf("kube-proxy server %s, want %s", got, tc.server)
			}
			if kc.Clusters[0].Cluster.CA != "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt" {
				t.Errorf("kube-proxy CA %s", kc.Clusters[0].Cluster.CA)
			}
			if !strings.Contains(string(apply.Data), filepath.Base(KubeProxyPatch)) {
				t.Errorf("apply script does not use %s", KubeProxyPatch)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	p := testplan.Compile(t, vip)
	a, b := files(t, p), files(t, p)
	if len(a) != len(b) {
		t.Fatal("different file counts")
	}
	for i := range a {
		if a[i].Host != b[i].Host || a[i].Path != b[i].Path || string(a[i].Data) != string(b[i].Data) {
			t.Errorf("render %d differs: %s:%s", i, a[i].Host, a[i].Path)
		}
	}
}

func TestShellcheck(t *testing.T) {
	const shellcheck = "/usr/bin/shellcheck"
	if _, err := os.Stat(shellcheck); err != nil {
		t.Skip("shellcheck is not installed")
	}
	dir := t.TempDir()
	for _, tc := range cases {
		for _, f := range files(t, testplan.Compile(t, tc.src)) {
			if f.Mode != bundle.ModeScript {
				continue
			}
			name := filepath.Join(dir, tc.name+"-"+f.Host+"-"+filepath.Base(f.Path)+".sh")
			if err := os.WriteFile(name, f.Data, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(shellcheck, "-s", "sh", name).CombinedOutput()
			if err != nil {
				t.Errorf("shellcheck %s:%s (%s): %v\n%s", f.Host, f.Path, tc.name, err, out)
			}
		}
	}
}

// TestKubeletScriptIdempotent runs the whole kubelet script twice against a
// kubeconfig the way kubeadm writes it, with a stub systemctl: the first run
// rewrites the server and restarts the kubelet, the second changes nothing.
func TestKubeletScriptIdempotent(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "kubelet.conf")
			const before = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: AAAA
    server: https://10.9.9.9:6443
  name: default-cluster
kind: Config
`
			if err := os.WriteFile(conf, []byte(before), 0o600); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(dir, "bin")
			log := filepath.Join(dir, "systemctl.log")
			if err := os.Mkdir(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			stub := "#!/bin/sh\necho \"$*\" >>'" + log + "'\n"
			if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			script := kubeletScript(tc.server)
			const confLine = "conf=/etc/kubernetes/kubelet.conf\n"
			if !strings.Contains(script, confLine) {
				t.Fatalf("script does not set %q:\n%s", confLine, script)
			}
			script = strings.Replace(script, confLine, "conf='"+conf+"'\n", 1)
			run := func() {
				t.Helper()
				cmd := exec.Command("sh", "-c", script)
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("script: %v\n%s", err, out)
				}
			}
			restarts := func() int {
				data, _ := os.ReadFile(log)
				return strings.Count(string(data), "restart kubelet")
			}
			run()
			got, _ := os.ReadFile(conf)
			if !strings.Contains(string(got), "    server: "+tc.server+"\n") || strings.Contains(string(got), "10.9.9.9") {
				t.Fatalf("rewritten kubeconfig:\n%s", got)
			}
			if info, _ := os.Stat(conf); info.Mode().Perm() != 0o600 {
				t.Errorf("kubelet.conf mode %v, want 0600", info.Mode().Perm())
			}
			if n := restarts(); n != 1 {
				t.Errorf("first run: %d kubelet restarts, want 1", n)
			}
			run()
			if n := restarts(); n != 1 {
				t.Errorf("second run: %d kubelet restarts in all, want 1 (not idempotent)", n)
			}
		})
	}
}

// TestKubeProxyKubeconfigIsKubeadms: the kubeconfig the patch writes is the
// one kubeadm 1.35-1.37 writes into the kube-proxy ConfigMap when it points
// at the endpoint, to the byte (kubeadm's template is a "|-" block with no
// final newline): applying the patch to such a cluster changes nothing.
func TestKubeProxyKubeconfigIsKubeadms(t *testing.T) {
	const kubeadms = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n    server: https://10.0.0.100:6443\n  name: default\ncontexts:\n- context:\n    cluster: default\n    namespace: default\n    user: default\n  name: default\ncurrent-context: default\nusers:\n- name: default\n  user:\n    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
	if got := kubeProxyKubeconfig("https://10.0.0.100:6443"); got != kubeadms {
		t.Errorf("kubeconfig.conf differs from kubeadm's:\n%q\nwant\n%q", got, kubeadms)
	}
}

// kubectlStub stands in for kubectl against a cluster whose state lives in
// $STATE: the kube-proxy ConfigMap (its content and resourceVersion) and the
// kube-proxy pods. It accepts only the invocations the scripts make, and
// "patch --patch-file" and "rollout" only when $KUBECTL_NEW is set: kubectl
// 1.10 has neither (pkg/kubectl/cmd/patch.go and rollout/ in v1.10.13), and
// answers them with an error as this stub does.
const kubectlStub = `#!/bin/sh
set -eu
s=$STATE
if [ "$1 $2" != "-n kube-system" ]; then
	echo "stub kubectl: want -n kube-system first: $*" >&2
	exit 2
fi
shift 2
patch() {
	if [ "$1" != "$(cat "$s/cm")" ]; then
		printf '%s' "$1" >"$s/cm"
		echo $(($(cat "$s/rv") + 1)) >"$s/rv"
	fi
}
restart() {
	gen=$(($(cat "$s/gen") + 1))
	echo "$gen" >"$s/gen"
	echo "kube-proxy-$gen-a kube-proxy-$gen-b" >"$s/pods"
	echo restart >>"$s/restarts"
}
case "$*" in
"get configmap kube-proxy -o jsonpath={.metadata.resourceVersion}") cat "$s/rv" ;;
"patch configmap kube-proxy --type merge -p "*) patch "$7" ;;
"patch configmap kube-proxy --type merge --patch-file "*)
	[ -n "${KUBECTL_NEW:-}" ] || { echo 'Error: unknown flag: --patch-file' >&2; exit 1; }
	patch "$(cat "$7")" ;;
"get pods -l k8s-app=kube-proxy -o jsonpath={.items[*].metadata.name}") cat "$s/pods" ;;
"get pods -l k8s-app=kube-proxy -o jsonpath={range .items[*]}"*)
	for p in $(cat "$s/pods"); do printf '%s=True ' "$p"; done ;;
"get daemonset kube-proxy -o jsonpath={.status.desiredNumberScheduled}") echo 2 ;;
"delete pods -l k8s-app=kube-proxy") restart ;;
"rollout restart daemonset kube-proxy" | "rollout status daemonset kube-proxy --timeout=5m")
	[ -n "${KUBECTL_NEW:-}" ] || { echo "Error: unknown command \"$2\" for \"kubectl rollout\"" >&2; exit 1; }
	if [ "$2" = restart ]; then restart; fi ;;
*)
	echo "stub kubectl: unexpected: $*" >&2
	exit 1 ;;
esac
`

// TestKubeProxyScriptRuns runs the kube-proxy script twice against a stub
// kubectl of the cluster's own era: a 1.10 cluster's script must make do
// with what kubectl 1.10 has (no --patch-file, no rollout restart), and
// both scripts restart kube-proxy on the first run only.
func TestKubeProxyScriptRuns(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, tc := range []struct {
		name, version string
		newKubectl    bool
	}{
		{"kubectl-1.10", "1.10.13", false},
		{"kubectl-1.35", "1.35.0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			state, bin, cluster := filepath.Join(dir, "state"), filepath.Join(dir, "bin"), filepath.Join(dir, "cluster")
			for _, d := range []string{state, bin, cluster} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write := func(name, data string, mode os.FileMode) {
				t.Helper()
				if err := os.WriteFile(name, []byte(data), mode); err != nil {
					t.Fatal(err)
				}
			}
			write(filepath.Join(bin, "kubectl"), kubectlStub, 0o755)
			write(filepath.Join(state, "cm"), "", 0o644)
			write(filepath.Join(state, "rv"), "100\n", 0o644)
			write(filepath.Join(state, "gen"), "0\n", 0o644)
			write(filepath.Join(state, "pods"), "kube-proxy-x kube-proxy-y\n", 0o644)
			src := strings.Replace(vip, `"1.35.0"`, `"`+tc.version+`"`, 1)
			var script string
			for _, f := range files(t, testplan.Compile(t, src)) {
				if f.Host == "" {
					write(filepath.Join(dir, f.Path), string(f.Data), 0o755)
					if f.Path == KubeProxyApply {
						script = filepath.Join(dir, f.Path)
					}
				}
			}
			restarts := func() int {
				data, _ := os.ReadFile(filepath.Join(state, "restarts"))
				return strings.Count(string(data), "restart")
			}
			run := func() {
				t.Helper()
				cmd := exec.Command("sh", script)
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "STATE="+state)
				if tc.newKubectl {
					cmd.Env = append(cmd.Env, "KUBECTL_NEW=1")
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s", KubeProxyApply, err, out)
				}
			}
			run()
			if cm, _ := os.ReadFile(filepath.Join(state, "cm")); !strings.Contains(string(cm), "server: https://10.0.0.100:6443") {
				t.Errorf("ConfigMap after the first run:\n%s", cm)
			}
			if n := restarts(); n != 1 {
				t.Errorf("first run: %d kube-proxy restarts, want 1", n)
			}
			run()
			if n := restarts(); n != 1 {
				t.Errorf("second run: %d kube-proxy restarts in all, want 1 (not idempotent)", n)
			}
		})
	}
}
