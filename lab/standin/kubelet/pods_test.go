package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/hagen/hagen/lab/agent"
)

const (
	etcdImage    = "registry.k8s.io/etcd:3.7.0-0"
	schedImage   = "registry.k8s.io/kube-scheduler:v1.37.2"
	crasherImage = "registry.k8s.io/lab/crasher:1"
	// kubeProxyImage is kubeadm 1.37.2's kube-proxy.
	kubeProxyImage = "registry.k8s.io/kube-proxy:v1.37.2"
)

// harness is a pod manager on a fake runtime, a fake clock and a
// scripted prober.
type harness struct {
	env   *labEnv
	clock *fakeClock
	rt    *fakeRuntime
	pm    *podManager
	probe *scriptedProber
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		env: newLabEnv(t, map[string][]string{
			etcdImage: {"etcd", "etcdctl"}, schedImage: {"kube-scheduler"}, crasherImage: {"crasher"}, kubeProxyImage: {"kube-proxy"},
		}),
		clock: newClock(),
		probe: &scriptedProber{results: map[string]probeResult{}},
	}
	h.rt = newFakeRuntime(h.clock.Now)
	h.pm = h.newManager()
	return h
}

// newManager is a kubelet (re)started on the same host.
func (h *harness) newManager() *podManager {
	return newPodManager(context.Background(), podsConfig{
		Runtime: h.rt, Hostname: "cp-a", HostIPs: []string{"172.31.0.10"}, ImagesFile: h.env.images,
		Root: h.env.root, Probe: h.probe.probe, Now: h.clock.Now,
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")},
	})
}

// sync is one turn of the sync loop, waiting for the probes and stops it
// started.
func (h *harness) sync(t *testing.T) {
	t.Helper()
	if err := h.pm.sync(h.env.read(t), true); err != nil {
		t.Fatal(err)
	}
	h.pm.wait()
}

// tick moves the clock by d, a second at a time, syncing every second.
func (h *harness) tick(t *testing.T, d time.Duration) {
	t.Helper()
	for range int(d / time.Second) {
		h.clock.Step(time.Second)
		h.sync(t)
	}
}

func (h *harness) pod(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	for _, p := range h.pm.snapshot() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no pod %s", name)
	return nil
}

// runningID is the ID of the one running container of a pod's container.
func (h *harness) runningID(t *testing.T, container string) string {
	t.Helper()
	var ids []string
	for _, id := range h.rt.running() {
		if strings.Contains(id, "_"+container+"_") {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("running %s containers: %v", container, ids)
	}
	return ids[0]
}

// scriptedProber answers each probe with the result set for
// "<container>/<kind>", success by default, and counts the calls.
type scriptedProber struct {
	mu      sync.Mutex
	results map[string]probeResult
	calls   map[string]int
}

func (s *scriptedProber) set(key string, r probeResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[key] = r
}

func (s *scriptedProber) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

func (s *scriptedProber) probe(_ context.Context, p *corev1.Probe, c *corev1.Container, podIP string) (probeResult, string) {
	kind := map[*corev1.Probe]string{c.StartupProbe: "startup", c.LivenessProbe: "liveness", c.ReadinessProbe: "readiness"}[p]
	key := c.Name + "/" + kind
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[key]++
	r, ok := s.results[key]
	if !ok {
		r = resultSuccess
	}
	return r, fmt.Sprintf("%s from %s", r, podIP)
}

// waitFor waits, a few seconds at most, for what a goroutine does.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// crasher is a pod of one container without probes.
func crasher(policy corev1.RestartPolicy, extra string) []byte {
	return []byte(`apiVersion: v1
kind: Pod
metadata:
  name: crasher
  namespace: kube-system
spec:
  hostNetwork: true
  restartPolicy: ` + string(policy) + `
  containers:
  - name: crasher
    image: ` + crasherImage + `
    command: [crasher, --fail]
` + extra)
}

func TestStartsStaticPods(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "etcd.yaml", testdata(t, "hagen/etcd.yaml"))
	h.env.manifest(t, "kube-scheduler.yaml", testdata(t, "kubeadm/kube-scheduler.yaml"))
	h.sync(t)
	runs, _, _ := h.rt.calls()
	if len(runs) != 2 {
		t.Fatalf("started %d containers, want 2", len(runs))
	}
	etcd := runs[0]
	if etcd.Labels[labelContainerName] != "etcd" || etcd.Argv[0] != filepath.Join(h.env.imageDirs[etcdImage], "etcd") ||
		etcd.Argv[1] != "--advertise-client-urls=https://172.31.0.10:2379" {
		t.Errorf("etcd started as %+v", etcd)
	}
	for _, d := range []string{"var/lib/etcd", "etc/kubernetes/pki/etcd"} {
		if st, err := os.Stat(filepath.Join(h.env.root, d)); err != nil || !st.IsDir() {
			t.Errorf("the DirectoryOrCreate volume %s was not made: %v", d, err)
		}
	}
	h.tick(t, 3*time.Second)
	if runs, _, _ := h.rt.calls(); len(runs) != 2 {
		t.Errorf("running pods were started again: %d runs", len(runs))
	}

	p := h.pod(t, "etcd-cp-a")
	s := statusOf(t, p, "etcd")
	if p.Status.Phase != corev1.PodRunning || s.State.Running == nil || s.RestartCount != 0 ||
		s.ContainerID != "hagen-lab://"+etcd.ID || s.Image != etcdImage {
		t.Errorf("etcd status %+v", p.Status)
	}
	// Its startup probe waits 10s: not started, not ready.
	if *s.Started || s.Ready {
		t.Errorf("etcd started %v ready %v before its startup probe ran", *s.Started, s.Ready)
	}
	if p.Status.PodIP != "172.31.0.10" || p.Status.HostIP != "172.31.0.10" {
		t.Errorf("pod IP %q host IP %q, want the node's", p.Status.PodIP, p.Status.HostIP)
	}
	if p.Annotations[annConfigSeen] == "" {
		t.Error("no config.seen annotation")
	}
}

// Containers outlive the kubelet. A kubelet started again finds its
// containers by their labels and keeps them, with their restart counts,
// and stops what no manifest wants any more, each with the grace period
// it was started under.
func TestRestartedKubeletAdoptsAndCleansUp(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "crasher.yaml", crasher(corev1.RestartPolicyAlways, ""))
	h.sync(t)
	h.rt.exit(t, h.runningID(t, "crasher"), 1)
	h.sync(t) // restarted at once: attempt 1
	id := h.runningID(t, "crasher")

	stray := agent.ContainerStatus{Container: agent.Container{ID: "old-etcd", Labels: map[string]string{
		labelPodUID: "0123", labelPodName: "etcd-cp-a", labelPodNamespace: "kube-system",
		labelContainerName: "etcd", labelAttempt: "0", labelGrace: "45"}}, Running: true}
	h.rt.add(stray)
	dead := stray
	dead.ID, dead.Running = "older-etcd", false
	h.rt.add(dead)
	h.rt.add(agent.ContainerStatus{Container: agent.Container{ID: "not-ours", Labels: map[string]string{"app": "x"}}, Running: true})

	h.pm = h.newManager()
	h.sync(t)
	runs, stops, removes := h.rt.calls()
	if len(runs) != 2 {
		t.Errorf("the new kubelet started containers: %v", runs[2:])
	}
	if len(stops) != 1 || stops[0] != (stopCall{"old-etcd", 45 * time.Second}) {
		t.Errorf("stops %v, want old-etcd with its 45s", stops)
	}
	if len(removes) != 1 || removes[0] != "older-etcd" {
		t.Errorf("removes %v, want the dead stray", removes)
	}
	if h.runningID(t, "crasher") != id || h.rt.running()[1] != "not-ours" {
		t.Errorf("running %v", h.rt.running())
	}
	s := statusOf(t, h.pod(t, "crasher-cp-a"), "crasher")
	if s.RestartCount != 1 || s.State.Running == nil {
		t.Errorf("adopted status %+v", s)
	}
	if l := s.LastTerminationState.Terminated; l == nil || l.ExitCode != 1 {
		t.Errorf("the adopted container's last end %+v, want the kept dead container's exit 1", l)
	}
}

// A changed manifest is a new pod: the old one is stopped with its grace
// period, and the new one starts only once the old one is gone, as the
// kubelet lets one static pod of a name run at a time.
func TestChangedManifestReplacesThePod(t *testing.T) {
	h := newHarness(t)
	etcd := testdata(t, "hagen/etcd.yaml")
	h.env.manifest(t, "etcd.yaml", etcd)
	h.sync(t)
	old := h.runningID(t, "etcd")

	h.rt.hold = make(chan struct{})
	h.env.manifest(t, "etcd.yaml", []byte(strings.Replace(string(etcd), "--snapshot-count=10000", "--snapshot-count=20000", 1)))
	if err := h.pm.sync(h.env.read(t), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, stops, _ := h.rt.calls(); return len(stops) > 0 })
	runs, stops, _ := h.rt.calls()
	if len(stops) != 1 || stops[0] != (stopCall{old, 30 * time.Second}) {
		t.Errorf("stops %v, want %s with 30s", stops, old)
	}
	if len(runs) != 1 {
		t.Errorf("the new etcd started beside the old one")
	}
	if s := statusOf(t, h.pod(t, "etcd-cp-a"), "etcd"); s.State.Waiting == nil || !strings.Contains(s.State.Waiting.Message, "previous pod") {
		t.Errorf("the new pod's status while the old one stops: %+v", s.State)
	}
	h.clock.Step(time.Second)
	if err := h.pm.sync(h.env.read(t), true); err != nil {
		t.Fatal(err)
	}
	if runs, _, _ := h.rt.calls(); len(runs) != 1 {
		t.Errorf("the new etcd started before the old one was gone")
	}
	close(h.rt.hold)
	h.pm.wait()
	h.tick(t, time.Second)
	runs, _, _ = h.rt.calls()
	if len(runs) != 2 || !strings.Contains(runs[1].Argv[len(runs[1].Argv)-3], "20000") {
		t.Fatalf("runs after the old pod stopped: %d", len(runs))
	}
	if runs[1].Labels[labelPodUID] == runs[0].Labels[labelPodUID] {
		t.Error("the changed manifest kept its UID")
	}

	// A manifest that goes is a pod that goes.
	if err := os.Remove(filepath.Join(h.env.manifests, "etcd.yaml")); err != nil {
		t.Fatal(err)
	}
	h.tick(t, time.Second)
	if _, stops, _ := h.rt.calls(); len(stops) != 2 || stops[1].ID != runs[1].ID {
		t.Errorf("stops %v after the manifest was removed", stops)
	}
	if len(h.pm.snapshot()) != 0 {
		t.Error("the removed pod is still reported")
	}
}

// A manifest taken away and put back (an operator's edit, a drill) is
// the same pod again: it starts anew once its old container has stopped,
// not beside it.
func TestManifestRemovedAndPutBack(t *testing.T) {
	h := newHarness(t)
	// The scheduler's kubeconfig volume is FileOrCreate: its directory
	// must be there.
	if err := os.MkdirAll(filepath.Join(h.env.root, "etc/kubernetes"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := testdata(t, "kubeadm/kube-scheduler.yaml")
	h.env.manifest(t, "kube-scheduler.yaml", data)
	h.sync(t)
	old := h.runningID(t, "kube-scheduler")
	h.rt.hold = make(chan struct{})
	if err := os.Remove(filepath.Join(h.env.manifests, "kube-scheduler.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := h.pm.sync(h.env.read(t), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, stops, _ := h.rt.calls(); return len(stops) == 1 })
	h.env.manifest(t, "kube-scheduler.yaml", data)
	h.clock.Step(time.Second)
	if err := h.pm.sync(h.env.read(t), true); err != nil {
		t.Fatal(err)
	}
	if runs, _, _ := h.rt.calls(); len(runs) != 1 {
		t.Fatalf("started again while the old container stops: %v", runs[1:])
	}
	close(h.rt.hold)
	h.pm.wait()
	h.tick(t, time.Second)
	runs, _, _ := h.rt.calls()
	if len(runs) != 2 || h.runningID(t, "kube-scheduler") != old {
		t.Fatalf("%d runs, running %v", len(runs), h.rt.running())
	}
	if s := statusOf(t, h.pod(t, "kube-scheduler-cp-a"), "kube-scheduler"); s.State.Running == nil || s.RestartCount != 0 {
		t.Errorf("status %+v", s)
	}
}

// CrashLoopBackOff as the kubelet does it: the first exit restarts at
// once, then each restart waits 10s, 20s, 40s... up to 5m after the exit,
// and a container that ran ten minutes starts over at 10s.
func TestCrashLoopBackOff(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "crasher.yaml", crasher(corev1.RestartPolicyAlways, ""))
	h.sync(t)
	crash := func() {
		h.rt.exit(t, h.runningID(t, "crasher"), 2)
	}
	crash()
	h.sync(t)
	if runs, _, _ := h.rt.calls(); len(runs) != 2 {
		t.Fatalf("the first exit did not restart at once: %d runs", len(runs))
	}
	for i, want := range []time.Duration{10, 20, 40, 80, 160, 300, 300} {
		want *= time.Second
		crash()
		h.sync(t)
		runs, _, _ := h.rt.calls()
		p := h.pod(t, "crasher-cp-a")
		s := statusOf(t, p, "crasher")
		if s.State.Waiting == nil || s.State.Waiting.Reason != "CrashLoopBackOff" ||
			!strings.HasPrefix(s.State.Waiting.Message, fmt.Sprintf("back-off %s restarting failed container=crasher pod=crasher-cp-a_kube-system(", want)) {
			t.Fatalf("crash %d: state %+v, want a %s back-off", i+2, s.State, want)
		}
		if s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.ExitCode != 2 ||
			s.LastTerminationState.Terminated.Reason != "Error" || s.RestartCount != int32(i+1) || p.Status.Phase != corev1.PodRunning {
			t.Errorf("crash %d: status %+v, phase %s", i+2, s, p.Status.Phase)
		}
		h.tick(t, want-time.Second)
		if n, _, _ := h.rt.calls(); len(n) != len(runs) {
			t.Fatalf("crash %d: restarted before %s", i+2, want)
		}
		h.tick(t, time.Second)
		if n, _, _ := h.rt.calls(); len(n) != len(runs)+1 {
			t.Fatalf("crash %d: not restarted after %s", i+2, want)
		}
	}
	h.sync(t)
	if n := len(h.rt.cs); n != 2 {
		t.Errorf("the runtime holds %d containers: only the last dead one should be kept", n)
	}
	// Ten quiet minutes reset the back-off: restart at once, then 10s.
	h.tick(t, 11*time.Minute)
	runs, _, _ := h.rt.calls()
	crash()
	h.sync(t)
	if n, _, _ := h.rt.calls(); len(n) != len(runs)+1 {
		t.Fatal("after ten minutes of running, the exit did not restart at once")
	}
	crash()
	h.sync(t)
	if s := statusOf(t, h.pod(t, "crasher-cp-a"), "crasher"); s.State.Waiting == nil || !strings.HasPrefix(s.State.Waiting.Message, "back-off 10s") {
		t.Errorf("after the reset: %+v", s.State)
	}
}

func TestRestartPolicies(t *testing.T) {
	for _, c := range []struct {
		policy corev1.RestartPolicy
		code   int
		phase  corev1.PodPhase
		again  bool
	}{
		{corev1.RestartPolicyOnFailure, 0, corev1.PodSucceeded, false},
		{corev1.RestartPolicyOnFailure, 1, corev1.PodRunning, true},
		{corev1.RestartPolicyNever, 1, corev1.PodFailed, false},
		{corev1.RestartPolicyNever, 0, corev1.PodSucceeded, false},
		{corev1.RestartPolicyAlways, 0, corev1.PodRunning, true},
	} {
		h := newHarness(t)
		h.env.manifest(t, "crasher.yaml", crasher(c.policy, ""))
		h.sync(t)
		h.rt.exit(t, h.runningID(t, "crasher"), c.code)
		h.sync(t)
		runs, _, _ := h.rt.calls()
		if (len(runs) == 2) != c.again {
			t.Errorf("%s, exit %d: %d runs", c.policy, c.code, len(runs))
		}
		p := h.pod(t, "crasher-cp-a")
		if p.Status.Phase != c.phase {
			t.Errorf("%s, exit %d: phase %s, want %s", c.policy, c.code, p.Status.Phase, c.phase)
		}
		if s := statusOf(t, p, "crasher"); !c.again && (s.State.Terminated == nil || s.State.Terminated.ExitCode != int32(c.code)) {
			t.Errorf("%s, exit %d: state %+v", c.policy, c.code, s.State)
		}
	}
}

// An image the lab does not have: ErrImagePull, ImagePullBackOff, pulls
// again after 10s then 20s, and starts as soon as the image is there.
func TestImagePullBackOff(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "crasher.yaml", []byte(strings.Replace(string(crasher(corev1.RestartPolicyAlways, "")), crasherImage, "registry.k8s.io/lab/crasher:2", 1)))
	waiting := func() *corev1.ContainerStateWaiting {
		return statusOf(t, h.pod(t, "crasher-cp-a"), "crasher").State.Waiting
	}
	h.sync(t)
	if w := waiting(); w == nil || w.Reason != "ErrImagePull" || !strings.Contains(w.Message, `"registry.k8s.io/lab/crasher:2"`) {
		t.Fatalf("waiting %+v", w)
	}
	h.tick(t, time.Second)
	if w := waiting(); w == nil || w.Reason != "ImagePullBackOff" {
		t.Fatalf("waiting %+v", w)
	}
	h.tick(t, 9*time.Second)
	if w := waiting(); w.Reason != "ErrImagePull" {
		t.Errorf("after 10s: %+v, want a new pull", w)
	}
	h.tick(t, 19*time.Second)
	if w := waiting(); w.Reason != "ImagePullBackOff" {
		t.Errorf("19s after the second pull: %+v", w)
	}
	images := map[string]string{"registry.k8s.io/lab/crasher:2": h.env.imageDirs[crasherImage]}
	h.env.writeImages(t, images)
	h.tick(t, time.Second)
	if runs, _, _ := h.rt.calls(); len(runs) != 1 {
		t.Fatalf("%d runs once the image is there", len(runs))
	}
	if s := statusOf(t, h.pod(t, "crasher-cp-a"), "crasher"); s.State.Running == nil {
		t.Errorf("state %+v", s.State)
	}
}

// A failed liveness probe kills the container after failureThreshold
// failures in a row, with the pod's grace period, and the restart policy
// brings it back.
func TestLivenessFailureRestarts(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "crasher.yaml", crasher(corev1.RestartPolicyAlways, `    livenessProbe:
      httpGet: {port: 8080, path: /healthz}
      initialDelaySeconds: 2
      periodSeconds: 1
      failureThreshold: 3
`))
	h.probe.set("crasher/liveness", resultFailure)
	h.sync(t)
	first := h.runningID(t, "crasher")
	h.tick(t, time.Second)
	if n := h.probe.count("crasher/liveness"); n != 0 {
		t.Errorf("liveness probed %d times within its initial delay", n)
	}
	h.tick(t, 3*time.Second) // probes at 2s, 3s and 4s: three failures
	if _, stops, _ := h.rt.calls(); len(stops) != 0 {
		t.Fatalf("killed already: %v", stops)
	}
	h.tick(t, time.Second)
	_, stops, _ := h.rt.calls()
	if len(stops) != 1 || stops[0] != (stopCall{first, 30 * time.Second}) {
		t.Fatalf("stops %v, want %s with the pod's 30s", stops, first)
	}
	h.tick(t, time.Second)
	second := h.runningID(t, "crasher")
	if second == first {
		t.Fatal("not restarted")
	}
	s := statusOf(t, h.pod(t, "crasher-cp-a"), "crasher")
	if s.RestartCount != 1 || s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.Reason != "ContainerStatusUnknown" {
		t.Errorf("status after the kill %+v", s)
	}
}

// The startup probe holds liveness and readiness back until it succeeds;
// readiness makes the container and the pod Ready, and its failure only
// unreadies them.
func TestStartupThenReadiness(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "etcd.yaml", testdata(t, "hagen/etcd.yaml"))
	h.probe.set("etcd/startup", resultFailure)
	h.sync(t)
	h.tick(t, 25*time.Second) // startup probed at 10s and 20s
	if n := h.probe.count("etcd/startup"); n != 2 {
		t.Errorf("startup probed %d times in 25s, want 2 (initial delay 10s, period 10s)", n)
	}
	if n := h.probe.count("etcd/readiness") + h.probe.count("etcd/liveness"); n != 0 {
		t.Errorf("readiness or liveness probed %d times before startup succeeded", n)
	}
	h.probe.set("etcd/startup", resultSuccess)
	h.tick(t, 10*time.Second)
	p := h.pod(t, "etcd-cp-a")
	s := statusOf(t, p, "etcd")
	if !*s.Started || !s.Ready {
		t.Fatalf("after startup: started %v ready %v", *s.Started, s.Ready)
	}
	for _, c := range p.Status.Conditions {
		if (c.Type == corev1.PodReady || c.Type == corev1.ContainersReady) && c.Status != corev1.ConditionTrue {
			t.Errorf("condition %+v", c)
		}
	}
	n := h.probe.count("etcd/startup")
	h.probe.set("etcd/readiness", resultFailure)
	h.tick(t, 3*time.Second)
	p = h.pod(t, "etcd-cp-a")
	if s := statusOf(t, p, "etcd"); s.Ready {
		t.Error("ready after three failed readiness probes")
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && (c.Status != corev1.ConditionFalse || c.Message != "containers with unready status: [etcd]") {
			t.Errorf("condition %+v", c)
		}
	}
	if _, stops, _ := h.rt.calls(); len(stops) != 0 {
		t.Errorf("a readiness failure killed the container: %v", stops)
	}
	if h.probe.count("etcd/startup") != n {
		t.Error("the startup probe ran again after it succeeded")
	}
}

func TestStartupFailureRestarts(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "crasher.yaml", crasher(corev1.RestartPolicyAlways, `    startupProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 2
      terminationGracePeriodSeconds: 5
`))
	h.probe.set("crasher/startup", resultFailure)
	h.sync(t)
	h.tick(t, 2*time.Second)
	if _, stops, _ := h.rt.calls(); len(stops) != 1 || stops[0].Grace != 5*time.Second {
		t.Errorf("stops %v, want one with the probe's own 5s", stops)
	}
}

func TestPodsThatCannotStart(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "netpod.yaml", []byte(strings.Replace(string(crasher(corev1.RestartPolicyAlways, "")), "hostNetwork: true", "hostNetwork: false", 1)))
	h.sync(t)
	if runs, _, _ := h.rt.calls(); len(runs) != 0 {
		t.Errorf("a pod without the host network started: %v", runs)
	}
	p := h.pod(t, "crasher-cp-a")
	if s := statusOf(t, p, "crasher"); s.State.Waiting == nil || s.State.Waiting.Message != "network is not ready: "+networkNotReady {
		t.Errorf("state %+v", s.State)
	}
	if p.Status.Phase != corev1.PodPending || p.Status.PodIP != "" {
		t.Errorf("phase %s pod IP %q", p.Status.Phase, p.Status.PodIP)
	}
}

func TestRuntimeTrouble(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "crasher.yaml", crasher(corev1.RestartPolicyAlways, ""))
	h.rt.listErr = errors.New("agent: connection refused")
	if err := h.pm.sync(h.env.read(t), true); err == nil {
		t.Error("a runtime that does not answer is no error")
	}
	if runs, _, _ := h.rt.calls(); len(runs) != 0 {
		t.Error("started containers without knowing what runs")
	}
	h.rt.listErr = nil
	h.rt.runErr = errors.New("exec: crasher: not found")
	h.sync(t)
	s := statusOf(t, h.pod(t, "crasher-cp-a"), "crasher")
	if s.State.Waiting == nil || s.State.Waiting.Reason != "RunContainerError" ||
		s.LastTerminationState.Terminated == nil || s.LastTerminationState.Terminated.Reason != "StartError" || s.LastTerminationState.Terminated.ExitCode != 128 {
		t.Fatalf("status %+v", s)
	}
	h.tick(t, time.Second) // a first failure retries at once
	h.tick(t, time.Second) // then backs off
	runs, _, _ := h.rt.calls()
	if len(runs) != 2 || runs[1].ID == runs[0].ID {
		t.Errorf("runs %d", len(runs))
	}
	if s := statusOf(t, h.pod(t, "crasher-cp-a"), "crasher"); s.State.Waiting == nil || s.State.Waiting.Reason != "CrashLoopBackOff" {
		t.Errorf("state %+v", s.State)
	}
}
