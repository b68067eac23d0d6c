package check

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func nodes(names ...string) *fake.Clientset {
	kube := fake.NewClientset()
	for _, n := range names {
		kube.Tracker().Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	return kube
}

// The Nodes must be exactly the bundle's: a Node a change left behind (a
// removed master's) fails as a missing one does.
func TestNodesRegistered(t *testing.T) {
	ctx := context.Background()
	if err := NodesRegistered(ctx, nodes("m0", "w0"), []string{"m0", "w0"}); err != nil {
		t.Errorf("exactly the bundle's Nodes: %v", err)
	}
	err := NodesRegistered(ctx, nodes("m0", "m1", "m2", "w0"), []string{"m0", "w0"})
	if err == nil || !strings.Contains(err.Error(), "Nodes m1, m2 are not hosts of the bundle") {
		t.Errorf("Nodes of removed masters: got %v", err)
	}
	err = NodesRegistered(ctx, nodes("m0", "x"), []string{"m0", "w0"})
	if err == nil || !strings.Contains(err.Error(), "no Node for w0") || !strings.Contains(err.Error(), "Nodes x are not") {
		t.Errorf("one missing, one extra: got %v", err)
	}
}

func TestFindMember(t *testing.T) {
	ms := []EtcdMember{{ID: 1, Name: "a", PeerURLs: []string{"https://10.0.0.1:2380"}}, {ID: 2, PeerURLs: []string{"https://[fd00::2]:2380"}, Learner: true}}
	m, ok := FindMember(ms, PeerURL(mustAddr("fd00::2")))
	if !ok || m.ID != 2 || m.Started() || !m.Learner {
		t.Errorf("got %+v %v, want the unstarted learner 2", m, ok)
	}
	if _, ok := FindMember(ms, PeerURL(mustAddr("10.0.0.3"))); ok {
		t.Error("found a member at an address no member has")
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
