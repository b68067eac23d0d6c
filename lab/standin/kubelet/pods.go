package kubelet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/hagen/hagen/lab/agent"
)

// podsConfig is what the pod manager needs from the node and the lab.
type podsConfig struct {
	Runtime Runtime
	// Hostname is the host's name, the HOSTNAME of host-network
	// containers.
	Hostname string
	// HostIPs are the node's IPs: host and pod IPs of host-network pods,
	// and the host of a probe that names none.
	HostIPs    []string
	ImagesFile string
	// Root prefixes hostPath volumes ("" in the lab: the host's /).
	Root string
	// Allocatable is the node's, what resourceFieldRef limits default to.
	Allocatable corev1.ResourceList
	// MaxRestartPeriod caps CrashLoopBackOff (5m by default).
	MaxRestartPeriod time.Duration
	Probe            proberFunc
	Now              func() time.Time
}

// podManager is the kubelet's pod workers, for static pods and the pods
// the API server bound to the node alike, with the runtime's list of
// containers as its only memory that matters: every sync lists the
// containers, adopts what runs and matches a pod, stops what matches
// none, and starts, restarts or kills containers as the real kubelet's
// syncPod, syncTerminatingPod and syncTerminatedPod would.
type podManager struct {
	podsConfig
	// ctx bounds probes; it is the kubelet's lifetime.
	ctx      context.Context
	mu       sync.Mutex
	pods     map[types.UID]*podState
	stopping map[string]bool // container IDs with a stop in flight
	// orphans are the stops in flight of containers no manifest wanted,
	// by the pod's namespace/name: that name may not start meanwhile.
	orphans map[string]string
	crash   *backoff // container restarts: 10s doubling to MaxRestartPeriod
	pull    *backoff // image pulls: 10s doubling to 5m
	noted   map[string]string
	wg      sync.WaitGroup // probes and stops in flight
	// withContainers are the pods the runtime had containers of at the
	// last sync, by UID: their directories stay.
	withContainers map[types.UID]bool
}

// podState is one pod as the kubelet tracks it.
type podState struct {
	sp   *desiredPod
	seen time.Time
	ctrs []*ctrState // in spec order
	// setup is why the pod could not be set up at the last sync ("" when
	// it could): what its containers that are not running wait on.
	setup string
	conds map[corev1.PodConditionType]corev1.PodCondition
	// stops counts the stops in flight of the pod's containers.
	stops int
	// terminated is set once a terminating pod has nothing running and
	// no stop in flight: its status is final, and an API pod being
	// deleted may go.
	terminated bool
}

// ctrState is one container of a pod across its attempts.
type ctrState struct {
	spec *corev1.Container
	// attempt is that of the newest container (its restart count); -1
	// before the first.
	attempt int
	id      string // the newest container's ID
	running bool
	started time.Time
	killing bool
	// last is how the newest container that ended ended, lastID which
	// container it was; before is the end before that, for a container
	// that will not restart.
	last, before *corev1.ContainerStateTerminated
	lastID       string
	terminal     bool // ended and not to be restarted
	waiting      *corev1.ContainerStateWaiting
	probes       [3]*probeWorker
	startupDone  bool
}

const defaultImagePullBackOff = 10 * time.Second

func newPodManager(ctx context.Context, c podsConfig) *podManager {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Probe == nil {
		c.Probe = runProbe
	}
	if c.MaxRestartPeriod == 0 {
		c.MaxRestartPeriod = 300 * time.Second
	}
	return &podManager{
		podsConfig: c,
		ctx:        ctx,
		pods:       map[types.UID]*podState{},
		stopping:   map[string]bool{},
		orphans:    map[string]string{},
		crash:      newBackoff(10*time.Second, c.MaxRestartPeriod),
		pull:       newBackoff(defaultImagePullBackOff, 300*time.Second),
		noted:      map[string]string{},
	}
}

// note logs msg under key unless it is what was last logged under key: a
// pod that cannot start is said once per reason, not once a second.
func (m *podManager) note(key, msg string, kv ...any) {
	line := fmt.Sprint(msg, kv)
	if m.noted[key] == line {
		return
	}
	m.noted[key] = line
	klog.InfoS(msg, kv...)
}

// forgetNote lets key's next note be logged again.
func (m *podManager) forgetNote(key string) { delete(m.noted, key) }

// wait waits for the probes and stops in flight (for tests).
func (m *podManager) wait() { m.wg.Wait() }

type ctrKey struct {
	uid  types.UID
	name string
}

func attemptOf(c *agent.ContainerStatus) int {
	n, err := strconv.Atoi(c.Labels[labelAttempt])
	if err != nil {
		return -1
	}
	return n
}

func graceOf(c *agent.ContainerStatus) time.Duration {
	n, err := strconv.ParseInt(c.Labels[labelGrace], 10, 64)
	if err != nil {
		n = corev1.DefaultTerminationGracePeriodSeconds
	}
	return time.Duration(n) * time.Second
}

// sync brings the runtime in line with the desired pods. apiSynced says
// that the API pods among them are all the node's: until then the
// containers of API pods the kubelet has not heard of are left alone
// (a kubelet started again must not stop what it has not listed yet).
func (m *podManager) sync(desired []*desiredPod, apiSynced bool) error {
	list, err := m.Runtime.ListContainers(nil)
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	now := m.Now()
	m.mu.Lock()
	defer m.mu.Unlock()

	want := map[types.UID]*desiredPod{}
	for _, sp := range desired {
		want[sp.UID()] = sp
	}
	for uid, ps := range m.pods {
		if want[uid] == nil {
			klog.InfoS("SyncLoop REMOVE", "source", ps.sp.Source, "pod", ps.sp.FullName(), "podUID", uid)
			delete(m.pods, uid)
			for k := range m.noted {
				if strings.HasPrefix(k, string(uid)+"/") {
					delete(m.noted, k)
				}
			}
		}
	}
	for _, sp := range desired {
		ps := m.pods[sp.UID()]
		switch {
		case ps == nil:
			if sp.static() {
				klog.InfoS("SyncLoop ADD", "source", sp.Source, "pod", sp.FullName(), "podUID", sp.UID(), "manifest", sp.Path)
			} else {
				klog.InfoS("SyncLoop ADD", "source", sp.Source, "pod", sp.FullName(), "podUID", sp.UID())
			}
			m.pods[sp.UID()] = newPodState(sp, now)
		case !sp.static():
			// An API pod changes under its UID: its deletion, its
			// status, the volumes made for it.
			if ps.sp.Pod.DeletionTimestamp == nil && sp.Pod.DeletionTimestamp != nil {
				klog.InfoS("SyncLoop DELETE", "source", sp.Source, "pod", sp.FullName(), "podUID", sp.UID())
			}
			ps.update(sp)
		}
	}
	m.crash.forget(m.knownKey)
	m.pull.forget(m.knownKey)

	// A static pod waits for every container of another pod of its name
	// to end before it starts (the pod workers' allowStaticPodStart):
	// a changed etcd manifest must not start a second etcd on the same
	// data and ports. So does a pod put back while its old self stops.
	busy := map[string]bool{}
	for _, name := range m.orphans {
		busy[name] = true
	}
	observed := map[ctrKey][]*agent.ContainerStatus{}
	m.withContainers = map[types.UID]bool{}
	for i := range list {
		c := &list[i]
		uid := types.UID(c.Labels[labelPodUID])
		if uid == "" {
			continue // not a kubelet container
		}
		m.withContainers[uid] = true
		if want[uid] == nil {
			if c.Labels[labelConfigSource] == sourceAPI && !apiSynced {
				continue
			}
			if c.Running {
				busy[c.Labels[labelPodNamespace]+"/"+c.Labels[labelPodName]] = true
			}
			m.stopOrphan(c)
			continue
		}
		if m.stopping[c.ID] {
			continue
		}
		k := ctrKey{uid, c.Labels[labelContainerName]}
		observed[k] = append(observed[k], c)
	}

	for _, ps := range m.sortedPods() {
		m.syncPod(ps, observed, ps.sp.static() && busy[ps.sp.FullName()], now)
	}
	if apiSynced {
		m.cleanupPodDirs(want)
	}
	return nil
}

// cleanupPodDirs removes the directories of pods that are gone and have
// no container left, as the kubelet's housekeeping does
// (cleanupOrphanedPodDirs): their emptyDirs and the volumes made from API
// objects. The containers' bind mounts are in their own mount
// namespaces, so nothing is mounted there on the host.
func (m *podManager) cleanupPodDirs(want map[types.UID]*desiredPod) {
	dir := filepath.Join(m.Root, podsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		uid := types.UID(e.Name())
		if want[uid] != nil || m.withContainers[uid] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			m.note(string(uid)+"/cleanup", "Failed to remove the directory of a pod that is gone", "podUID", uid, "err", err.Error())
			continue
		}
		klog.InfoS("Removed the directory of a pod that is gone", "podUID", uid)
	}
}

func (m *podManager) knownKey(key string) bool {
	uid, _, _ := strings.Cut(key, "/")
	return m.pods[types.UID(uid)] != nil
}

func (m *podManager) sortedPods() []*podState {
	ps := make([]*podState, 0, len(m.pods))
	for _, p := range m.pods {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *podState) int { return strings.Compare(a.sp.FullName(), b.sp.FullName()) })
	return ps
}

func newPodState(sp *desiredPod, now time.Time) *podState {
	ps := &podState{sp: sp, seen: now, conds: map[corev1.PodConditionType]corev1.PodCondition{}}
	for i := range sp.Pod.Spec.Containers {
		ps.ctrs = append(ps.ctrs, &ctrState{spec: &sp.Pod.Spec.Containers[i], attempt: -1})
	}
	// An API pod's conditions were set before, by this kubelet or an
	// earlier one: their transition times carry on.
	if !sp.static() {
		for _, c := range sp.Pod.Status.Conditions {
			ps.conds[c.Type] = c
		}
	}
	return ps
}

// update takes an API pod's newer object. Its containers' specs are the
// new object's. The API lets only a container's image change in place;
// the real kubelet then restarts the container, the stand-in says so and
// does not (a DaemonSet or Deployment rollout makes new pods instead).
func (ps *podState) update(sp *desiredPod) {
	ps.sp = sp
	for _, cs := range ps.ctrs {
		for i := range sp.Pod.Spec.Containers {
			if c := &sp.Pod.Spec.Containers[i]; c.Name == cs.spec.Name {
				if c.Image != cs.spec.Image {
					klog.InfoS("The container's image changed; the lab's kubelet does not restart containers in place", "pod", sp.FullName(), "containerName", c.Name, "image", c.Image)
				}
				cs.spec = c
			}
		}
	}
}

// stopOrphan ends a container no manifest wants any more: a running one
// is stopped with the grace period it was started under, an exited one is
// forgotten.
func (m *podManager) stopOrphan(c *agent.ContainerStatus) {
	if m.stopping[c.ID] {
		return
	}
	pod := c.Labels[labelPodNamespace] + "/" + c.Labels[labelPodName]
	if !c.Running {
		if err := m.Runtime.RemoveContainer(c.ID); err != nil {
			klog.ErrorS(err, "Failed to remove container", "containerID", c.ID)
		}
		return
	}
	grace := graceOf(c)
	klog.InfoS("Killing container with a grace period", "pod", pod, "podUID", c.Labels[labelPodUID],
		"containerName", c.Labels[labelContainerName], "containerID", c.ID, "gracePeriod", int(grace.Seconds()), "reason", "its pod is gone or changed")
	id := c.ID
	m.orphans[id] = pod
	m.stopAsync(nil, id, grace, func(error) { delete(m.orphans, id) })
}

// stopAsync stops a container without holding up the sync loop: a grace
// period can be long. then runs, under the lock, once it is stopped. ps,
// when the container is one of a known pod's, counts the stop as in
// flight.
func (m *podManager) stopAsync(ps *podState, id string, grace time.Duration, then func(error)) {
	m.stopping[id] = true
	if ps != nil {
		ps.stops++
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := m.Runtime.StopContainer(id, grace)
		if err != nil {
			klog.ErrorS(err, "Failed to stop container", "containerID", id)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.stopping, id)
		if ps != nil {
			ps.stops--
		}
		if then != nil {
			then(err)
		}
	}()
}

func (m *podManager) syncPod(ps *podState, observed map[ctrKey][]*agent.ContainerStatus, busy bool, now time.Time) {
	pod := ps.sp.Pod
	ps.setup = ""
	if ps.sp.terminating() {
		m.syncTerminating(ps, observed, now)
		return
	}
	if reason, msg := podProblem(ps.sp); reason != "" {
		m.note(string(pod.UID)+"/pod", "Pod cannot run", "pod", ps.sp.FullName(), "reason", reason, "message", msg)
		ps.setup = msg
		for _, cs := range ps.ctrs {
			cs.waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		}
		return
	}
	switch {
	case busy:
		ps.setup = "waiting for the previous pod of this name to terminate"
	case ps.sp.VolumeErr != "":
		ps.setup = ps.sp.VolumeErr
	default:
		if err := prepareHostPaths(m.Root, pod); err != nil {
			ps.setup = err.Error()
		} else if err := prepareEmptyDirs(m.Root, pod); err != nil {
			ps.setup = err.Error()
		}
	}
	if ps.setup != "" {
		m.note(string(pod.UID)+"/pod", "Pod is not ready to start containers", "pod", ps.sp.FullName(), "reason", ps.setup)
	} else {
		m.forgetNote(string(pod.UID) + "/pod")
	}
	for _, cs := range ps.ctrs {
		m.syncContainer(ps, cs, observed[ctrKey{pod.UID, cs.spec.Name}], now)
	}
}

// syncTerminating stops every container of a pod that is being deleted,
// or whose phase is terminal, and starts none (syncTerminatingPod). Once
// nothing of it runs and no stop is in flight the pod is terminated.
func (m *podManager) syncTerminating(ps *podState, observed map[ctrKey][]*agent.ContainerStatus, now time.Time) {
	if ps.terminated {
		// Something the runtime still has of it is stopped all the same.
		for _, cs := range ps.ctrs {
			for _, o := range observed[ctrKey{ps.sp.Pod.UID, cs.spec.Name}] {
				if o.Running {
					ps.terminated = false
				}
			}
		}
		if ps.terminated {
			return
		}
	}
	for _, cs := range ps.ctrs {
		m.syncContainer(ps, cs, observed[ctrKey{ps.sp.Pod.UID, cs.spec.Name}], now)
	}
	// Every stop of the pod's containers is counted, a duplicate's too.
	done := ps.stops == 0
	for _, cs := range ps.ctrs {
		if cs.running {
			done = false
		}
	}
	if done {
		ps.terminated = true
		for _, cs := range ps.ctrs {
			cs.terminal, cs.waiting = true, nil
		}
		klog.InfoS("Pod terminated: no container of it runs", "pod", ps.sp.FullName(), "podUID", ps.sp.Pod.UID)
	}
}

// terminationGrace is what the containers of a pod being deleted get
// between SIGTERM and SIGKILL: the deletion's grace period (the API
// server sets it from the pod's or from the delete call), at least the
// runtime manager's 2s (minimumGracePeriodInSeconds).
func terminationGrace(pod *corev1.Pod) int64 {
	g := specGrace(pod)
	if pod.DeletionGracePeriodSeconds != nil {
		g = *pod.DeletionGracePeriodSeconds
	}
	return max(g, 2)
}

// syncContainer is one container's step: adopt, observe, probe, kill,
// restart or start; in a terminating pod, only adopt, observe and kill.
func (m *podManager) syncContainer(ps *podState, cs *ctrState, obs []*agent.ContainerStatus, now time.Time) {
	pod := ps.sp.Pod
	if cs.killing {
		return // the stop in flight records the end
	}
	running := m.observe(ps, cs, obs, now)
	terminating := ps.sp.terminating()
	switch {
	case running && terminating:
		reason := "the pod is being deleted"
		if pod.DeletionTimestamp == nil {
			reason = "the pod's phase is " + string(pod.Status.Phase)
		}
		m.stop(ps, cs, terminationGrace(pod), reason, "The container was stopped because "+reason)
		return
	case running:
		cs.waiting, cs.terminal = nil, false
		if w := cs.failedProbe(); w != nil {
			m.kill(ps, cs, w)
			return
		}
		m.runProbes(ps, cs, now)
		return
	case terminating:
		cs.waiting = nil
		return
	case cs.id == "":
		// Never started.
		if ps.setup != "" {
			cs.waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: ps.setup}
			return
		}
		m.start(ps, cs, now)
		return
	}

	// The newest container has ended.
	if !restarts(pod.Spec.RestartPolicy, cs.last.ExitCode) {
		cs.terminal, cs.waiting = true, nil
		return
	}
	if ps.setup != "" {
		cs.waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: ps.setup}
		return
	}
	key := string(pod.UID) + "/" + cs.spec.Name
	finished := cs.last.FinishedAt.Time
	if m.crash.inBackoffSince(key, finished, now) {
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", m.crash.get(key), cs.spec.Name, pod.Name, pod.Namespace, pod.UID)
		cs.waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}
		m.note(key+"/crash", "Back-off restarting failed container", "pod", ps.sp.FullName(), "containerName", cs.spec.Name, "backoff", m.crash.get(key).String(), "containerID", cs.lastID)
		return
	}
	m.crash.next(key, finished, now)
	m.start(ps, cs, now)
}

// observe brings what the kubelet knows of a container up to date with
// the runtime's containers of it, and says whether its newest attempt
// runs. It adopts the newest container (a kubelet started again finds its
// containers by their labels), records how the newest ended, keeps the
// newest dead one before it for its log, as the kubelet's garbage
// collection keeps one dead container, and stops a second running one, a
// leftover.
func (m *podManager) observe(ps *podState, cs *ctrState, obs []*agent.ContainerStatus, now time.Time) bool {
	slices.SortFunc(obs, func(a, b *agent.ContainerStatus) int { return attemptOf(b) - attemptOf(a) })
	var latest *agent.ContainerStatus
	if len(obs) > 0 {
		latest = obs[0]
	}
	var prevDead *agent.ContainerStatus
	for _, o := range obs[min(1, len(obs)):] {
		switch {
		case o.Running:
			klog.InfoS("Killing duplicate container", "pod", ps.sp.FullName(), "containerName", cs.spec.Name, "containerID", o.ID)
			m.stopAsync(ps, o.ID, graceOf(o), nil)
		case prevDead == nil:
			prevDead = o
		default:
			if err := m.Runtime.RemoveContainer(o.ID); err != nil {
				klog.ErrorS(err, "Failed to remove dead container", "containerID", o.ID)
			}
		}
	}

	if latest != nil && latest.ID != cs.id && attemptOf(latest) >= cs.attempt {
		cs.id, cs.attempt, cs.running = latest.ID, attemptOf(latest), false
		if cs.last == nil && prevDead != nil {
			// A kubelet started again learns the last end from the
			// dead container the runtime kept.
			cs.last, cs.lastID = terminated(prevDead), prevDead.ID
		}
		klog.InfoS("Found container of a pod in the runtime", "pod", ps.sp.FullName(), "containerName", cs.spec.Name,
			"containerID", latest.ID, "running", latest.Running, "restartCount", cs.attempt)
	}

	switch {
	case latest != nil && latest.ID == cs.id && latest.Running:
		if !cs.running {
			cs.running, cs.started = true, latest.Started
			cs.resetProbes()
		}
		return true
	case latest != nil && latest.ID == cs.id:
		if cs.lastID != latest.ID {
			cs.ended(latest.ID, terminated(latest))
			klog.InfoS("Container exited", "pod", ps.sp.FullName(), "containerName", cs.spec.Name, "containerID", latest.ID, "exitCode", latest.ExitCode)
		}
	case cs.id != "":
		// The newest container is gone from the runtime without an exit
		// record: the host restarted under the kubelet, or someone
		// removed it. As the real kubelet, say the status is unknown.
		if cs.lastID != cs.id {
			cs.ended(cs.id, &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "ContainerStatusUnknown", ContainerID: runtimeID(cs.id),
				Message:   "The container could not be located when the pod was terminated",
				StartedAt: metav1.NewTime(cs.started), FinishedAt: metav1.NewTime(now),
			})
			klog.InfoS("Container is gone from the runtime", "pod", ps.sp.FullName(), "containerName", cs.spec.Name, "containerID", cs.id)
		}
	}
	return false
}

// restarts is the restart policy's verdict on an exit.
func restarts(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

func runtimeID(id string) string { return "hagen-lab://" + id }

// terminated is how an exited container ended, as the runtime tells it.
func terminated(c *agent.ContainerStatus) *corev1.ContainerStateTerminated {
	reason := "Completed"
	if c.ExitCode != 0 {
		reason = "Error"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: int32(c.ExitCode), Reason: reason, ContainerID: runtimeID(c.ID),
		StartedAt: metav1.NewTime(c.Started), FinishedAt: metav1.NewTime(c.Finished),
	}
}

// ended records how the newest container ended.
func (cs *ctrState) ended(id string, t *corev1.ContainerStateTerminated) {
	cs.before, cs.last, cs.lastID = cs.last, t, id
	cs.running = false
	cs.probes = [3]*probeWorker{}
	cs.startupDone = false
}

func (cs *ctrState) resetProbes() {
	cs.startupDone = false
	cs.probes = [3]*probeWorker{}
	for k, p := range []*corev1.Probe{cs.spec.StartupProbe, cs.spec.LivenessProbe, cs.spec.ReadinessProbe} {
		if p != nil {
			cs.probes[k] = newProbeWorker(probeKind(k), p, cs.started)
		}
	}
	if cs.probes[startupProbe] == nil {
		cs.startupDone = true
	}
}

// failedProbe is the liveness or startup worker that has failed, if any:
// its container must be killed.
func (cs *ctrState) failedProbe() *probeWorker {
	for _, k := range []probeKind{startupProbe, livenessProbe} {
		if w := cs.probes[k]; w != nil && w.onHold && w.result == resultFailure {
			return w
		}
	}
	return nil
}

// ready is the container's readiness: running, started, and its
// readiness probe (if any) passing.
func (cs *ctrState) ready() bool {
	if !cs.running || !cs.startupDone {
		return false
	}
	w := cs.probes[readinessProbe]
	return w == nil || w.result == resultSuccess
}

// start starts the container's next attempt: pull (find the image's
// binaries), build, run.
func (m *podManager) start(ps *podState, cs *ctrState, now time.Time) {
	pod, c := ps.sp.Pod, cs.spec
	key := string(pod.UID) + "/" + c.Name
	if m.pull.inBackoffSinceUpdate(key, now) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		if cs.waiting != nil && cs.waiting.Reason == "ErrImagePull" {
			msg += ": " + cs.waiting.Message
		} else if cs.waiting != nil && cs.waiting.Reason == "ImagePullBackOff" {
			msg = cs.waiting.Message
		}
		cs.waiting = &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: msg}
		return
	}
	dir, err := imageDir(m.ImagesFile, c.Image)
	if err != nil {
		m.pull.next(key, now, now)
		cs.waiting = &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: err.Error()}
		klog.ErrorS(err, "Failed to pull image", "pod", ps.sp.FullName(), "containerName", c.Name, "image", c.Image, "backoff", m.pull.get(key).String())
		return
	}
	attempt := cs.attempt + 1
	spec, err := buildContainer(containerInput{
		Pod: pod, Container: c, Attempt: attempt, Source: ps.sp.Source, ImageDir: dir, Hostname: m.Hostname,
		HostIPs: m.HostIPs, Volumes: podVolumes(m.Root, ps.sp), Allocatable: m.Allocatable,
	})
	if err != nil {
		cs.waiting = &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		m.note(key+"/config", "Error creating container: "+err.Error(), "pod", ps.sp.FullName(), "containerName", c.Name)
		return
	}
	st, err := m.Runtime.RunContainer(spec)
	cs.attempt, cs.id = attempt, spec.ID
	if err != nil {
		// As a container that containerd created but could not start.
		cs.ended(spec.ID, &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: err.Error(), ContainerID: runtimeID(spec.ID),
			StartedAt: metav1.NewTime(now), FinishedAt: metav1.NewTime(now),
		})
		cs.waiting = &corev1.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}
		klog.ErrorS(err, "Failed to start container", "pod", ps.sp.FullName(), "containerName", c.Name, "containerID", spec.ID)
		return
	}
	cs.running, cs.started = true, st.Started
	if cs.started.IsZero() {
		cs.started = now
	}
	cs.waiting, cs.terminal = nil, false
	cs.resetProbes()
	// The prober's workers probe at once, initial delay permitting.
	defer m.runProbes(ps, cs, now)
	klog.InfoS("Started container", "pod", ps.sp.FullName(), "containerName", c.Name, "containerID", spec.ID,
		"pid", st.PID, "restartCount", attempt, "argv", strings.Join(spec.Argv, " "))
}

// kill stops a container whose liveness or startup probe failed; the
// restart policy then decides, as after any exit.
func (m *podManager) kill(ps *podState, cs *ctrState, w *probeWorker) {
	grace := specGrace(ps.sp.Pod)
	if w.spec.TerminationGracePeriodSeconds != nil {
		grace = *w.spec.TerminationGracePeriodSeconds
	}
	kind := strings.ToLower(w.kind.String())
	klog.InfoS(fmt.Sprintf("Container %s failed %s probe, will be restarted", cs.spec.Name, kind),
		"pod", ps.sp.FullName(), "containerID", cs.id, "probeResult", w.output, "gracePeriod", grace)
	m.stop(ps, cs, grace, "its "+kind+" probe failed", fmt.Sprintf("The container was stopped because its %s probe failed", kind))
}

// stop stops a container's newest attempt with a grace period in
// seconds, and records its end once it is stopped. The runtime forgets a
// container it stops: its exit status is not known, and is not made up.
func (m *podManager) stop(ps *podState, cs *ctrState, grace int64, reason, msg string) {
	id, started := cs.id, cs.started
	klog.InfoS("Killing container with a grace period", "pod", ps.sp.FullName(), "podUID", ps.sp.Pod.UID,
		"containerName", cs.spec.Name, "containerID", id, "gracePeriod", grace, "reason", reason)
	cs.killing = true
	m.stopAsync(ps, id, time.Duration(grace)*time.Second, func(err error) {
		cs.killing = false
		if err != nil || cs.id != id || cs.lastID == id {
			return // not stopped: the next sync finds it running and tries again
		}
		cs.ended(id, &corev1.ContainerStateTerminated{
			ExitCode: 137, Reason: "ContainerStatusUnknown", ContainerID: runtimeID(id),
			Message:   msg + "; the lab's runtime keeps no exit status of stopped containers",
			StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(m.Now()),
		})
	})
}

// runProbes starts the probes that are due, each in its own goroutine:
// a probe may take its whole timeout.
func (m *podManager) runProbes(ps *podState, cs *ctrState, now time.Time) {
	podIP := ""
	if len(m.HostIPs) > 0 {
		podIP = m.HostIPs[0]
	}
	for _, w := range cs.probes {
		if w == nil || !w.due(now, cs.started, cs.startupDone, cs.probes[startupProbe] != nil) {
			continue
		}
		w.inflight = true
		id, spec, c := cs.id, w.spec, cs.spec
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			r, out := m.Probe(m.ctx, spec, c, podIP)
			m.mu.Lock()
			defer m.mu.Unlock()
			w.inflight = false
			if cs.id != id || cs.probes[w.kind] != w {
				return // the container was replaced meanwhile
			}
			if r == resultFailure {
				klog.V(1).InfoS("Probe failed", "probeType", w.kind.String(), "pod", ps.sp.FullName(), "containerName", c.Name, "probeResult", r.String(), "output", out)
			}
			if w.observe(r, out) {
				klog.InfoS("Probe result changed", "probeType", w.kind.String(), "pod", ps.sp.FullName(), "containerName", c.Name, "result", w.result.String(), "output", out)
			}
			if w.kind == startupProbe && w.result == resultSuccess {
				cs.startupDone = true
			}
		}()
	}
}
