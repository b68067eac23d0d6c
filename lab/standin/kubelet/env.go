package kubelet

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// This file is the downward API's values: what an env var's fieldRef or
// resourceFieldRef and a downwardAPI volume's fieldRef resolve to
// (pkg/kubelet/kubelet_pods.go podFieldSelectorRuntimeValue,
// pkg/fieldpath, pkg/api/v1/resource).

// metadataField says whether path is a metadata field the downward API
// reads from the pod object itself.
func metadataField(path string) bool {
	switch path {
	case "metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations":
		return true
	}
	_, _, ok := subscript(path)
	return ok
}

// subscript splits metadata.labels['k'] and metadata.annotations['k'].
func subscript(path string) (field, key string, ok bool) {
	for _, f := range []string{"metadata.labels", "metadata.annotations"} {
		if rest, found := strings.CutPrefix(path, f+"['"); found {
			if k, found := strings.CutSuffix(rest, "']"); found {
				return f, k, true
			}
		}
	}
	return "", "", false
}

// podFieldValue is a fieldRef's value. hostIPs are the node's IPs, which
// are also the pod IPs of a host-network pod; a pod without the host's
// network never runs in the lab, so it never needs its own.
func podFieldValue(pod *corev1.Pod, path string, hostIPs []string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.podIP":
		if len(hostIPs) == 0 {
			return "", fmt.Errorf("%s: the node has no IP", path)
		}
		return hostIPs[0], nil
	case "status.hostIPs", "status.podIPs":
		if len(hostIPs) == 0 {
			return "", fmt.Errorf("%s: the node has no IP", path)
		}
		return strings.Join(hostIPs, ","), nil
	}
	if field, key, ok := subscript(path); ok {
		if field == "metadata.labels" {
			return pod.Labels[key], nil
		}
		return pod.Annotations[key], nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", path)
}

// formatMap is fieldpath.FormatMap: key="value" lines, sorted by key.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

// resourceFieldValue is a resourceFieldRef's value: the container's
// request or limit in units of the divisor, rounded up, a limit not set
// being the node's allocatable (the kubelet merges allocatable into the
// limits before it resolves the reference).
func resourceFieldValue(pod *corev1.Pod, self *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	c := self
	if ref.ContainerName != "" && ref.ContainerName != self.Name {
		c = nil
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				c = &pod.Spec.Containers[i]
			}
		}
		if c == nil {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
	}
	r := corev1.ResourceName(name)
	switch r {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
	default:
		return "", fmt.Errorf("unsupported container resource: %s", ref.Resource)
	}
	var q resource.Quantity
	if kind == "limits" {
		q = c.Resources.Limits[r]
		if q.IsZero() {
			q = allocatable[r]
		}
	} else {
		q = c.Resources.Requests[r]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if r == corev1.ResourceCPU {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}
