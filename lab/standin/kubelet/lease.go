package kubelet

import (
	"context"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// nodeLeaseNamespace holds every node's heartbeat Lease.
const nodeLeaseNamespace = corev1.NamespaceNodeLease

// leaseRenewFraction is how often the kubelet renews its Lease, as a
// fraction of its duration (10s of the default 40s).
const leaseRenewFraction = 0.25

// renewLease is one renewal of the node's Lease by component-helpers'
// lease controller: create it if it is missing, else update renewTime;
// point it at its Node once the Node's UID is known.
func renewLease(ctx context.Context, client kubernetes.Interface, node string, nodeUID types.UID, duration int32, now time.Time) (*coordinationv1.Lease, error) {
	leases := client.CoordinationV1().Leases(nodeLeaseNamespace)
	renew := metav1.NewMicroTime(now)
	lease, err := leases.Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: nodeLeaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       &node,
				LeaseDurationSeconds: &duration,
				RenewTime:            &renew,
			},
		}
		setLeaseOwner(lease, node, nodeUID)
		return leases.Create(ctx, lease, metav1.CreateOptions{})
	}
	if err != nil {
		return nil, err
	}
	lease = lease.DeepCopy()
	lease.Spec.HolderIdentity = &node
	lease.Spec.LeaseDurationSeconds = &duration
	lease.Spec.RenewTime = &renew
	setLeaseOwner(lease, node, nodeUID)
	return leases.Update(ctx, lease, metav1.UpdateOptions{})
}

func setLeaseOwner(lease *coordinationv1.Lease, node string, uid types.UID) {
	if uid == "" || len(lease.OwnerReferences) > 0 {
		return
	}
	lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: uid}}
}
