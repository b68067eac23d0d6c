package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// mirrorPod is the API's copy of a static pod (pkg/kubelet/pod
// mirror_client.go): the static pod with the config.mirror annotation and
// a controller reference to its Node, which NodeRestriction requires
// (exactly one, with the Node's UID, without blockOwnerDeletion).
func mirrorPod(static *corev1.Pod, node string, nodeUID types.UID) *corev1.Pod {
	controller := true
	m := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        static.Name,
			Namespace:   static.Namespace,
			Labels:      maps.Clone(static.Labels),
			Annotations: maps.Clone(static.Annotations),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node, UID: nodeUID, Controller: &controller,
			}},
		},
		Spec: *static.Spec.DeepCopy(),
	}
	m.Annotations[annConfigMirror] = static.Annotations[annConfigHash]
	return m
}

// syncMirrorPods makes the node's mirror pods those of its static pods:
// it creates the missing ones, replaces the ones whose hash is not their
// static pod's (a changed manifest), deletes the ones without a static
// pod, and posts every status that changed. statics carry their status
// (podManager.snapshot).
func syncMirrorPods(ctx context.Context, client kubernetes.Interface, node string, nodeUID types.UID, statics []*corev1.Pod) error {
	list, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
	})
	if err != nil {
		return fmt.Errorf("listing the node's pods: %w", err)
	}
	mirrors := map[string]*corev1.Pod{}
	for i := range list.Items {
		p := &list.Items[i]
		if _, ok := p.Annotations[annConfigMirror]; ok && p.Spec.NodeName == node {
			mirrors[p.Namespace+"/"+p.Name] = p
		}
	}
	var errs []error
	wanted := map[string]bool{}
	for _, sp := range statics {
		full := sp.Namespace + "/" + sp.Name
		wanted[full] = true
		m := mirrors[full]
		hash := sp.Annotations[annConfigHash]
		if m != nil && (m.Annotations[annConfigMirror] != hash || m.DeletionTimestamp != nil) {
			klog.InfoS("Deleting mirror pod because it is outdated", "pod", full)
			if err := deleteMirrorPod(ctx, client, m); err != nil {
				errs = append(errs, err)
				continue
			}
			m = nil
		}
		if m == nil {
			created, err := client.CoreV1().Pods(sp.Namespace).Create(ctx, mirrorPod(sp, node, nodeUID), metav1.CreateOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("creating mirror pod %s: %w", full, err))
				continue
			}
			klog.InfoS("Created mirror pod", "pod", full, "hash", hash)
			m = created
		}
		if _, err := postPodStatus(ctx, client, m, sp.Status); err != nil {
			errs = append(errs, fmt.Errorf("updating the status of %s: %w", full, err))
		}
	}
	for full, m := range mirrors {
		if !wanted[full] {
			klog.InfoS("Deleting orphaned mirror pod", "pod", full)
			if err := deleteMirrorPod(ctx, client, m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	return nil
}

// deleteMirrorPod deletes at once and only the very pod seen, as the
// kubelet does; a pod already gone or replaced is no error.
func deleteMirrorPod(ctx context.Context, client kubernetes.Interface, m *corev1.Pod) error {
	zero := int64(0)
	uid := m.UID
	err := client.CoreV1().Pods(m.Namespace).Delete(ctx, m.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting mirror pod %s/%s: %w", m.Namespace, m.Name, err)
	}
	return nil
}

// postPodStatus patches a pod's status (a mirror pod's, an API pod's)
// when it differs from what the kubelet knows, and says whether it did.
// The QoS class is the API server's to set.
func postPodStatus(ctx context.Context, client kubernetes.Interface, m *corev1.Pod, st corev1.PodStatus) (bool, error) {
	st = *st.DeepCopy()
	if m.Status.QOSClass != "" {
		st.QOSClass = m.Status.QOSClass
	}
	if equality.Semantic.DeepEqual(m.Status, st) {
		return false, nil
	}
	updated := m.DeepCopy()
	updated.Status = st
	patch, err := twoWayPatch(m, updated, corev1.Pod{})
	if err != nil {
		return false, err
	}
	// The patch names the pod's UID, so that it cannot land on a pod
	// recreated under the same name meanwhile (statusutil.PatchPodStatus).
	var obj map[string]any
	if err := json.Unmarshal(patch, &obj); err != nil {
		return false, err
	}
	obj["metadata"] = map[string]any{"uid": m.UID}
	if patch, err = json.Marshal(obj); err != nil {
		return false, err
	}
	_, err = client.CoreV1().Pods(m.Namespace).Patch(ctx, m.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	if err != nil {
		return false, err
	}
	klog.V(3).InfoS("Patched pod status", "pod", klog.KObj(m), "patch", string(patch))
	return true, nil
}
