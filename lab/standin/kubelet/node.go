package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// networkNotReady is the Ready condition's message of a real kubelet on
// containerd with no CNI configuration: the lab has no pod network, and
// the stand-in says so rather than pretend the node is Ready.
const networkNotReady = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"

// annCMAD is the annotation by which the kubelet leaves volume attachment
// to the attach/detach controller (its default).
const annCMAD = "volumes.kubernetes.io/controller-managed-attach-detach"

// nodeSpec is what the kubelet registers itself as.
type nodeSpec struct {
	Name     string
	Hostname string
	// IPs are the InternalIP addresses: --node-ip when it is valid, else
	// the detected address.
	IPs            []string
	Labels         map[string]string // --node-labels
	Taints         []corev1.Taint
	MaxPods        int32
	EvictionHard   map[string]string
	KubeReserved   map[string]string
	SystemReserved map[string]string
	Version        string
	Facts          hostFacts
}

// defaultLabels are the labels the kubelet always sets on its node
// (kubelet_node_status.go initialNode, updateDefaultLabels).
func (n *nodeSpec) defaultLabels() map[string]string {
	return map[string]string{
		corev1.LabelHostname:      n.Hostname,
		corev1.LabelOSStable:      "linux",
		corev1.LabelArchStable:    runtime.GOARCH,
		"beta.kubernetes.io/os":   "linux",
		"beta.kubernetes.io/arch": runtime.GOARCH,
	}
}

// initialNode is the Node the kubelet creates.
func (n *nodeSpec) initialNode(now time.Time) *corev1.Node {
	labels := n.defaultLabels()
	maps.Copy(labels, n.Labels)
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Labels:      labels,
			Annotations: map[string]string{annCMAD: "true"},
		},
		Spec: corev1.NodeSpec{Taints: n.Taints},
	}
	n.setStatus(node, now)
	return node
}

// capacity is the node's capacity from the host's facts.
func (n *nodeSpec) capacity() corev1.ResourceList {
	f := n.Facts
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(f.CPUs), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(f.MemoryBytes, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(int64(n.MaxPods), resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(f.EphemeralBytes, resource.BinarySI),
	}
}

// allocatable is capacity less what is reserved and the hard eviction
// thresholds, never below zero.
func allocatable(capacity corev1.ResourceList, kubeReserved, systemReserved, evictionHard map[string]string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for r, q := range capacity {
		a := q.DeepCopy()
		for _, reserved := range []map[string]string{kubeReserved, systemReserved} {
			if v, ok := reserved[string(r)]; ok {
				if rq, err := resource.ParseQuantity(v); err == nil {
					a.Sub(rq)
				}
			}
		}
		switch r {
		case corev1.ResourceMemory:
			a.Sub(evictionThreshold(evictionHard["memory.available"], q))
		case corev1.ResourceEphemeralStorage:
			a.Sub(evictionThreshold(evictionHard["nodefs.available"], q))
		}
		if a.Sign() < 0 {
			a = *resource.NewQuantity(0, q.Format)
		}
		out[r] = a
	}
	return out
}

// setStatus is the kubelet's node status setters: addresses, capacity and
// allocatable, machine info, conditions and their heartbeat.
func (n *nodeSpec) setStatus(node *corev1.Node, now time.Time) {
	st := &node.Status
	st.Addresses = nil
	for _, ip := range n.IPs {
		st.Addresses = append(st.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	st.Addresses = append(st.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: n.Hostname})

	f := n.Facts
	st.Capacity = n.capacity()
	st.Allocatable = allocatable(st.Capacity, n.KubeReserved, n.SystemReserved, n.EvictionHard)

	st.NodeInfo = corev1.NodeSystemInfo{
		MachineID:               f.MachineID,
		SystemUUID:              f.SystemUUID,
		BootID:                  f.BootID,
		KernelVersion:           f.KernelVersion,
		OSImage:                 f.OSImage,
		ContainerRuntimeVersion: "hagen-lab://" + strings.TrimPrefix(n.Version, "v"),
		KubeletVersion:          n.Version,
		OperatingSystem:         "linux",
		Architecture:            runtime.GOARCH,
	}

	hb := metav1.NewTime(now.Truncate(time.Second))
	set := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) {
		for i := range st.Conditions {
			c := &st.Conditions[i]
			if c.Type == t {
				if c.Status != s {
					c.LastTransitionTime = hb
				}
				c.Status, c.Reason, c.Message, c.LastHeartbeatTime = s, reason, msg, hb
				return
			}
		}
		st.Conditions = append(st.Conditions, corev1.NodeCondition{
			Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: hb, LastTransitionTime: hb,
		})
	}
	set(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available")
	set(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure")
	set(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available")
	set(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", networkNotReady)
}

// evictionThreshold is a hard eviction threshold ("100Mi" or "10%") of
// capacity as a quantity.
func evictionThreshold(v string, capacity resource.Quantity) resource.Quantity {
	if v == "" {
		return resource.Quantity{}
	}
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		var p float64
		if _, err := fmt.Sscanf(pct, "%g", &p); err != nil {
			return resource.Quantity{}
		}
		return *resource.NewQuantity(int64(float64(capacity.Value())*p/100), capacity.Format)
	}
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return resource.Quantity{}
	}
	return q
}

// registerNode is one try of the kubelet's tryRegisterWithAPIServer:
// create the Node, or, if it exists, reconcile the attach-detach
// annotation and the default labels on it (not --node-labels, which the
// real kubelet sets only at creation), and return it.
func registerNode(ctx context.Context, client kubernetes.Interface, n *nodeSpec, now time.Time) (*corev1.Node, error) {
	node := n.initialNode(now)
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err == nil {
		klog.InfoS("Successfully registered node", "node", n.Name)
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return nil, err
	}
	existing, gerr := client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	if gerr != nil {
		if apierrors.IsForbidden(err) {
			return nil, err
		}
		return nil, gerr
	}
	klog.InfoS("Node was previously registered", "node", n.Name)
	updated := existing.DeepCopy()
	changed := false
	if updated.Annotations[annCMAD] != "true" {
		if updated.Annotations == nil {
			updated.Annotations = map[string]string{}
		}
		updated.Annotations[annCMAD] = "true"
		changed = true
	}
	for k, v := range n.defaultLabels() {
		if updated.Labels[k] != v {
			if updated.Labels == nil {
				updated.Labels = map[string]string{}
			}
			updated.Labels[k] = v
			changed = true
		}
	}
	if !changed {
		return existing, nil
	}
	return patchNodeStatus(ctx, client, existing, updated)
}

// updateNodeStatus posts the node's status, heartbeat included, as the
// kubelet's periodic status update does.
func updateNodeStatus(ctx context.Context, client kubernetes.Interface, n *nodeSpec, now time.Time) (*corev1.Node, error) {
	existing, err := client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	updated := existing.DeepCopy()
	n.setStatus(updated, now)
	return patchNodeStatus(ctx, client, existing, updated)
}

// patchNodeStatus is component-helpers' PatchNodeStatus: a strategic
// merge patch of the status subresource, which needs no resourceVersion
// and so never conflicts with kubeadm patching the node's labels.
func patchNodeStatus(ctx context.Context, client kubernetes.Interface, old, updated *corev1.Node) (*corev1.Node, error) {
	patch, err := twoWayPatch(old, updated, corev1.Node{})
	if err != nil {
		return nil, err
	}
	return client.CoreV1().Nodes().Patch(ctx, old.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
}

func twoWayPatch(old, updated, schema any) ([]byte, error) {
	a, err := json.Marshal(old)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(updated)
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateTwoWayMergePatch(a, b, schema)
}
