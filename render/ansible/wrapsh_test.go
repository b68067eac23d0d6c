package ansible

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWrapShellRuns: sh runs the wrapped command as the one it wraps.
func TestWrapShellRuns(t *testing.T) {
	long := "printf '%s|' $(echo a) --endpoints=" + strings.Repeat("https://10.0.0.10:2379,", 8) + "https://10.0.0.11:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt endpoint health 'a b' " + strings.Repeat("word ", 30)
	a, _ := exec.Command("sh", "-c", long).Output()
	b, _ := exec.Command("sh", "-c", wrapShell(long)).Output()
	if string(a) != string(b) || len(a) == 0 {
		t.Errorf("%q\n%q\n%s", a, b, wrapShell(long))
	}
}
