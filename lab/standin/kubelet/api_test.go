package kubelet

import (
	"context"
	"fmt"
	goruntime "runtime"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// newClient is a fake API server that, as the real one, gives every
// object it creates a UID.
func newClient(objs ...runtime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	n := 0
	c.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if o, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object); ok && o.GetUID() == "" {
			n++
			o.SetUID(types.UID(fmt.Sprintf("uid-%d", n)))
		}
		return false, nil, nil
	})
	return c
}

func testNode() *nodeSpec {
	return &nodeSpec{
		Name: "cp-b", Hostname: "cp-b", IPs: []string{"172.31.16.10"},
		Labels:  map[string]string{"node.kubernetes.io/pool": "control"},
		Taints:  []corev1.Taint{{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoSchedule}},
		MaxPods: 110, EvictionHard: defaultEvictionHard, Version: "v1.37.2+hagen-lab",
		Facts: hostFacts{CPUs: 2, MemoryBytes: 4 << 30, EphemeralBytes: 100 << 30, MachineID: "m", BootID: "b", KernelVersion: "6.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)"},
	}
}

// The Node as the kubelet registers it, with what kubeadm waits for (the
// kubernetes.io/hostname label: mark-control-plane polls for it) and an
// honest Ready=False: the lab has no pod network.
func TestRegisterNode(t *testing.T) {
	client := newClient()
	now := newClock().Now()
	n, err := registerNode(context.Background(), client, testNode(), now)
	if err != nil {
		t.Fatal(err)
	}
	node, err := client.CoreV1().Nodes().Get(context.Background(), "cp-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != node.Name {
		t.Errorf("returned %s", n.Name)
	}
	for k, v := range map[string]string{
		"kubernetes.io/hostname": "cp-b", "kubernetes.io/os": "linux", "kubernetes.io/arch": goruntime.GOARCH,
		"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": goruntime.GOARCH, "node.kubernetes.io/pool": "control",
	} {
		if node.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, node.Labels[k], v)
		}
	}
	if node.Annotations[annCMAD] != "true" {
		t.Errorf("annotations %v", node.Annotations)
	}
	if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "dedicated" {
		t.Errorf("taints %v", node.Spec.Taints)
	}
	want := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.31.16.10"}, {Type: corev1.NodeHostName, Address: "cp-b"}}
	if !slices.Equal(node.Status.Addresses, want) {
		t.Errorf("addresses %v", node.Status.Addresses)
	}
	c, a := node.Status.Capacity, node.Status.Allocatable
	if c.Cpu().Value() != 2 || c.Memory().Value() != 4<<30 || c.Pods().Value() != 110 || c.StorageEphemeral().Value() != 100<<30 {
		t.Errorf("capacity %v", c)
	}
	if a.Memory().Value() != 4<<30-100<<20 || a.StorageEphemeral().Value() != 90<<30 || a.Cpu().Value() != 2 {
		t.Errorf("allocatable %v: capacity less the default hard eviction thresholds", a)
	}
	conds := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range node.Status.Conditions {
		conds[c.Type] = c
	}
	for _, t2 := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		if conds[t2].Status != corev1.ConditionFalse {
			t.Errorf("%s: %+v", t2, conds[t2])
		}
	}
	ready := conds[corev1.NodeReady]
	if ready.Status != corev1.ConditionFalse || ready.Reason != "KubeletNotReady" ||
		ready.Message != "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized" {
		t.Errorf("Ready %+v", ready)
	}
	if i := node.Status.NodeInfo; i.KubeletVersion != "v1.37.2+hagen-lab" || i.OperatingSystem != "linux" || i.Architecture != goruntime.GOARCH || i.KernelVersion != "6.1.0" {
		t.Errorf("node info %+v", i)
	}
}

// A node that exists already is reconciled as the kubelet does: its
// default labels and the attach-detach annotation are put back, what
// kubeadm added stays, and --node-labels are not imposed.
func TestRegisterExistingNode(t *testing.T) {
	existing := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cp-b", UID: "uid-1", Labels: map[string]string{
		"node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "windows",
	}}}
	client := newClient(existing)
	n, err := registerNode(context.Background(), client, testNode(), newClock().Now())
	if err != nil {
		t.Fatal(err)
	}
	if n.UID != "uid-1" {
		t.Errorf("UID %q: the existing node's is needed for the mirror pods", n.UID)
	}
	node, _ := client.CoreV1().Nodes().Get(context.Background(), "cp-b", metav1.GetOptions{})
	if node.Labels["kubernetes.io/hostname"] != "cp-b" || node.Labels["kubernetes.io/os"] != "linux" ||
		node.Annotations[annCMAD] != "true" {
		t.Errorf("not reconciled: %v %v", node.Labels, node.Annotations)
	}
	if _, ok := node.Labels["node-role.kubernetes.io/control-plane"]; !ok {
		t.Error("kubeadm's label was dropped")
	}
	if _, ok := node.Labels["node.kubernetes.io/pool"]; ok {
		t.Error("--node-labels were set on an existing node")
	}
}

func TestNodeStatusHeartbeat(t *testing.T) {
	client := newClient()
	clock := newClock()
	if _, err := registerNode(context.Background(), client, testNode(), clock.Now()); err != nil {
		t.Fatal(err)
	}
	created := clock.Now()
	clock.Step(10 * time.Second)
	node, err := updateNodeStatus(context.Background(), client, testNode(), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range node.Status.Conditions {
		if !c.LastHeartbeatTime.Time.Equal(clock.Now()) || !c.LastTransitionTime.Time.Equal(created) {
			t.Errorf("%s: heartbeat %v transition %v", c.Type, c.LastHeartbeatTime, c.LastTransitionTime)
		}
	}
	var patched bool
	for _, a := range client.Actions() {
		patched = patched || (a.GetVerb() == "patch" && a.GetSubresource() == "status")
	}
	if !patched {
		t.Error("the status was not patched through the status subresource")
	}
}

func TestLease(t *testing.T) {
	client := newClient()
	clock := newClock()
	// Before the node is registered, the lease has no owner yet.
	l, err := renewLease(context.Background(), client, "cp-b", "", 40, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if l.Namespace != "kube-node-lease" || *l.Spec.HolderIdentity != "cp-b" || *l.Spec.LeaseDurationSeconds != 40 ||
		!l.Spec.RenewTime.Time.Equal(clock.Now()) || len(l.OwnerReferences) != 0 {
		t.Errorf("lease %+v", l)
	}
	clock.Step(10 * time.Second)
	if _, err := renewLease(context.Background(), client, "cp-b", "node-uid", 40, clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoordinationV1().Leases("kube-node-lease").Get(context.Background(), "cp-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Spec.RenewTime.Time.Equal(clock.Now()) {
		t.Errorf("renewTime %v, want %v", got.Spec.RenewTime, clock.Now())
	}
	want := []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "cp-b", UID: "node-uid"}}
	if !slices.EqualFunc(got.OwnerReferences, want, func(a, b metav1.OwnerReference) bool {
		return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.UID == b.UID && a.Controller == nil
	}) {
		t.Errorf("owner references %+v", got.OwnerReferences)
	}
}

// staticWithStatus is a kubeadm static pod as podManager.snapshot gives
// it.
func staticWithStatus(t *testing.T, file, node string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	sp, err := decodeManifest("/etc/kubernetes/manifests/x.yaml", testdata(t, file), node)
	if err != nil {
		t.Fatal(err)
	}
	p := sp.Pod
	p.Annotations[annConfigSeen] = "2026-11-29T10:00:00.000000000Z"
	p.Status = corev1.PodStatus{Phase: phase, QOSClass: corev1.PodQOSBurstable}
	return p
}

// The mirror pods NodeRestriction admits: named <name>-<node>, the
// config annotations, exactly one controller reference to the Node with
// its UID and no blockOwnerDeletion; replaced when the manifest changes,
// deleted when it goes; their status kept true.
func TestMirrorPods(t *testing.T) {
	other := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1", Namespace: "kube-system"}, Spec: corev1.PodSpec{NodeName: "cp-a"}}
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy-cp-a", Namespace: "kube-system", UID: "orphan",
		Annotations: map[string]string{annConfigMirror: "h"}}, Spec: corev1.PodSpec{NodeName: "cp-a"}}
	elsewhere := orphan.DeepCopy()
	elsewhere.Name, elsewhere.Spec.NodeName = "kube-proxy-cp-b", "cp-b"
	client := newClient(other, orphan, elsewhere)
	ctx := context.Background()
	nodeUID := types.UID("node-uid")

	apiserver := staticWithStatus(t, "kubeadm/kube-apiserver.yaml", "cp-a", corev1.PodPending)
	if err := syncMirrorPods(ctx, client, "cp-a", nodeUID, []*corev1.Pod{apiserver}); err != nil {
		t.Fatal(err)
	}
	m, err := client.CoreV1().Pods("kube-system").Get(ctx, "kube-apiserver-cp-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hash := apiserver.Annotations[annConfigHash]
	for k, v := range map[string]string{
		annConfigHash: hash, annConfigMirror: hash, annConfigSource: "file", annConfigSeen: "2026-11-29T10:00:00.000000000Z",
		"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": "172.31.0.10:6443",
	} {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s=%q, want %q", k, m.Annotations[k], v)
		}
	}
	if len(m.OwnerReferences) != 1 {
		t.Fatalf("owner references %+v", m.OwnerReferences)
	}
	if o := m.OwnerReferences[0]; o.Kind != "Node" || o.APIVersion != "v1" || o.Name != "cp-a" || o.UID != nodeUID ||
		o.Controller == nil || !*o.Controller || o.BlockOwnerDeletion != nil {
		t.Errorf("owner reference %+v", o)
	}
	if m.Spec.NodeName != "cp-a" || m.Labels["component"] != "kube-apiserver" || m.UID == types.UID(hash) {
		t.Errorf("mirror %s on %s, labels %v, UID %s", m.Name, m.Spec.NodeName, m.Labels, m.UID)
	}
	if m.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s", m.Status.Phase)
	}
	if _, err := client.CoreV1().Pods("kube-system").Get(ctx, "kube-proxy-cp-a", metav1.GetOptions{}); err == nil {
		t.Error("the orphaned mirror pod was kept")
	}
	for _, name := range []string{"coredns-1", "kube-proxy-cp-b"} {
		if _, err := client.CoreV1().Pods("kube-system").Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s, not this node's mirror pod, was deleted", name)
		}
	}

	// The status follows the pod; an unchanged one is not posted again.
	apiserver.Status.Phase = corev1.PodRunning
	if err := syncMirrorPods(ctx, client, "cp-a", nodeUID, []*corev1.Pod{apiserver}); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := syncMirrorPods(ctx, client, "cp-a", nodeUID, []*corev1.Pod{apiserver}); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() != "list" {
			t.Errorf("an unchanged pod cost a %s %s", a.GetVerb(), a.GetSubresource())
		}
	}
	if m, _ := client.CoreV1().Pods("kube-system").Get(ctx, "kube-apiserver-cp-a", metav1.GetOptions{}); m.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s after the update", m.Status.Phase)
	}

	// A changed manifest: the mirror pod is replaced, with the new hash.
	changed := staticWithStatus(t, "kubeadm/kube-apiserver-extravolumes.yaml", "cp-a", corev1.PodPending)
	if err := syncMirrorPods(ctx, client, "cp-a", nodeUID, []*corev1.Pod{changed}); err != nil {
		t.Fatal(err)
	}
	m2, _ := client.CoreV1().Pods("kube-system").Get(ctx, "kube-apiserver-cp-a", metav1.GetOptions{})
	if m2.Annotations[annConfigMirror] != changed.Annotations[annConfigHash] || m2.Annotations[annConfigMirror] == hash {
		t.Errorf("mirror hash %s after the change", m2.Annotations[annConfigMirror])
	}
	var deleted bool
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && d.GetName() == "kube-apiserver-cp-a" {
			deleted = true
			if o := d.GetDeleteOptions(); o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 || o.Preconditions == nil || o.Preconditions.UID == nil {
				t.Errorf("deleted with %+v, want grace 0 and the UID as precondition", o)
			}
		}
	}
	if !deleted {
		t.Error("the outdated mirror pod was not deleted")
	}

	// No manifest, no mirror pod.
	if err := syncMirrorPods(ctx, client, "cp-a", nodeUID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods("kube-system").Get(ctx, "kube-apiserver-cp-a", metav1.GetOptions{}); err == nil {
		t.Error("the mirror pod of a removed manifest was kept")
	}
}

// The whole loop: it waits for credentials, registers, and then keeps
// the lease, the status and the mirror pods, all within seconds.
func TestAPILoop(t *testing.T) {
	client := newClient()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	scheduler := staticWithStatus(t, "kubeadm/kube-scheduler.yaml", "cp-b", corev1.PodRunning)
	a := &apiLoop{
		client: client, node: testNode(), register: true, leaseDuration: 40, statusEvery: 10 * time.Second,
		ready: func() bool {
			select {
			case <-ready:
				return true
			default:
				return false
			}
		},
		pods: func() []*corev1.Pod { return []*corev1.Pod{scheduler} },
	}
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond)
	if len(client.Actions()) != 0 {
		t.Errorf("talked to the API server without credentials: %v", client.Actions())
	}
	close(ready)
	waitFor(t, func() bool {
		_, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "cp-b", metav1.GetOptions{})
		_, err2 := client.CoreV1().Pods("kube-system").Get(ctx, "kube-scheduler-cp-b", metav1.GetOptions{})
		return err == nil && err2 == nil
	})
	node, err := client.CoreV1().Nodes().Get(ctx, "cp-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "cp-b", metav1.GetOptions{})
	if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].UID != node.UID {
		t.Errorf("lease owners %+v, node UID %q", l.OwnerReferences, node.UID)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the API loop did not stop")
	}
}

func TestEvictionThreshold(t *testing.T) {
	c := resource.MustParse("1000Mi")
	for v, want := range map[string]int64{"100Mi": 100 << 20, "10%": 100 << 20, "": 0, "junk": 0} {
		if got := evictionThreshold(v, c); got.Value() != want {
			t.Errorf("%q of 1000Mi: %d, want %d", v, got.Value(), want)
		}
	}
}
