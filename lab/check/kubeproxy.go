package check

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hagen/hagen/lab/agent"
)

// KubeProxy is kube-proxy as the API shows it at one moment: its
// ConfigMap, its DaemonSet and the DaemonSet's pods.
type KubeProxy struct {
	// ConfigMapVersion is the kube-proxy ConfigMap's resourceVersion,
	// Server the server of its kubeconfig.conf.
	ConfigMapVersion, Server string
	// Generation and ObservedGeneration are the DaemonSet's.
	Generation, ObservedGeneration int64
	// Desired, Updated and Available are the DaemonSet's status counts.
	Desired, Updated, Available int32
	// Pods are the DaemonSet's pods by UID.
	Pods map[string]KubeProxyPod
}

// KubeProxyPod is one pod of the kube-proxy DaemonSet.
type KubeProxyPod struct {
	Name, Node  string
	Ready       bool
	Terminating bool
}

// ReadKubeProxy reads kube-proxy's ConfigMap, DaemonSet and pods.
func ReadKubeProxy(ctx context.Context, kube kubernetes.Interface) (*KubeProxy, error) {
	cm, err := kube.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the kube-proxy ConfigMap: %w", err)
	}
	server, err := kubeconfigServer([]byte(cm.Data["kubeconfig.conf"]))
	if err != nil {
		return nil, fmt.Errorf("the kube-proxy ConfigMap's kubeconfig.conf: %w", err)
	}
	ds, err := kube.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the kube-proxy DaemonSet: %w", err)
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("the kube-proxy DaemonSet's selector: %w", err)
	}
	pods, err := kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("the kube-proxy pods: %w", err)
	}
	kp := &KubeProxy{
		ConfigMapVersion: cm.ResourceVersion, Server: server,
		Generation: ds.Generation, ObservedGeneration: ds.Status.ObservedGeneration,
		Desired: ds.Status.DesiredNumberScheduled, Updated: ds.Status.UpdatedNumberScheduled, Available: ds.Status.NumberAvailable,
		Pods: map[string]KubeProxyPod{},
	}
	for _, p := range pods.Items {
		kp.Pods[string(p.UID)] = KubeProxyPod{Name: p.Name, Node: p.Spec.NodeName, Ready: podReady(&p), Terminating: p.DeletionTimestamp != nil}
	}
	return kp, nil
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func kubeconfigServer(data []byte) (string, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return "", err
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.Clusters[ctx.Cluster] == nil {
		return "", fmt.Errorf("no current cluster")
	}
	return cfg.Clusters[ctx.Cluster].Server, nil
}

// RolledOut says why kube-proxy is not running on exactly the nodes
// given, one ready pod each, from the DaemonSet's current template (what
// kubectl rollout status waits for, and the pods themselves), or nil.
func (kp *KubeProxy) RolledOut(nodes []string) error {
	if kp.ObservedGeneration != kp.Generation {
		return fmt.Errorf("the kube-proxy DaemonSet's controller has seen generation %d of %d", kp.ObservedGeneration, kp.Generation)
	}
	if int(kp.Desired) != len(nodes) || kp.Updated != kp.Desired || kp.Available != kp.Desired {
		return fmt.Errorf("the kube-proxy DaemonSet has %d pods updated and %d available of %d desired, want %d (one per node)", kp.Updated, kp.Available, kp.Desired, len(nodes))
	}
	on := map[string][]KubeProxyPod{}
	for _, p := range kp.Pods {
		on[p.Node] = append(on[p.Node], p)
	}
	var wrong []string
	for _, n := range nodes {
		ps := on[n]
		switch {
		case len(ps) == 0:
			wrong = append(wrong, n+" has no kube-proxy pod")
		case len(ps) > 1:
			wrong = append(wrong, fmt.Sprintf("%s has %d kube-proxy pods", n, len(ps)))
		case ps[0].Terminating:
			wrong = append(wrong, fmt.Sprintf("%s's kube-proxy pod %s is terminating", n, ps[0].Name))
		case !ps[0].Ready:
			wrong = append(wrong, fmt.Sprintf("%s's kube-proxy pod %s is not ready", n, ps[0].Name))
		}
		delete(on, n)
	}
	for n := range on {
		wrong = append(wrong, fmt.Sprintf("kube-proxy runs on %q, which is no node of the bundle", n))
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		return fmt.Errorf("%s", strings.Join(wrong, "; "))
	}
	return nil
}

// UIDs are the pods' UIDs, sorted.
func (kp *KubeProxy) UIDs() []string {
	out := make([]string, 0, len(kp.Pods))
	for uid := range kp.Pods {
		out = append(out, uid)
	}
	slices.Sort(out)
	return out
}

// ssKubeProxyRE matches ss(8)'s process column when kube-proxy holds the
// socket.
var ssKubeProxyRE = regexp.MustCompile(`\(\("kube-proxy",`)

// KubeProxyDials checks on every node that kube-proxy holds a connection
// to the API server and that each of its connections goes to peer (the
// endpoint's address): what it dials, not only what its ConfigMap says.
// It reads ss(8) inside each host.
func KubeProxyDials(nodes map[string]*agent.Client, peer netip.AddrPort) error {
	var wrong []string
	for _, n := range slices.Sorted(maps.Keys(nodes)) {
		r, err := nodes[n].Exec(agent.ExecArgs{Argv: []string{"ss", "-Htnp", "state", "established"}, Timeout: 10 * time.Second})
		if err != nil {
			return err
		}
		if r.Code != 0 {
			return fmt.Errorf("%s: ss exited %d: %s", n, r.Code, strings.TrimSpace(string(r.Stderr)))
		}
		peers, err := kubeProxyPeers(string(r.Stdout))
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if len(peers) == 0 {
			wrong = append(wrong, n+"'s kube-proxy has no connection")
		}
		for _, p := range peers {
			if p != peer {
				wrong = append(wrong, fmt.Sprintf("%s's kube-proxy dials %s", n, p))
			}
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%s, want %s", strings.Join(wrong, "; "), peer)
	}
	return nil
}

// kubeProxyPeers are the peers of kube-proxy's established TCP
// connections in the output of ss -Htnp state established (columns
// Recv-Q, Send-Q, local, peer, process).
func kubeProxyPeers(out string) ([]netip.AddrPort, error) {
	var peers []netip.AddrPort
	for _, l := range strings.Split(out, "\n") {
		if !ssKubeProxyRE.MatchString(l) {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 5 {
			return nil, fmt.Errorf("ss printed %q", l)
		}
		ap, err := netip.ParseAddrPort(f[3])
		if err != nil {
			return nil, fmt.Errorf("ss printed %q: %w", l, err)
		}
		peers = append(peers, netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()))
	}
	return peers, nil
}

// KubeProxyRepoint runs the bundle's cluster/kube-proxy-repoint.sh on a
// live cluster whose kube-proxy ConfigMap dials one master's own address,
// as a cluster that grew from a single master has it.
type KubeProxyRepoint struct {
	Kube kubernetes.Interface
	// Nodes are every node, each of which must run kube-proxy.
	Nodes []string
	// Run runs the script where the RUNBOOK says: a machine with the
	// bundle and an admin kubeconfig.
	Run func() (*agent.ExecReply, error)
	// Direct is the master's own address the ConfigMap is mis-pointed
	// at; Want is the endpoint (https://host:port).
	Direct, Want string
	// Dials, if set, checks what the restarted kube-proxies dial.
	Dials func() error
	// Settle bounds the waits for what follows a run (the new
	// kube-proxies' connections).
	Settle time.Duration
}

var serverLineRE = regexp.MustCompile(`(?m)^(\s+server:\s*)\S+\s*$`)

// Check mis-points the ConfigMap, runs the script, and checks that the
// ConfigMap names the endpoint, that the script waited for the DaemonSet's
// rollout (when it returns, every node runs a new ready pod of the next
// generation and none of the old pods is left), that the new kube-proxies
// dial the endpoint, and that a second run changes nothing: the same
// ConfigMap resourceVersion, the same DaemonSet generation, the same pods.
// It returns the report's detail line.
func (k *KubeProxyRepoint) Check(ctx context.Context) (string, error) {
	before, err := ReadKubeProxy(ctx, k.Kube)
	if err != nil {
		return "", err
	}
	if err := before.RolledOut(k.Nodes); err != nil {
		return "", fmt.Errorf("before the script: %w", err)
	}
	if err := k.misPoint(ctx); err != nil {
		return "", err
	}
	mis, err := ReadKubeProxy(ctx, k.Kube)
	if err != nil {
		return "", err
	}
	if mis.Server != k.Direct {
		return "", fmt.Errorf("the kube-proxy ConfigMap dials %s after it was mis-pointed, want %s", mis.Server, k.Direct)
	}

	t0 := time.Now()
	r, err := k.Run()
	if err != nil {
		return "", err
	}
	first := time.Since(t0)
	if r.Code != 0 {
		return "", fmt.Errorf("kube-proxy-repoint.sh exited %d:\n%s", r.Code, tail(string(r.Stdout)+string(r.Stderr), 20))
	}
	// Read at once: the script has returned, so its rollout status has
	// seen the rollout finish.
	after, err := ReadKubeProxy(ctx, k.Kube)
	if err != nil {
		return "", err
	}
	if after.Server != k.Want {
		return "", fmt.Errorf("after kube-proxy-repoint.sh (%s) the kube-proxy ConfigMap dials %s, want %s", oneLine(r.Stdout), after.Server, k.Want)
	}
	if after.Generation != mis.Generation+1 {
		return "", fmt.Errorf("kube-proxy-repoint.sh (%s) changed the ConfigMap and took the kube-proxy DaemonSet from generation %d to %d, want one restart (%d)", oneLine(r.Stdout), mis.Generation, after.Generation, mis.Generation+1)
	}
	if err := after.RolledOut(k.Nodes); err != nil {
		return "", fmt.Errorf("kube-proxy-repoint.sh returned before the rollout finished: %w", err)
	}
	var kept []string
	for uid, p := range after.Pods {
		if _, ok := mis.Pods[uid]; ok {
			kept = append(kept, p.Name+" on "+p.Node)
		}
	}
	if len(kept) > 0 {
		slices.Sort(kept)
		return "", fmt.Errorf("kube-proxy-repoint.sh returned with old kube-proxy pods still there: %s", strings.Join(kept, ", "))
	}
	dialled := ""
	if k.Dials != nil {
		took, err := Eventually(ctx, k.Settle, time.Second, func(context.Context) error { return k.Dials() })
		if err != nil {
			return "", fmt.Errorf("after kube-proxy-repoint.sh: %w", err)
		}
		dialled = fmt.Sprintf(", every new kube-proxy connected to the endpoint within %s", took.Round(100*time.Millisecond))
	}

	t1 := time.Now()
	r, err = k.Run()
	if err != nil {
		return "", err
	}
	second := time.Since(t1)
	if r.Code != 0 {
		return "", fmt.Errorf("a second run of kube-proxy-repoint.sh exited %d:\n%s", r.Code, tail(string(r.Stdout)+string(r.Stderr), 20))
	}
	again, err := ReadKubeProxy(ctx, k.Kube)
	if err != nil {
		return "", err
	}
	var changed []string
	if again.ConfigMapVersion != after.ConfigMapVersion {
		changed = append(changed, fmt.Sprintf("the ConfigMap (resourceVersion %s -> %s)", after.ConfigMapVersion, again.ConfigMapVersion))
	}
	if again.Generation != after.Generation {
		changed = append(changed, fmt.Sprintf("the DaemonSet (generation %d -> %d)", after.Generation, again.Generation))
	}
	if !slices.Equal(again.UIDs(), after.UIDs()) {
		changed = append(changed, fmt.Sprintf("the pods (%s -> %s)", podNames(after), podNames(again)))
	}
	if len(changed) > 0 {
		return "", fmt.Errorf("a second run of kube-proxy-repoint.sh (%s) restarted kube-proxy or changed its configuration: %s", oneLine(r.Stdout), strings.Join(changed, ", "))
	}
	return fmt.Sprintf("ConfigMap %s -> %s; the script restarted kube-proxy and waited for its rollout (%s): %d new pods, generation %d -> %d%s; a second run changed nothing (%s)",
		k.Direct, k.Want, first.Round(100*time.Millisecond), len(after.Pods), mis.Generation, after.Generation, dialled, second.Round(100*time.Millisecond)), nil
}

// misPoint sets the server of the ConfigMap's kubeconfig.conf to Direct,
// the rest as it is.
func (k *KubeProxyRepoint) misPoint(ctx context.Context) error {
	cms := k.Kube.CoreV1().ConfigMaps("kube-system")
	cm, err := cms.Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("the kube-proxy ConfigMap: %w", err)
	}
	conf := cm.Data["kubeconfig.conf"]
	if n := len(serverLineRE.FindAllStringIndex(conf, -1)); n != 1 {
		return fmt.Errorf("the kube-proxy ConfigMap's kubeconfig.conf has %d server lines, want 1", n)
	}
	cm.Data["kubeconfig.conf"] = serverLineRE.ReplaceAllString(conf, "${1}"+k.Direct)
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mis-pointing the kube-proxy ConfigMap: %w", err)
	}
	return nil
}

func podNames(kp *KubeProxy) string {
	var out []string
	for _, p := range kp.Pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\n", "; ")), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return "no output"
	}
	return strings.TrimSuffix(s, ";")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
