package ansible

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/runbook"
)

// cloud has every operator action: the load balancer (before init and
// after the joins), the CNI and the kube-proxy re-point.
const cloud = `name: "cloud"
kubernetes: version: "1.35.0"
network: podSubnet: "192.168.0.0/16"
controlPlane: loadBalancer: external: endpoint: "k8s-api.cloud.example.com:6443"
hosts: {
	"cp-a": {address: "172.31.0.10", roles: ["control-plane"]}
	"cp-b": {address: "172.31.16.10", roles: ["control-plane"]}
	"cp-c": {address: "172.31.32.10", roles: ["control-plane"]}
	"node-a": {address: "172.31.0.100", roles: ["worker"]}
}
`

type parsedPlay struct {
	Name  string           `yaml:"name"`
	Hosts string           `yaml:"hosts"`
	Tasks []map[string]any `yaml:"tasks"`
}

// TestOperatorActionsWait: a step the operator must carry out (no hosts or
// no commands) makes the play wait: a pause whose prompt is the step's
// note, an assertion that the operator typed the word (ansible's pause
// does not wait without a terminal), both skipped only with
// -e hagen_operator_confirmed=true, which the header documents. Printing
// the note and going on, as the playbook once did, fails here.
func TestOperatorActionsWait(t *testing.T) {
	p := testplan.Compile(t, cloud)
	steps := runbook.Steps(p)
	play, err := playbook(p, steps)
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := strings.Cut(string(play), "---\n")
	if !strings.Contains(header, "-e "+ConfirmedVar+"=true") {
		t.Errorf("the header does not document -e %s=true:\n%s", ConfirmedVar, header)
	}
	var plays []parsedPlay
	if err := yaml.Unmarshal(play, &plays); err != nil {
		t.Fatal(err)
	}
	byName := map[string]parsedPlay{}
	for _, pl := range plays {
		_, step, _ := strings.Cut(pl.Name, ": ")
		byName[step] = pl
	}
	var operator []bundle.Step
	for _, s := range steps {
		if s.Name != runbook.StepCopy && (len(s.Hosts) == 0 || len(s.Commands) == 0 && s.Check == "") {
			operator = append(operator, s)
		}
	}
	if len(operator) != 4 {
		t.Fatalf("%d operator actions, want 4 (load balancer, CNI, add masters, kube-proxy)", len(operator))
	}
	skip := "not (" + ConfirmedVar + " | default(false) | bool)"
	for _, s := range operator {
		pl, ok := byName[s.Name]
		if !ok {
			t.Errorf("no play for %s", s.Name)
			continue
		}
		var pause, assert map[string]any
		for _, task := range pl.Tasks {
			if m, ok := task["ansible.builtin.pause"].(map[string]any); ok {
				pause = task
				if prompt, _ := m["prompt"].(string); !strings.Contains(oneLine(prompt), s.Note) || !strings.Contains(oneLine(prompt), "Type "+confirmWord) {
					t.Errorf("%s: prompt %q does not state the action and the word to type", s.Name, prompt)
				}
			}
			if m, ok := task["ansible.builtin.assert"].(map[string]any); ok {
				assert = task
				if that, _ := m["that"].(string); !strings.Contains(that, registered(pause)+".user_input") || !strings.Contains(that, "'"+confirmWord+"'") {
					t.Errorf("%s: assertion %q does not check what the operator typed", s.Name, that)
				}
			}
			if _, ok := task["ansible.builtin.debug"]; ok && task["when"] != ConfirmedVar+" | default(false) | bool" {
				t.Errorf("%s: prints its note without waiting (when: %v)", s.Name, task["when"])
			}
		}
		if pause == nil || assert == nil {
			t.Errorf("%s: pause %v, assertion %v: the play does not wait for the operator", s.Name, pause != nil, assert != nil)
			continue
		}
		if pause["when"] != skip || assert["when"] != skip {
			t.Errorf("%s: pause when %v, assertion when %v; want %q", s.Name, pause["when"], assert["when"], skip)
		}
	}
}

// registered is the variable a task registers its result in.
func registered(task map[string]any) string {
	r, _ := task["register"].(string)
	return r
}

// oneLine is s with its line breaks as spaces: the playbook wraps prose.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestOnceOnlyTasksCreate: the playbook skips a step's commands where the
// step's file exists (command's creates:, a stat for the modules), as the
// RUNBOOK says to.
func TestOnceOnlyTasksCreate(t *testing.T) {
	p := testplan.Compile(t, testplan.ExternalEtcd)
	out, err := playbook(p, runbook.Steps(p))
	if err != nil {
		t.Fatal(err)
	}
	play := string(out)
	for _, want := range []string{
		"          - kubeadm\n          - init\n          - --config\n          - /etc/kubernetes/kubeadm/kubeadm.yaml\n        creates: /etc/kubernetes/admin.conf",
		"          - kubeadm\n          - join\n          - --config\n          - /etc/kubernetes/kubeadm/kubeadm.yaml\n        creates: /etc/kubernetes/kubelet.conf",
	} {
		if !strings.Contains(play, want) {
			t.Errorf("site.yml lacks\n%s\nin:\n%s", want, play)
		}
	}
}

// TestCommandTasks: each form of command a step has becomes the module an
// Ansible user would write, and what cannot be said as a module reports a
// change only when it says it made one.
func TestCommandTasks(t *testing.T) {
	for _, tc := range []struct {
		cmds []string
		want string // the tasks as YAML, in part
	}{
		{[]string{"systemctl daemon-reload"}, "ansible.builtin.systemd_service:\n    daemon_reload: true"},
		{[]string{"systemctl enable etcd", "systemctl start --no-block etcd"},
			"name: Enable and start etcd\n  ansible.builtin.systemd_service:\n    name: etcd\n    enabled: true\n    state: started"},
		{[]string{"systemctl enable haproxy", "systemctl reload-or-restart haproxy"}, "name: haproxy\n    enabled: true\n    state: started"},
		{[]string{"systemctl enable kubelet"}, "name: Enable kubelet\n  ansible.builtin.systemd_service:\n    name: kubelet\n    enabled: true"},
		{[]string{"systemctl disable --now keepalived haproxy"}, "name: haproxy\n    enabled: false\n    state: stopped"},
		{[]string{"systemctl stop kubelet"}, "name: kubelet\n    state: stopped"},
		{[]string{"mkdir -p /etc/x"}, "ansible.builtin.file:\n    path: /etc/x\n    state: directory"},
		{[]string{"ln -sf /a /b"}, "src: /a\n    dest: /b\n    state: link\n    force: true"},
		{[]string{"rm -f /a /b"}, "path: /b\n    state: absent"},
		{[]string{"kubeadm reset -f"}, "argv:\n      - kubeadm\n      - reset\n      - -f\n    removes: /etc/kubernetes/kubelet.conf"},
		{[]string{"kubeadm init phase upload-config kubeadm --config /c"}, "changed_when: false"},
		{[]string{"/usr/local/sbin/hagen-x add m1"}, "argv:\n      - /usr/local/sbin/hagen-x\n      - add\n      - m1\n  register: hagen_step_out\n  changed_when: hagen_step_out.stdout_lines | select('match', 'changed:') | list | length > 0"},
		{[]string{"if true; then echo changed: x; fi"}, "ansible.builtin.shell:\n    cmd: |-\n      if true; then echo changed: x; fi\n  register: hagen_step_out\n  changed_when:"},
	} {
		tasks, err := stepTasks(bundle.Step{Name: "s", Hosts: []string{"h"}, Commands: tc.cmds})
		if err != nil {
			t.Errorf("%q: %v", tc.cmds, err)
			continue
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(tasks); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%q:\n%s\nlacks\n%s", tc.cmds, out, tc.want)
		}
	}
	for _, bad := range []string{"systemctl mask etcd", "curl http://x", "systemctl enable --now etcd"} {
		if _, err := stepTasks(bundle.Step{Name: "s", Commands: []string{bad}}); err == nil {
			t.Errorf("%q: translated, want an error (a command hagen cannot say in Ansible)", bad)
		}
	}
}

// TestLongShellCommands stay one shell line, wrapped for the linters.
func TestLongShellCommands(t *testing.T) {
	long := "crictl exec $(crictl ps -q --name etcd) etcdctl --endpoints=" + strings.Repeat("https://10.0.0.10:2379,", 8) + "https://10.0.0.11:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt endpoint health 'a b'"
	got := wrapShell(long)
	for _, l := range strings.Split(got, "\n") {
		if len(l) > maxLine+2 {
			t.Errorf("line of %d characters: %q", len(l), l)
		}
	}
	// sh removes backslash-newline; the indent after it separates words.
	if strings.ReplaceAll(strings.ReplaceAll(got, " \\\n  ", " "), "\\\n", "") != long {
		t.Errorf("wrapping changed the command:\n%s", got)
	}
}

// TestLineLength: ansible-lint's production profile refuses lines over
// 160 characters (yaml[line-length]); every golden playbook keeps to it.
func TestLineLength(t *testing.T) {
	plays, err := filepath.Glob("../../golden/*/ansible/site.yml")
	if err != nil || len(plays) == 0 {
		t.Fatalf("no golden playbooks: %v", err)
	}
	for _, p := range plays {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if len(line) > 160 {
				t.Errorf("%s:%d: %d characters, ansible-lint allows 160: %s", p, i+1, len(line), line)
			}
		}
	}
}
