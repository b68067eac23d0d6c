package ansible

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Output of ansible-core 2.14's default callback, as a second run prints
// it when one task still changes something.
const secondRun = `
PLAY [Step 1: copy-files] ******************************************************

TASK [Read which services run] *************************************************
ok: [worker0]
ok: [master0]

TASK [Copy the other files] ****************************************************
ok: [master0] => (item=/etc/kubernetes/kubeadm/kubeadm.yaml)
changed: [worker0] => (item=/usr/local/sbin/hagen-repoint-kubelet)
changed: [worker0] => (item=/etc/kubernetes/kubeadm/kubeadm.yaml)

RUNNING HANDLER [Restart etcd] *************************************************
changed: [master0]

PLAY [Step 10: repoint-workers] ************************************************

TASK [Run hagen-repoint-kubelet] ***********************************************
ok: [worker0]

PLAY RECAP *********************************************************************
localhost                  : ok=3    changed=0    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
master0                    : ok=20   changed=1    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
worker0                    : ok=9    changed=1    unreachable=1    failed=2    skipped=0    rescued=0    ignored=0
`

func TestParse(t *testing.T) {
	recap, changes := Parse(secondRun)
	want := map[string]Recap{
		"localhost": {OK: 3, Skipped: 2},
		"master0":   {OK: 20, Changed: 1, Skipped: 1},
		"worker0":   {OK: 9, Changed: 1, Unreachable: 1, Failed: 2},
	}
	if d := cmp.Diff(want, recap); d != "" {
		t.Errorf("recap (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"Copy the other files on worker0", "Restart etcd on master0"}, changes); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	p := &Play{Recap: recap, Changes: changes}
	if err := p.Converged(); err == nil || !strings.Contains(err.Error(), "master0 changed=1, worker0 changed=1; changed: Copy the other files on worker0; Restart etcd on master0") {
		t.Errorf("Converged = %v", err)
	}
	if err := p.Check([]string{"master0", "master1", "worker0"}); err == nil || !strings.Contains(err.Error(), "master1 is not in the PLAY RECAP; worker0 unreachable") {
		t.Errorf("Check = %v", err)
	}
	if got := p.Totals(); got.Changed != 2 || got.OK != 32 {
		t.Errorf("Totals = %+v", got)
	}
	first := &Play{Recap: map[string]Recap{"master0": {OK: 20, Changed: 12}}}
	if err := first.Check([]string{"master0"}); err != nil {
		t.Errorf("Check of a successful play = %v", err)
	}
	if err := (&Play{Code: 2, Recap: first.Recap}).Check([]string{"master0"}); err == nil {
		t.Error("Check passed a play that exited 2")
	}
}
