package kubelet

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// snapshot is every static pod with the status the kubelet would report
// for it and its config.seen annotation: what the mirror pods show. Times
// are whole seconds, as the API stores them, so that an unchanged status
// compares equal to the stored one.
func (m *podManager) snapshot() []*corev1.Pod {
	now := m.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*corev1.Pod
	for _, ps := range m.sortedPods() {
		if !ps.sp.static() {
			continue
		}
		pod := ps.sp.Pod.DeepCopy()
		pod.Annotations[annConfigSeen] = ps.seen.Format(time.RFC3339Nano)
		pod.Status = m.status(ps, now)
		out = append(out, pod)
	}
	return out
}

// apiPodStatus is an API pod as the kubelet knows it: the object it
// last had, the status to report, and whether the pod has terminated.
type apiPodStatus struct {
	Pod        *corev1.Pod
	Status     corev1.PodStatus
	Terminated bool
}

// apiStatuses is every API pod the pod manager has, with its status.
func (m *podManager) apiStatuses() []apiPodStatus {
	now := m.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []apiPodStatus
	for _, ps := range m.sortedPods() {
		if ps.sp.static() {
			continue
		}
		out = append(out, apiPodStatus{Pod: ps.sp.Pod, Status: m.status(ps, now), Terminated: ps.terminated})
	}
	return out
}

// apiPods are the API pods the pod manager has, with whether each
// could run: those are the pods whose volumes the API side makes.
func (m *podManager) apiPods() []*desiredPod {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*desiredPod
	for _, ps := range m.sortedPods() {
		if !ps.sp.static() {
			out = append(out, ps.sp)
		}
	}
	return out
}

func secs(t time.Time) metav1.Time { return metav1.NewTime(t.Truncate(time.Second)) }

func secsPtr(t *corev1.ContainerStateTerminated) *corev1.ContainerStateTerminated {
	if t == nil {
		return nil
	}
	t = t.DeepCopy()
	t.StartedAt, t.FinishedAt = secs(t.StartedAt.Time), secs(t.FinishedAt.Time)
	return t
}

// status is the pod's status as the kubelet computes it
// (generateAPIPodStatus, getPhase, and the status manager's merge) from
// what it knows of its containers. An API pod keeps what others set in
// its status: its start time, its QoS class, the conditions that are not
// the kubelet's, a terminal phase.
func (m *podManager) status(ps *podState, now time.Time) corev1.PodStatus {
	pod := ps.sp.Pod
	api := !ps.sp.static()
	st := corev1.PodStatus{QOSClass: qosClass(pod)}
	var gen int64
	if api {
		gen = pod.Generation
		st.ObservedGeneration = gen
		if pod.Status.QOSClass != "" {
			st.QOSClass = pod.Status.QOSClass
		}
	}
	if len(m.HostIPs) > 0 {
		st.HostIP = m.HostIPs[0]
		for _, ip := range m.HostIPs {
			st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: ip})
		}
		if pod.Spec.HostNetwork {
			st.PodIP = m.HostIPs[0]
			for _, ip := range m.HostIPs {
				st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
			}
		}
	}
	start := secs(ps.seen)
	if api && pod.Status.StartTime != nil {
		start = *pod.Status.StartTime
	}
	st.StartTime = &start

	var unready []string
	anyRunning := false
	for _, cs := range ps.ctrs {
		s := corev1.ContainerStatus{Name: cs.spec.Name, Image: cs.spec.Image, RestartCount: int32(max(cs.attempt, 0))}
		started, ready := false, cs.ready()
		switch {
		case cs.running:
			anyRunning = true
			started = cs.startupDone
			s.ContainerID = runtimeID(cs.id)
			s.State.Running = &corev1.ContainerStateRunning{StartedAt: secs(cs.started)}
			s.LastTerminationState.Terminated = secsPtr(cs.last)
		case cs.terminal && cs.last != nil:
			s.ContainerID = runtimeID(cs.lastID)
			s.State.Terminated = secsPtr(cs.last)
			s.LastTerminationState.Terminated = secsPtr(cs.before)
		case cs.terminal:
			// A terminated pod's container that never ran: the status
			// manager's TerminatePod says it could not be located.
			s.State.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "ContainerStatusUnknown", Message: "The container could not be located when the pod was terminated",
			}
		case cs.waiting != nil:
			s.State.Waiting = cs.waiting.DeepCopy()
			s.LastTerminationState.Terminated = secsPtr(cs.last)
		default:
			s.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			s.LastTerminationState.Terminated = secsPtr(cs.last)
		}
		s.Started, s.Ready = &started, ready
		if !ready {
			unready = append(unready, cs.spec.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, s)
	}
	slices.SortFunc(st.ContainerStatuses, func(a, b corev1.ContainerStatus) int { return strings.Compare(a.Name, b.Name) })
	st.Phase = phase(pod, st.ContainerStatuses)
	if api {
		switch {
		case terminalPhase(pod.Status.Phase):
			// No pod leaves a terminal phase.
			st.Phase, st.Reason, st.Message = pod.Status.Phase, pod.Status.Reason, pod.Status.Message
		case ps.terminated:
			// A pod the kubelet has terminated is Succeeded if every
			// container ended well, else Failed (getPhase with
			// podIsTerminal, TerminatePod).
			st.Phase = corev1.PodSucceeded
			for _, s := range st.ContainerStatuses {
				if t := s.State.Terminated; t == nil || t.ExitCode != 0 {
					st.Phase = corev1.PodFailed
				}
			}
		}
	}

	// The conditions others own come first, as the status manager's
	// merge keeps them.
	if api {
		for _, c := range pod.Status.Conditions {
			if !kubeletCondition(c.Type) {
				st.Conditions = append(st.Conditions, c)
			}
		}
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		c, had := ps.conds[t]
		if !had || c.Status != s {
			c = corev1.PodCondition{Type: t, Status: s, LastTransitionTime: secs(now)}
		}
		c.Reason, c.Message, c.ObservedGeneration = reason, msg, gen
		ps.conds[t] = c
		st.Conditions = append(st.Conditions, c)
	}
	unreadyMsg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	switch {
	case ps.terminated:
		cond(corev1.PodReadyToStartContainers, false, "PodSandboxNotReady", "pod sandbox is not ready")
	case ps.setup == "" || anyRunning:
		cond(corev1.PodReadyToStartContainers, true, "", "")
	default:
		cond(corev1.PodReadyToStartContainers, false, "PodSandboxNotReady", "no pod sandbox exists")
	}
	switch st.Phase {
	case corev1.PodSucceeded:
		cond(corev1.PodInitialized, true, "PodCompleted", "")
		cond(corev1.PodReady, false, "PodCompleted", "")
		cond(corev1.ContainersReady, false, "PodCompleted", "")
	case corev1.PodFailed:
		cond(corev1.PodInitialized, true, "", "")
		cond(corev1.PodReady, false, "PodFailed", "")
		cond(corev1.ContainersReady, false, "PodFailed", "")
	default:
		cond(corev1.PodInitialized, true, "", "")
		if len(unready) == 0 {
			cond(corev1.PodReady, true, "", "")
			cond(corev1.ContainersReady, true, "", "")
		} else {
			cond(corev1.PodReady, false, "ContainersNotReady", unreadyMsg)
			cond(corev1.ContainersReady, false, "ContainersNotReady", unreadyMsg)
		}
	}
	cond(corev1.PodScheduled, true, "", "")
	return st
}

// kubeletCondition says whether the kubelet owns a pod condition
// (kubetypes.PodConditionByKubelet).
func kubeletCondition(t corev1.PodConditionType) bool {
	switch t {
	case corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized, corev1.ContainersReady,
		corev1.PodResizeInProgress, corev1.PodResizePending, corev1.PodReadyToStartContainers:
		return true
	}
	return false
}

// phase is the kubelet's getPhase for a pod without init containers.
func phase(pod *corev1.Pod, statuses []corev1.ContainerStatus) corev1.PodPhase {
	var running, waiting, stopped, succeeded int
	for _, s := range statuses {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		if pod.Spec.RestartPolicy == corev1.RestartPolicyAlways {
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// qosClass is the pod's QoS class as the API server computes it when it
// admits the mirror pod (pkg/apis/core/helper/qos).
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	for _, c := range pod.Spec.Containers {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq && !req.IsZero() {
				add(requests, r, req)
			}
			if hasLim && !lim.IsZero() {
				add(limits, r, lim)
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case len(requests) == 0 && len(limits) == 0:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func add(l corev1.ResourceList, r corev1.ResourceName, q resource.Quantity) {
	sum := l[r]
	sum.Add(q)
	l[r] = sum
}
