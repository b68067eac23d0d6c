package kubelet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/lab/agent"
)

// apiHarness is the pod manager of harness with an API source on a fake
// API server that issues tokens.
type apiHarness struct {
	*harness
	client *fake.Clientset
	api    *apiSource
	ctx    context.Context

	mu       sync.Mutex
	requests []*authenticationv1.TokenRequest
	tokenErr error
}

// The objects kubeadm's kube-proxy pod needs: its ConfigMap, and the
// cluster's CA as the root-ca-cert-publisher puts it in every namespace.
func kubeProxyObjects(t *testing.T) (*corev1.Pod, *corev1.ConfigMap, *corev1.ConfigMap) {
	t.Helper()
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(testdata(t, "kubeadm/kube-proxy-pod.yaml"), pod); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	if err := yaml.UnmarshalStrict(testdata(t, "kubeadm/kube-proxy-configmap.yaml"), cm); err != nil {
		t.Fatal(err)
	}
	ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "kube-system"},
		Data: map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\nthe cluster CA\n-----END CERTIFICATE-----\n"}}
	return pod, cm, ca
}

func newAPIHarness(t *testing.T, objs ...runtime.Object) *apiHarness {
	t.Helper()
	h := &apiHarness{harness: newHarness(t), client: newClient(objs...)}
	if err := os.MkdirAll(filepath.Join(h.env.root, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The TokenRequest API: a token per request, valid for what was
	// asked from the fake clock's now.
	h.client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "token" {
			return false, nil, nil
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.tokenErr != nil {
			return true, nil, h.tokenErr
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		h.requests = append(h.requests, tr.DeepCopy())
		tr.Name = a.(k8stesting.CreateActionImpl).Name
		tr.Status.Token = fmt.Sprintf("token-%d", len(h.requests))
		tr.Status.ExpirationTimestamp = metav1.NewTime(h.clock.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
		return true, tr, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.ctx = ctx
	h.api = h.newSource(t)
	return h
}

// newSource is an API source for the harness's pod manager, watching
// and listed.
func (h *apiHarness) newSource(t *testing.T) *apiSource {
	t.Helper()
	api := newAPISource("cp-a", h.env.root, h.pm)
	api.watch(h.ctx, h.client)
	waitFor(t, func() bool { _, synced := api.desired(); return synced })
	return api
}

// step is one turn of the kubelet's loops, in the order a pod goes
// through them: volumes, pods, statuses.
func (h *apiHarness) step(t *testing.T) {
	t.Helper()
	h.stepNoWait(t)
	h.pm.wait()
	h.api.syncStatuses(h.ctx)
}

// stepNoWait is a turn that does not wait for the stops it starts.
func (h *apiHarness) stepNoWait(t *testing.T) {
	t.Helper()
	h.api.syncVolumes(h.ctx)
	fromAPI, synced := h.api.desired()
	if err := h.pm.sync(append(h.env.read(t), fromAPI...), synced); err != nil {
		t.Fatal(err)
	}
}

// apiPod is the pod as the API server has it.
func (h *apiHarness) apiPod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	p, err := h.client.CoreV1().Pods("kube-system").Get(h.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitWatched waits until the API source has seen a change of the pod.
func (h *apiHarness) waitWatched(t *testing.T, cond func(*corev1.Pod) bool) {
	t.Helper()
	waitFor(t, func() bool {
		pods, _ := h.api.desired()
		return slices.ContainsFunc(pods, func(dp *desiredPod) bool { return cond(dp.Pod) })
	})
}

// running is the one running container of the pod's container name.
func (h *apiHarness) running(t *testing.T, container string) agent.ContainerStatus {
	t.Helper()
	var out []agent.ContainerStatus
	for _, c := range h.rt.runningContainers() {
		if c.Labels[labelContainerName] == container {
			out = append(out, c)
		}
	}
	if len(out) != 1 {
		t.Fatalf("%d running %s containers", len(out), container)
	}
	return out[0]
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func condition(p *corev1.Pod, ct corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == ct {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// kubeadm's kube-proxy pod, as the DaemonSet controller and the
// scheduler made it: kube-proxy from its image with its command
// expanded, its ConfigMap and the projected service account volume made
// and mounted read-only, the host paths mounted where they are, and the
// status the DaemonSet controller counts it available by. A mirror pod
// and another node's pod are not run.
func TestRunsKubeProxy(t *testing.T) {
	pod, cm, ca := kubeProxyObjects(t)
	mirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "etcd-cp-a", Namespace: "kube-system", UID: "mirror",
		Annotations: map[string]string{annConfigMirror: "h"}}, Spec: *pod.Spec.DeepCopy()}
	elsewhere := pod.DeepCopy()
	elsewhere.Name, elsewhere.UID, elsewhere.Spec.NodeName = "kube-proxy-other", "other", "cp-b"
	h := newAPIHarness(t, pod, cm, ca, mirror, elsewhere)
	h.step(t)
	p := h.apiPod(t, pod.Name)
	if p.Status.Phase != corev1.PodPending || len(h.rt.running()) != 0 {
		t.Fatalf("before its volumes: phase %s, running %v", p.Status.Phase, h.rt.running())
	}
	if c := condition(p, corev1.PodReadyToStartContainers); c == nil || c.Status != corev1.ConditionFalse {
		t.Errorf("PodReadyToStartContainers %+v before the volumes are made", c)
	}
	h.step(t)

	ctr := h.running(t, "kube-proxy")
	imgDir := h.env.imageDirs[kubeProxyImage]
	if want := []string{filepath.Join(imgDir, "kube-proxy"), "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=cp-a"}; !slices.Equal(ctr.Argv, want) {
		t.Errorf("argv %q, want %q", ctr.Argv, want)
	}
	for _, kv := range []string{"NODE_NAME=cp-a", "HOSTNAME=cp-a", "PATH=" + imgDir + ":" + basePath} {
		if !slices.Contains(ctr.Env, kv) {
			t.Errorf("env %v lacks %s", ctr.Env, kv)
		}
	}
	if ctr.Labels[labelConfigSource] != sourceAPI || ctr.Labels[labelGrace] != "30" || ctr.Labels[labelPodUID] != string(pod.UID) {
		t.Errorf("labels %v", ctr.Labels)
	}
	podDir := filepath.Join(h.env.root, "var/lib/kubelet/pods", string(pod.UID), "volumes")
	cmDir := filepath.Join(podDir, "kubernetes.io~configmap/kube-proxy")
	saDir := filepath.Join(podDir, "kubernetes.io~projected", pod.Spec.Volumes[3].Name)
	want := []agent.Mount{
		{Source: cmDir, Target: "/var/lib/kube-proxy", ReadOnly: true},
		{Source: saDir, Target: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
	}
	if !slices.Equal(ctr.Mounts, want) {
		t.Errorf("mounts %+v, want %+v", ctr.Mounts, want)
	}
	for name, data := range cm.Data {
		if got := readFile(t, filepath.Join(cmDir, name)); got != data {
			t.Errorf("%s: %q", name, got)
		}
		if st, err := os.Stat(filepath.Join(cmDir, name)); err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v, want the defaultMode 0644", name, st.Mode(), err)
		}
		if target, err := os.Readlink(filepath.Join(cmDir, name)); err != nil || target != filepath.Join(dataDirName, name) {
			t.Errorf("%s links to %q (%v), want through ..data", name, target, err)
		}
	}
	for name, want := range map[string]string{"token": "token-1", "ca.crt": ca.Data["ca.crt"], "namespace": "kube-system"} {
		if got := readFile(t, filepath.Join(saDir, name)); got != want {
			t.Errorf("projected %s: %q, want %q", name, got, want)
		}
	}
	if len(h.requests) != 1 {
		t.Fatalf("%d token requests", len(h.requests))
	}
	if r := h.requests[0].Spec; len(r.Audiences) != 0 || r.ExpirationSeconds == nil || *r.ExpirationSeconds != 3607 || r.BoundObjectRef == nil ||
		*r.BoundObjectRef != (authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}) {
		t.Errorf("token request %+v", r)
	}
	for _, a := range h.client.Actions() {
		if a.GetResource().Resource == "serviceaccounts" && (a.GetNamespace() != "kube-system" || a.(k8stesting.CreateActionImpl).Name != "kube-proxy") {
			t.Errorf("token requested as %s/%s", a.GetNamespace(), a.(k8stesting.CreateActionImpl).Name)
		}
	}
	if st, err := os.Stat(filepath.Join(h.env.root, "run/xtables.lock")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("the FileOrCreate xtables.lock: %v", err)
	}

	p = h.apiPod(t, pod.Name)
	st := p.Status
	if st.Phase != corev1.PodRunning || st.PodIP != "172.31.0.10" || st.HostIP != "172.31.0.10" || st.StartTime == nil ||
		st.QOSClass != corev1.PodQOSBestEffort || st.ObservedGeneration != 1 {
		t.Errorf("status %+v", st)
	}
	s := statusOf(t, p, "kube-proxy")
	if !s.Ready || s.Started == nil || !*s.Started || s.State.Running == nil || s.RestartCount != 0 || s.ContainerID != "hagen-lab://"+ctr.ID {
		t.Errorf("container status %+v", s)
	}
	// Ready without a readiness probe: running is ready.
	for _, ct := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		if c := condition(p, ct); c == nil || c.Status != corev1.ConditionTrue || c.ObservedGeneration != 1 {
			t.Errorf("%s: %+v", ct, c)
		}
	}
	if c := condition(p, corev1.PodScheduled); !c.LastTransitionTime.Equal(&pod.Status.Conditions[0].LastTransitionTime) {
		t.Errorf("PodScheduled moved from the scheduler's %v to %v", pod.Status.Conditions[0].LastTransitionTime, c.LastTransitionTime)
	}

	for _, other := range []*corev1.Pod{mirror, elsewhere} {
		if q := h.apiPod(t, other.Name); !equality.Semantic.DeepEqual(q.Status, other.Status) {
			t.Errorf("%s was taken for this node's: %+v", other.Name, q.Status)
		}
	}
	runs, _, _ := h.rt.calls()
	if len(runs) != 1 {
		t.Errorf("%d containers started, want kube-proxy's alone", len(runs))
	}

	// A steady pod: no more writes to the API server, no more tokens.
	h.client.ClearActions()
	h.step(t)
	for _, a := range h.client.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" && a.GetVerb() != "get" {
			t.Errorf("a steady pod cost a %s %s/%s", a.GetVerb(), a.GetResource().Resource, a.GetSubresource())
		}
	}
}

// kubectl patch on the ConfigMap reaches the file the running kube-proxy
// reads, by the swap of ..data: same mount, new content, no restart.
func TestConfigMapChangeUpdatesTheFile(t *testing.T) {
	pod, cm, ca := kubeProxyObjects(t)
	h := newAPIHarness(t, pod, cm, ca)
	h.step(t)
	h.step(t)
	ctr := h.running(t, "kube-proxy")
	cmDir := ctr.Mounts[0].Source
	oldData, err := os.Readlink(filepath.Join(cmDir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}

	cm = cm.DeepCopy()
	cm.Data["kubeconfig.conf"] = strings.Replace(cm.Data["kubeconfig.conf"], "https://172.31.0.10:6443", "https://k8s-api.cloud.example.com:6443", 1)
	if _, err := h.client.CoreV1().ConfigMaps("kube-system").Update(h.ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		h.step(t)
		return strings.Contains(readFile(t, filepath.Join(cmDir, "kubeconfig.conf")), "k8s-api.cloud.example.com")
	})
	if newData, _ := os.Readlink(filepath.Join(cmDir, dataDirName)); newData == oldData {
		t.Error("..data was not swapped")
	}
	if _, err := os.Stat(filepath.Join(cmDir, oldData)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old data directory is left: %v", err)
	}
	if readFile(t, filepath.Join(cmDir, "config.conf")) != cm.Data["config.conf"] {
		t.Error("config.conf lost")
	}
	if runs, stops, _ := h.rt.calls(); len(runs) != 1 || len(stops) != 0 || h.running(t, "kube-proxy").Mounts[0].Source != cmDir {
		t.Errorf("the ConfigMap's change restarted kube-proxy: runs %d stops %v", len(runs), stops)
	}
}

// The token is requested again once 80% of its lifetime has passed, and
// the file follows. A refresh that fails while the token is valid keeps
// it.
func TestTokenRefresh(t *testing.T) {
	pod, cm, ca := kubeProxyObjects(t)
	h := newAPIHarness(t, pod, cm, ca)
	h.step(t)
	h.step(t)
	tokenFile := filepath.Join(h.running(t, "kube-proxy").Mounts[1].Source, "token")
	// 3607s: refreshed after 2885.6s.
	h.clock.Step(2885 * time.Second)
	h.step(t)
	if len(h.requests) != 1 || readFile(t, tokenFile) != "token-1" {
		t.Fatalf("refreshed before 80%% of the token's life: %d requests", len(h.requests))
	}
	h.clock.Step(time.Second)
	h.step(t)
	if len(h.requests) != 2 || readFile(t, tokenFile) != "token-2" {
		t.Fatalf("not refreshed at 80%% of its life: %d requests, file %q", len(h.requests), readFile(t, tokenFile))
	}

	h.mu.Lock()
	h.tokenErr = errors.New("the API server is down")
	h.mu.Unlock()
	h.clock.Step(3000 * time.Second)
	h.step(t)
	if readFile(t, tokenFile) != "token-2" {
		t.Error("a failed refresh lost the valid token")
	}
	if runs, _, _ := h.rt.calls(); len(runs) != 1 {
		t.Error("a token refresh restarted the container")
	}
}

// What the lab cannot run stays Pending, saying why, in the API: a pod
// without the host's network (CoreDNS), a volume the lab has no plugin
// for, an env var from a ConfigMap, a ConfigMap that does not exist.
func TestAPIPodsThatCannotRun(t *testing.T) {
	pod, cm, ca := kubeProxyObjects(t)
	variant := func(name string, edit func(*corev1.Pod)) *corev1.Pod {
		p := pod.DeepCopy()
		p.Name, p.UID = name, types.UID("uid-"+name)
		edit(p)
		return p
	}
	coredns := variant("coredns", func(p *corev1.Pod) { p.Spec.HostNetwork = false })
	nfs := variant("nfs", func(p *corev1.Pod) {
		p.Spec.Volumes[2].VolumeSource = corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nas", Path: "/x"}}
	})
	envFrom := variant("envfrom", func(p *corev1.Pod) {
		p.Spec.Containers[0].Env[0].ValueFrom = &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "kube-proxy"}, Key: "node"}}
	})
	missing := variant("missing", func(p *corev1.Pod) { p.Spec.Volumes[0].ConfigMap.Name = "nothing" })
	h := newAPIHarness(t, coredns, nfs, envFrom, missing, cm, ca)
	h.step(t)
	h.step(t)
	if runs, _, _ := h.rt.calls(); len(runs) != 0 {
		t.Errorf("started %d containers", len(runs))
	}
	for name, want := range map[string]corev1.ContainerStateWaiting{
		"coredns": {Reason: "ContainerCreating", Message: "network is not ready: " + networkNotReady},
		"nfs":     {Reason: "ContainerCreating", Message: `volume "lib-modules": the lab's kubelet supports hostPath, emptyDir, configMap, secret, downwardAPI and projected volumes only`},
		"envfrom": {Reason: "CreateContainerConfigError", Message: `env "NODE_NAME": valueFrom.configMapKeyRef is not supported by the lab's kubelet`},
		"missing": {Reason: "ContainerCreating", Message: `MountVolume.SetUp failed for volume "kube-proxy" : configmaps "nothing" not found`},
	} {
		p := h.apiPod(t, name)
		if s := statusOf(t, p, "kube-proxy"); p.Status.Phase != corev1.PodPending || s.State.Waiting == nil || *s.State.Waiting != want {
			t.Errorf("%s: phase %s, state %+v, want %+v", name, p.Status.Phase, s.State, want)
		}
		if c := condition(p, corev1.PodReady); c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotReady" {
			t.Errorf("%s: Ready %+v", name, c)
		}
	}
	if p := h.apiPod(t, "coredns"); p.Status.PodIP != "" {
		t.Errorf("coredns got pod IP %s", p.Status.PodIP)
	}
}

// kubectl rollout restart replaces the pods by deleting them: the
// kubelet stops the containers with the deletion's grace period, reports
// the terminal status, and only then deletes the pod with grace period
// 0, the UID as precondition. The pod's directory goes with it.
func TestDeletionStopsAndConfirms(t *testing.T) {
	pod, cm, ca := kubeProxyObjects(t)
	h := newAPIHarness(t, pod, cm, ca)
	h.step(t)
	h.step(t)
	ctr := h.running(t, "kube-proxy")

	// What the API server does on a graceful delete.
	p := h.apiPod(t, pod.Name)
	now := metav1.NewTime(h.clock.Now())
	grace := int64(5) // kubectl delete --grace-period=5
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &grace
	if _, err := h.client.CoreV1().Pods("kube-system").Update(h.ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitWatched(t, func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	h.rt.hold = make(chan struct{})
	h.client.ClearActions()
	h.stepNoWait(t)
	waitFor(t, func() bool { _, stops, _ := h.rt.calls(); return len(stops) == 1 })
	if _, stops, _ := h.rt.calls(); stops[0] != (stopCall{ctr.ID, 5 * time.Second}) {
		t.Errorf("stops %v, want %s with the deletion's 5s", stops, ctr.ID)
	}
	h.api.syncStatuses(h.ctx)
	h.stepNoWait(t)
	h.api.syncStatuses(h.ctx)
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "delete" {
			t.Fatal("the pod was deleted while its container was stopping")
		}
	}
	if runs, _, _ := h.rt.calls(); len(runs) != 1 {
		t.Error("a container of a pod being deleted was started")
	}
	// The pod as the API server has it when the kubelet deletes it.
	var patched *corev1.Pod
	h.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := h.client.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), a.GetNamespace(), a.(k8stesting.DeleteAction).GetName())
		if err == nil {
			patched = obj.(*corev1.Pod).DeepCopy()
		}
		return false, nil, nil
	})
	close(h.rt.hold)
	h.pm.wait()
	h.step(t)

	var deleted *metav1.DeleteOptions
	for _, a := range h.client.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok {
			o := d.GetDeleteOptions()
			deleted = &o
		}
	}
	if deleted == nil {
		t.Fatal("the deletion was not confirmed")
	}
	if deleted.GracePeriodSeconds == nil || *deleted.GracePeriodSeconds != 0 || deleted.Preconditions == nil || *deleted.Preconditions.UID != pod.UID {
		t.Errorf("deleted with %+v", deleted)
	}
	if patched == nil || patched.Status.Phase != corev1.PodFailed {
		t.Fatalf("the last status before the deletion: %+v", patched)
	}
	s := statusOf(t, patched, "kube-proxy")
	if s.State.Terminated == nil || s.State.Terminated.Reason != "ContainerStatusUnknown" || s.Ready || s.ContainerID != "hagen-lab://"+ctr.ID {
		t.Errorf("container status %+v", s)
	}
	for ct, reason := range map[corev1.PodConditionType]string{corev1.PodReady: "PodFailed", corev1.ContainersReady: "PodFailed", corev1.PodReadyToStartContainers: "PodSandboxNotReady"} {
		if c := condition(patched, ct); c == nil || c.Status != corev1.ConditionFalse || c.Reason != reason {
			t.Errorf("%s: %+v", ct, c)
		}
	}

	waitFor(t, func() bool { pods, _ := h.api.desired(); return len(pods) == 0 })
	h.step(t)
	if _, err := os.Stat(filepath.Join(h.env.root, "var/lib/kubelet/pods", string(pod.UID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pod's directory is left: %v", err)
	}
}

// A pod is terminated only once every container of it has stopped, a
// leftover duplicate too: its deletion waits for the slowest stop.
func TestDeletionWaitsForEveryContainer(t *testing.T) {
	pod, cm, ca := kubeProxyObjects(t)
	h := newAPIHarness(t, pod, cm, ca)
	h.step(t)
	h.step(t)
	stale := h.running(t, "kube-proxy")
	// A newer attempt, as a kubelet that died while it replaced the
	// container left it: the older one is a duplicate to stop.
	newer := stale
	newer.ID, newer.Labels = strings.TrimSuffix(stale.ID, "_0")+"_1", maps.Clone(stale.Labels)
	newer.Labels[labelAttempt] = "1"
	h.rt.add(newer)
	p := h.apiPod(t, pod.Name)
	now := metav1.NewTime(h.clock.Now())
	p.DeletionTimestamp = &now
	if _, err := h.client.CoreV1().Pods("kube-system").Update(h.ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitWatched(t, func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
	h.rt.hold, h.rt.holdID = make(chan struct{}), stale.ID
	h.client.ClearActions()
	h.stepNoWait(t)
	waitFor(t, func() bool { _, stops, _ := h.rt.calls(); return len(stops) == 2 })
	waitFor(t, func() bool {
		h.pm.mu.Lock()
		defer h.pm.mu.Unlock()
		cs := h.pm.pods[pod.UID].ctrs[0]
		return cs.id == newer.ID && !cs.running && !cs.killing
	})
	h.stepNoWait(t)
	h.api.syncStatuses(h.ctx)
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "delete" {
			t.Fatal("the pod was deleted while a duplicate of its container was stopping")
		}
	}
	close(h.rt.hold)
	h.pm.wait()
	h.step(t)
	var deleted bool
	for _, a := range h.client.Actions() {
		deleted = deleted || a.GetVerb() == "delete"
	}
	if !deleted {
		t.Error("the deletion was not confirmed once everything stopped")
	}
}

// A kubelet started again leaves the containers of API pods alone until
// it has listed the node's pods; then it adopts those of pods that exist
// (no restart, the count kept) and stops those of pods that do not.
func TestRestartedKubeletAdoptsAPIPods(t *testing.T) {
	pod, cm, ca := kubeProxyObjects(t)
	h := newAPIHarness(t, pod, cm, ca)
	h.step(t)
	h.step(t)
	id := h.running(t, "kube-proxy").ID
	gone := agent.ContainerStatus{Container: agent.Container{ID: "kube-proxy-gone", Labels: map[string]string{
		labelPodUID: "gone", labelPodName: "kube-proxy-gone", labelPodNamespace: "kube-system", labelContainerName: "kube-proxy",
		labelAttempt: "0", labelGrace: "30", labelConfigSource: sourceAPI}}, Running: true}
	h.rt.add(gone)

	h.pm = h.newManager()
	if err := h.pm.sync(h.env.read(t), false); err != nil {
		t.Fatal(err)
	}
	h.pm.wait()
	if _, stops, _ := h.rt.calls(); len(stops) != 0 {
		t.Fatalf("stopped %v before the API's pods were listed", stops)
	}
	h.api = h.newSource(t)
	h.step(t)
	h.step(t)
	runs, stops, _ := h.rt.calls()
	if len(runs) != 1 || h.running(t, "kube-proxy").ID != id {
		t.Errorf("kube-proxy was started again: %d runs", len(runs))
	}
	if len(stops) != 1 || stops[0] != (stopCall{"kube-proxy-gone", 30 * time.Second}) {
		t.Errorf("stops %v, want the gone pod's container", stops)
	}
	if s := statusOf(t, h.apiPod(t, pod.Name), "kube-proxy"); s.State.Running == nil || !s.Ready || s.RestartCount != 0 {
		t.Errorf("after the restart: %+v", s)
	}
}
