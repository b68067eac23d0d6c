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
		pod := ps.sp.Pod.DeepCopy()
		pod.Annotations[annConfigSeen] = ps.seen.Format(time.RFC3339Nano)
		pod.Status = m.status(ps, now)
		out = append(out, pod)
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
// (generateAPIPodStatus, getPhase) from what it knows of its containers.
func (m *podManager) status(ps *podState, now time.Time) corev1.PodStatus {
	pod := ps.sp.Pod
	st := corev1.PodStatus{QOSClass: qosClass(pod)}
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
		case cs.terminal:
			s.ContainerID = runtimeID(cs.lastID)
			s.State.Terminated = secsPtr(cs.last)
			s.LastTerminationState.Terminated = secsPtr(cs.before)
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

	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		s := corev1.ConditionFalse
		if ok {
			s, reason, msg = corev1.ConditionTrue, "", ""
		}
		c, had := ps.conds[t]
		if !had || c.Status != s {
			c = corev1.PodCondition{Type: t, Status: s, LastTransitionTime: secs(now)}
		}
		c.Reason, c.Message = reason, msg
		ps.conds[t] = c
		st.Conditions = append(st.Conditions, c)
	}
	unreadyMsg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	cond(corev1.PodReadyToStartContainers, ps.setup == "" || anyRunning, "", "")
	cond(corev1.PodInitialized, true, "", "")
	cond(corev1.PodReady, len(unready) == 0, "ContainersNotReady", unreadyMsg)
	cond(corev1.ContainersReady, len(unready) == 0, "ContainersNotReady", unreadyMsg)
	cond(corev1.PodScheduled, true, "", "")
	return st
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
