package kubelet

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The command line kubeadm's drop-in gives the kubelet, with
// kubeadm-flags.env as kubeadm init writes it for hagen's cp-a.
var unitArgs = []string{
	"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
	"--kubeconfig=/etc/kubernetes/kubelet.conf",
	"--config=/var/lib/kubelet/config.yaml",
	"--hostname-override=cp-a", "--node-ip=172.31.0.10",
}

func TestFlagsOfTheKubeadmUnit(t *testing.T) {
	o, err := parseFlags(unitArgs)
	if err != nil {
		t.Fatal(err)
	}
	if o.BootstrapKubeConfig != "/etc/kubernetes/bootstrap-kubelet.conf" || o.KubeConfig != "/etc/kubernetes/kubelet.conf" ||
		o.Config != "/var/lib/kubelet/config.yaml" || o.HostnameOverride != "cp-a" ||
		!slices.Equal(o.NodeIPs, []string{"172.31.0.10"}) {
		t.Errorf("parsed %+v", o)
	}
	if o.CertDir != "/var/lib/kubelet/pki" {
		t.Errorf("cert dir defaults to %q, the kubelet's is /var/lib/kubelet/pki", o.CertDir)
	}
	if len(o.ignored) != 0 {
		t.Errorf("flags the stand-in acts on were logged as ignored: %v", o.ignored)
	}
}

func TestFlagSyntaxes(t *testing.T) {
	o, err := parseFlags([]string{
		"--config", "/c.yaml", // a value flag takes the next argument
		"--rotate-certificates", // a bool alone is true
		"--register-node=false", // a bool with a value
		"-v", "4",               // the -v shorthand
		"--node_labels=a=b,c=d", // underscores read as dashes
		"--node-labels", "e=f",  // repeated --node-labels add up
		"--cgroup-driver=systemd", // known, not acted on
		"--fail-swap-on=false",    // known bool, not acted on
		"--cert-dir", "/pki",
		"--register-with-taints=node-role.kubernetes.io/worker=:NoSchedule,dedicated=infra:NoExecute",
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.Config != "/c.yaml" || o.set["rotate-certificates"] != "true" || o.set["register-node"] != "false" ||
		o.Verbosity != 4 || o.CertDir != "/pki" {
		t.Errorf("parsed %+v", o)
	}
	if want := map[string]string{"a": "b", "c": "d", "e": "f"}; len(o.NodeLabels) != 3 || o.NodeLabels["e"] != want["e"] || o.NodeLabels["a"] != "b" {
		t.Errorf("node labels %v, want %v", o.NodeLabels, want)
	}
	if !slices.Equal(o.ignored, []string{"cgroup-driver", "fail-swap-on"}) {
		t.Errorf("ignored flags %v", o.ignored)
	}
	want := []corev1.Taint{
		{Key: "node-role.kubernetes.io/worker", Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoExecute},
	}
	if !slices.Equal(o.Taints, want) {
		t.Errorf("taints %v, want %v", o.Taints, want)
	}
	for _, args := range [][]string{{"-v=3"}, {"-v3"}, {"--v=3"}, {"--v", "3"}} {
		if o, err := parseFlags(args); err != nil || o.Verbosity != 3 {
			t.Errorf("%v: verbosity %v, %v", args, o, err)
		}
	}
}

// A bundle that passes the kubelet a flag it does not have must fail as
// it would on a real node: with exit status 1.
func TestBadCommandLines(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag=1"},
		{"--container-runtime=remote"},                             // gone from the kubelet; old bundles pass it
		{"--pod-infra-container-image=registry.k8s.io/pause:3.10"}, // likewise
		{"-x"},
		{"--config"}, // a value flag needs its value
		{"--rotate-certificates", "/etc/kubelet.yaml"}, // a bool takes no value: this is a stray argument
		{"run"},
		{"--register-node=maybe"},
		{"--healthz-port=http"},
		{"--register-with-taints=a=b:Sometimes"},
		{"--node-labels=noequals"},
	} {
		if o, err := parseFlags(args); err == nil {
			t.Errorf("%v parsed as %+v, want an error", args, o)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--kubeconfig=/k", "--no-such-flag"}, &out, deps{}); code != 1 {
		t.Errorf("an unknown flag exits %d, want 1", code)
	}
}

func TestNodeLabelsOnlyThoseTheKubeletMaySet(t *testing.T) {
	for labels, ok := range map[string]bool{
		"node-role.kubernetes.io/control-plane=": false, // NodeRestriction forbids it; kubeadm sets it
		"kubernetes.io/role=master":              false,
		"node.kubernetes.io/instance-type=lab":   true,
		"kubelet.kubernetes.io/x=y":              true,
		"example.com/rack=r1":                    true,
		"topology.kubernetes.io/zone=a":          true,
	} {
		o, err := parseFlags([]string{"--node-labels=" + labels})
		if err != nil {
			t.Fatal(err)
		}
		if err := validateNodeLabels(o.NodeLabels); (err == nil) != ok {
			t.Errorf("--node-labels=%s: error %v, want ok=%v", labels, err, ok)
		}
	}
}

// kubeadm's preflight runs `kubelet --version` and parses it with this
// expression (cmd/kubeadm/app/preflight/utils.go).
var kubeadmVersionRegex = regexp.MustCompile(`^\s*Kubernetes v((0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)([-\w.+]*)?)\s*$`)

func TestVersionAsKubeadmReadsIt(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &out, deps{}); code != 0 {
		t.Fatalf("--version exits %d", code)
	}
	m := kubeadmVersionRegex.FindStringSubmatch(strings.TrimSpace(out.String()))
	if m == nil || m[1] != "1.37.2+hagen-lab" {
		t.Errorf("--version printed %q; kubeadm reads %v", out.String(), m)
	}
	out.Reset()
	if code := run(context.Background(), []string{"--help"}, &out, deps{}); code != 0 || !strings.Contains(out.String(), "stand-in") {
		t.Errorf("--help exits %d with %q", code, out.String())
	}
}
