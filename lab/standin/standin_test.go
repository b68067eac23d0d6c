package standin

import "testing"

func TestRunsPreflight(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"init", "--config", "/etc/kubernetes/kubeadm/kubeadm.yaml"}, true},
		{[]string{"init", "--config=/x.yaml", "--ignore-preflight-errors=FileAvailable--etc-kubernetes-manifests-etcd.yaml"}, true},
		{[]string{"join", "--config", "/x.yaml"}, true},
		{[]string{"init", "phase", "preflight", "--config", "/x.yaml"}, true},
		{[]string{"init", "phase", "certs", "all", "--config", "/x.yaml"}, false},
		{[]string{"join", "phase", "control-plane-prepare", "all"}, false},
		{[]string{"config", "validate", "--config", "/x.yaml"}, false},
		{[]string{"token", "create"}, false},
		{[]string{"version"}, false},
		{nil, false},
	} {
		if got := runsPreflight(tc.args); got != tc.want {
			t.Errorf("runsPreflight(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
