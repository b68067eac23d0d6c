package kubelet

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// apiLoop is everything the kubelet tells the API server: the Node, its
// Lease, its status, and the mirror pods.
type apiLoop struct {
	client kubernetes.Interface
	node   *nodeSpec
	// register is registerNode in the config (true unless turned off).
	register      bool
	leaseDuration int32
	statusEvery   time.Duration
	// ready says whether there are credentials to talk with yet.
	ready func() bool
	// pods are the static pods with their status (podManager.snapshot).
	pods func() []*corev1.Pod
	// apiPods, when set, is started once the Node is registered: the
	// pods bound to the node are the kubelet's from then on.
	apiPods *apiSource
	now     func() time.Time

	nodeUID types.UID
	errs    map[string]string
}

// callTimeout bounds every API call, so that an API server that hangs
// does not stop the heartbeats for longer.
const callTimeout = 10 * time.Second

// run waits for a client certificate, registers the node (retrying with
// the kubelet's backoff: 100ms doubling to 7s), then keeps the Lease, the
// node status and the mirror pods up to date until ctx ends.
func (a *apiLoop) run(ctx context.Context) {
	if a.now == nil {
		a.now = time.Now
	}
	a.errs = map[string]string{}
	waited := false
	for !a.ready() {
		if !waited {
			klog.InfoS("Waiting for a client certificate before talking to the API server")
			waited = true
		}
		if !sleep(ctx, time.Second) {
			return
		}
	}
	delay := 100 * time.Millisecond
	for {
		err := a.registerOnce(ctx)
		if err == nil {
			break
		}
		a.logErr("register", err, "Unable to register node with API server", "node", a.node.Name)
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, 7*time.Second)
	}
	if a.apiPods != nil {
		a.apiPods.start(ctx, a.client)
	}
	leaseEvery := time.Duration(float64(a.leaseDuration)*leaseRenewFraction*1000) * time.Millisecond
	if leaseEvery <= 0 {
		leaseEvery = 10 * time.Second
	}
	if a.statusEvery <= 0 {
		a.statusEvery = 10 * time.Second
	}
	lease := time.NewTicker(leaseEvery)
	status := time.NewTicker(a.statusEvery)
	mirrors := time.NewTicker(time.Second)
	defer lease.Stop()
	defer status.Stop()
	defer mirrors.Stop()
	a.renewLease(ctx)
	a.updateStatus(ctx)
	a.syncMirrors(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			a.renewLease(ctx)
		case <-status.C:
			a.updateStatus(ctx)
		case <-mirrors.C:
			a.syncMirrors(ctx)
		}
	}
}

func (a *apiLoop) registerOnce(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var node *corev1.Node
	var err error
	if a.register {
		node, err = registerNode(cctx, a.client, a.node, a.now())
	} else {
		node, err = a.client.CoreV1().Nodes().Get(cctx, a.node.Name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	a.nodeUID = node.UID
	return nil
}

func (a *apiLoop) renewLease(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := renewLease(cctx, a.client, a.node.Name, a.nodeUID, a.leaseDuration, a.now())
	a.logErr("lease", err, "Failed to update lease", "node", a.node.Name)
}

func (a *apiLoop) updateStatus(ctx context.Context) {
	if !a.register {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := updateNodeStatus(cctx, a.client, a.node, a.now())
	a.logErr("status", err, "Error updating node status, will retry", "node", a.node.Name)
}

func (a *apiLoop) syncMirrors(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := syncMirrorPods(cctx, a.client, a.node.Name, a.nodeUID, a.pods())
	a.logErr("mirrors", err, "Failed to sync mirror pods", "node", a.node.Name)
}

// logErr logs an API error once per distinct message, and says when the
// trouble is over: an API server that is down for a minute is one line,
// not sixty.
func (a *apiLoop) logErr(key string, err error, msg string, kv ...any) {
	if err == nil {
		if a.errs[key] != "" {
			klog.InfoS(fmt.Sprintf("Recovered: %s", key), kv...)
			delete(a.errs, key)
		}
		return
	}
	if a.errs[key] == err.Error() {
		return
	}
	a.errs[key] = err.Error()
	klog.ErrorS(err, msg, kv...)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
