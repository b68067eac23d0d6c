package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hagen/hagen/lab/standin/unit"
)

// testManager is a manager stand-in with units in three states, their
// definitions already loaded (so nothing is read from disk for them).
func testManager() *systemd {
	s := &systemd{units: map[string]*service{}}
	add := func(name, state, sub, result string, pid int) {
		s.units[name] = &service{name: name, state: state, sub: sub, result: result, mainPID: pid,
			def: &unit.Unit{Name: name, Path: "/etc/systemd/system/" + name, Description: "the " + name, Type: "notify", Restart: "always"}}
	}
	add("etcd.service", "active", "running", "success", 4242)
	add("keepalived.service", "failed", "failed", "exit-code", 0)
	add("kubelet.service", "inactive", "dead", "success", 0)
	return s
}

func systemctl(t *testing.T, s *systemd, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := s.dispatch(args, &out, &errb); code != 0 {
		t.Fatalf("systemctl %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func TestShow(t *testing.T) {
	s := testManager()
	got := systemctl(t, s, "show", "etcd")
	for _, want := range []string{"Id=etcd.service\n", "LoadState=loaded\n", "ActiveState=active\n", "SubState=running\n", "MainPID=4242\n", "FragmentPath=/etc/systemd/system/etcd.service\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("show etcd lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "DropInPaths=") {
		t.Errorf("show printed an empty property without --all:\n%s", got)
	}
	if got := systemctl(t, s, "show", "keepalived.service", "--property=ActiveState"); got != "ActiveState=failed\n" {
		t.Errorf("show --property=ActiveState = %q", got)
	}
	if got := systemctl(t, s, "show", "-p", "SubState,MainPID", "--value", "etcd"); got != "4242\nrunning\n" {
		t.Errorf("show -p SubState,MainPID --value = %q", got)
	}
	if got := systemctl(t, s, "show", "--property", "LoadState", "hagen-lab-no-such-unit"); got != "LoadState=not-found\n" {
		t.Errorf("show of a missing unit = %q", got)
	}
}

func TestListUnits(t *testing.T) {
	s := testManager()
	got := systemctl(t, s, "list-units", "--no-pager", "--type", "service")
	if strings.Contains(got, "kubelet") || !strings.Contains(got, "etcd.service") || !strings.Contains(got, "● keepalived.service") {
		t.Errorf("list-units without --all: want the active and failed units, the failed one marked:\n%s", got)
	}
	if got := systemctl(t, s, "list-units", "--all", "--type=socket", "--no-legend"); got != "" {
		t.Errorf("list-units --type=socket = %q, want nothing", got)
	}
	if got := systemctl(t, s, "list-units", "--all", "--no-legend", "kube*"); !strings.HasPrefix(got, "  kubelet.service loaded inactive dead") || strings.Count(got, "\n") != 1 {
		t.Errorf("list-units --all kube* = %q", got)
	}
}

// Ansible's own parsers read what the stand-in prints: service_facts
// (list-units, list-unit-files, show --property=ActiveState) and
// systemd_service (show), from the ansible-core tools/apt.sh installs.
func TestAnsibleReadsSystemctl(t *testing.T) {
	if err := exec.Command("python3", "-c", "import ansible.modules.service_facts, ansible.modules.systemd_service").Run(); err != nil {
		t.Skip("ansible-core is not installed (tools/apt.sh installs it)")
	}
	s := testManager()
	outs := map[string]string{
		"systemctl list-units --no-pager --type service --all":      systemctl(t, s, "list-units", "--no-pager", "--type", "service", "--all"),
		"systemctl list-unit-files --no-pager --type service --all": systemctl(t, s, "list-unit-files", "--no-pager", "--type", "service", "--all"),
		"show etcd.service": systemctl(t, s, "show", "etcd.service"),
	}
	// service_facts asks each unit file's ActiveState that list-units
	// did not list.
	for _, line := range strings.Split(outs["systemctl list-unit-files --no-pager --type service --all"], "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasSuffix(f[0], ".service") {
			outs["systemctl show "+f[0]+" --property=ActiveState"] = systemctl(t, s, "show", f[0], "--property=ActiveState")
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "outs.json")
	b, _ := json.Marshal(outs)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	const script = `
import json, sys
from ansible.modules import service_facts
from ansible.modules.systemd_service import parse_systemctl_show
outs = json.load(open(sys.argv[1]))
class Module:
    def run_command(self, cmd, use_unsafe_shell=False):
        return (0, outs[cmd], '')
    def warn(self, msg):
        sys.exit('warn: ' + msg)
    def fail_json(self, msg):
        sys.exit('fail: ' + msg)
scan = service_facts.SystemctlScanService.__new__(service_facts.SystemctlScanService)
scan.module = Module()
services = {}
scan._list_from_units('systemctl', services)
scan._list_from_unit_files('systemctl', services)
show = parse_systemctl_show(outs['show etcd.service'].split('\n'))
print(json.dumps({'services': services, 'show': show}))
`
	out, err := exec.Command("python3", "-c", script, in).CombinedOutput()
	if err != nil {
		t.Fatalf("ansible's parsers: %v\n%s", err, out)
	}
	var res struct {
		Services map[string]map[string]string
		Show     map[string]string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for name, want := range map[string][2]string{
		"etcd.service":       {"running", "active"},
		"keepalived.service": {"stopped", "failed"},
		"kubelet.service":    {"stopped", "inactive"},
	} {
		got := res.Services[name]
		if got["state"] != want[0] || got["status"] != want[1] {
			t.Errorf("service_facts' %s = %v, want state %s, status %s", name, got, want[0], want[1])
		}
	}
	if res.Show["ActiveState"] != "active" || res.Show["LoadState"] != "loaded" || res.Show["Id"] != "etcd.service" {
		t.Errorf("systemd_service's parse of show etcd = %v", res.Show)
	}
}
