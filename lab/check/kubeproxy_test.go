package check

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/hagen/hagen/lab/agent"
)

const (
	testEndpoint = "https://10.0.0.100:6443"
	testDirect   = "https://10.0.0.10:6443"
)

// kubeadmKubeconfig is kube-proxy's kubeconfig.conf as kubeadm writes it.
func kubeadmKubeconfig(server string) string {
	return `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: ` + server + `
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token`
}

// fakeCluster is kube-proxy on two nodes, with a stand-in for the bundle's
// script that an API server and the DaemonSet controller would answer.
type fakeCluster struct {
	t     *testing.T
	kube  *fake.Clientset
	nodes []string
	rv    int
	pods  int
}

func newFakeCluster(t *testing.T) *fakeCluster {
	f := &fakeCluster{t: t, nodes: []string{"master0", "worker0"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: "kube-system", ResourceVersion: "1"},
		Data: map[string]string{"kubeconfig.conf": kubeadmKubeconfig(testEndpoint), "config.conf": "mode: iptables\n"}}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: "kube-system", Generation: 1},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-proxy"}}}}
	f.kube = fake.NewClientset(cm, ds)
	f.rv = 1
	f.rollOut()
	return f
}

func (f *fakeCluster) ctx() context.Context { return context.Background() }

func (f *fakeCluster) configMap() *corev1.ConfigMap {
	cm, err := f.kube.CoreV1().ConfigMaps("kube-system").Get(f.ctx(), "kube-proxy", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cm
}

// patch sets the ConfigMap's server, bumping its resourceVersion when
// that changes it, as a merge patch does; it reports whether it did.
func (f *fakeCluster) patch(server string) bool {
	cm := f.configMap()
	conf := kubeadmKubeconfig(server)
	if cm.Data["kubeconfig.conf"] == conf {
		return false
	}
	f.rv++
	cm.Data["kubeconfig.conf"], cm.ResourceVersion = conf, strconv.Itoa(f.rv)
	if _, err := f.kube.CoreV1().ConfigMaps("kube-system").Update(f.ctx(), cm, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	return true
}

// restart is rollout restart: the next generation.
func (f *fakeCluster) restart() {
	ds, err := f.kube.AppsV1().DaemonSets("kube-system").Get(f.ctx(), "kube-proxy", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	ds.Generation++
	if _, err := f.kube.AppsV1().DaemonSets("kube-system").Update(f.ctx(), ds, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

// rollOut is the DaemonSet controller and the kubelets finishing a
// rollout: the old pods gone, a new ready pod on every node, the status
// counted.
func (f *fakeCluster) rollOut() {
	pods := f.kube.CoreV1().Pods("kube-system")
	list, err := pods.List(f.ctx(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range list.Items {
		if err := pods.Delete(f.ctx(), p.Name, metav1.DeleteOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
	for _, n := range f.nodes {
		f.pods++
		name := fmt.Sprintf("kube-proxy-%d", f.pods)
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", UID: types.UID("uid-" + name), Labels: map[string]string{"k8s-app": "kube-proxy"}},
			Spec:   corev1.PodSpec{NodeName: n},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
		if _, err := pods.Create(f.ctx(), p, metav1.CreateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
	f.count(int32(len(f.nodes)))
}

// count sets the DaemonSet's status as its controller would, with
// updated pods of the current generation.
func (f *fakeCluster) count(updated int32) {
	ds, err := f.kube.AppsV1().DaemonSets("kube-system").Get(f.ctx(), "kube-proxy", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	n := int32(len(f.nodes))
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: n, CurrentNumberScheduled: n, UpdatedNumberScheduled: updated, NumberAvailable: n, NumberReady: n}
	if _, err := f.kube.AppsV1().DaemonSets("kube-system").UpdateStatus(f.ctx(), ds, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeCluster) repoint(run func() string) *KubeProxyRepoint {
	return &KubeProxyRepoint{Kube: f.kube, Nodes: f.nodes, Direct: testDirect, Want: testEndpoint,
		Run: func() (*agent.ExecReply, error) { return &agent.ExecReply{Stdout: []byte(run())}, nil }}
}

// TestKubeProxyRepoint: the check passes a script that re-points and
// restarts once, and names the fault of scripts broken on purpose.
func TestKubeProxyRepoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(f *fakeCluster) string
		want   string // "" passes
	}{
		{"the bundle's script", func(f *fakeCluster) string {
			if !f.patch(testEndpoint) {
				return "configmap/kube-proxy patched (no change)"
			}
			f.restart()
			f.rollOut()
			return "configmap/kube-proxy patched\ndaemonset.apps/kube-proxy restarted\ndaemon set \"kube-proxy\" successfully rolled out"
		}, ""},
		{"a script that does not change the server", func(f *fakeCluster) string {
			f.restart()
			f.rollOut()
			return "daemonset.apps/kube-proxy restarted"
		}, "the kube-proxy ConfigMap dials " + testDirect + ", want " + testEndpoint},
		{"a script that does not restart kube-proxy", func(f *fakeCluster) string {
			f.patch(testEndpoint)
			return "configmap/kube-proxy patched"
		}, "from generation 1 to 1, want one restart (2)"},
		{"a script that always restarts", func(f *fakeCluster) string {
			f.patch(testEndpoint)
			f.restart()
			f.rollOut()
			return "daemonset.apps/kube-proxy restarted"
		}, "a second run of kube-proxy-repoint.sh (daemonset.apps/kube-proxy restarted) restarted kube-proxy or changed its configuration: the DaemonSet (generation 2 -> 3), the pods (kube-proxy-3 kube-proxy-4 -> kube-proxy-5 kube-proxy-6)"},
		{"a script that does not wait for the rollout", func(f *fakeCluster) string {
			if f.patch(testEndpoint) {
				f.restart()
				f.count(0)
			}
			return "daemonset.apps/kube-proxy restarted"
		}, "returned before the rollout finished: the kube-proxy DaemonSet has 0 pods updated and 2 available of 2 desired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCluster(t)
			detail, err := f.repoint(func() string { return tc.script(f) }).Check(context.Background())
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want == "":
				if want := "ConfigMap " + testDirect + " -> " + testEndpoint + "; the script restarted kube-proxy"; !strings.HasPrefix(detail, want) {
					t.Errorf("detail %q, want it to start %q", detail, want)
				}
				if !strings.Contains(detail, "2 new pods, generation 1 -> 2") {
					t.Errorf("detail %q", detail)
				}
			case err == nil:
				t.Fatalf("passed (%s), want a failure naming %q", detail, tc.want)
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want it to name %q", err, tc.want)
			}
		})
	}
}

// TestKubeProxyRepointMisPoints: the ConfigMap the script sees dials the
// master, the rest of kubeadm's kubeconfig as it was.
func TestKubeProxyRepointMisPoints(t *testing.T) {
	f := newFakeCluster(t)
	var seen string
	k := f.repoint(func() string {
		seen = f.configMap().Data["kubeconfig.conf"]
		return ""
	})
	if _, err := k.Check(context.Background()); err == nil {
		t.Fatal("a script that does nothing passed")
	}
	if seen != kubeadmKubeconfig(testDirect) {
		t.Errorf("the script saw:\n%s\nwant kubeadm's kubeconfig with server %s", seen, testDirect)
	}
}

func TestKubeProxyRolledOut(t *testing.T) {
	base := func() *KubeProxy {
		return &KubeProxy{Generation: 2, ObservedGeneration: 2, Desired: 2, Updated: 2, Available: 2, Pods: map[string]KubeProxyPod{
			"a": {Name: "kube-proxy-a", Node: "master0", Ready: true},
			"b": {Name: "kube-proxy-b", Node: "worker0", Ready: true},
		}}
	}
	nodes := []string{"master0", "worker0"}
	if err := base().RolledOut(nodes); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		edit func(*KubeProxy)
		want string
	}{
		{func(k *KubeProxy) { k.ObservedGeneration = 1 }, "has seen generation 1 of 2"},
		{func(k *KubeProxy) { k.Available = 1 }, "2 pods updated and 1 available of 2 desired"},
		{func(k *KubeProxy) { delete(k.Pods, "b") }, "worker0 has no kube-proxy pod"},
		{func(k *KubeProxy) {
			k.Pods["c"] = KubeProxyPod{Name: "kube-proxy-c", Node: "worker0", Terminating: true}
		}, "worker0 has 2 kube-proxy pods"},
		{func(k *KubeProxy) { k.Pods["b"] = KubeProxyPod{Name: "kube-proxy-b", Node: "worker0"} }, "worker0's kube-proxy pod kube-proxy-b is not ready"},
		{func(k *KubeProxy) { k.Pods["b"] = KubeProxyPod{Name: "kube-proxy-b", Node: "worker1", Ready: true} }, `kube-proxy runs on "worker1", which is no node`},
	} {
		k := base()
		tc.edit(k)
		if err := k.RolledOut(nodes); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RolledOut = %v, want %q", err, tc.want)
		}
	}
}

func TestKubeProxyPeers(t *testing.T) {
	out := `0      0          10.0.0.20:50052   10.0.0.100:6443 users:(("kube-proxy",pid=288,fd=6))
0      0          10.0.0.20:50060   10.0.0.100:6443 users:(("kubelet",pid=90,fd=12))
0      0      [fd00::20]:41000 [fd00::100]:6443 users:(("kube-proxy",pid=300,fd=7))
0      0      [::ffff:10.0.0.20]:41002 [::ffff:10.0.0.10]:6443 users:(("kube-proxy",pid=300,fd=8))
`
	got, err := kubeProxyPeers(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.100:6443"), netip.MustParseAddrPort("[fd00::100]:6443"), netip.MustParseAddrPort("10.0.0.10:6443")}
	if !slices.Equal(got, want) {
		t.Errorf("peers %v, want %v", got, want)
	}
	if _, err := kubeProxyPeers(`garbage users:(("kube-proxy",pid=1,fd=1))`); err == nil {
		t.Error("a line ss would not print parsed")
	}
}
