package ansible

import (
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
		byName[pl.Name] = pl
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
				if prompt, _ := m["prompt"].(string); !strings.Contains(prompt, s.Note) || !strings.Contains(prompt, "Type "+confirmWord) {
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

// TestOnceOnlyTasksCreate: the playbook skips a step's commands where the
// step's file exists (shell's creates:), as the RUNBOOK says to.
func TestOnceOnlyTasksCreate(t *testing.T) {
	p := testplan.Compile(t, testplan.ExternalEtcd)
	out, err := playbook(p, runbook.Steps(p))
	if err != nil {
		t.Fatal(err)
	}
	play := string(out)
	for _, want := range []string{
		"cmd: kubeadm init --config /etc/kubernetes/kubeadm/kubeadm.yaml\n        creates: /etc/kubernetes/admin.conf",
		"cmd: kubeadm join --config /etc/kubernetes/kubeadm/kubeadm.yaml\n        creates: /etc/kubernetes/kubelet.conf",
	} {
		if !strings.Contains(play, want) {
			t.Errorf("site.yml lacks\n%s\nin:\n%s", want, play)
		}
	}
}
