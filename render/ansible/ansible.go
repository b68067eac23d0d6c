// Package ansible renders an Ansible transport for the bundle: an inventory
// with the hosts grouped by role, and a playbook that copies each host's
// tree with the manifest's modes and owners, then runs the apply steps in
// RUNBOOK order (serial where order matters, gated on etcd's health).
package ansible

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/runbook"
)

// Paths in the bundle.
const (
	InventoryPath = "ansible/inventory.yml"
	PlaybookPath  = "ansible/site.yml"
)

// Inventory groups.
const (
	GroupControlPlane = "control_plane"
	GroupEtcd         = "etcd"
	GroupWorkers      = "workers"
	// GroupLeaving holds the hosts a change of membership drops: steps
	// still drain and reset them, if they answer.
	GroupLeaving = "leaving"
)

// Files returns the inventory and the playbook.
func Files(p *model.Plan, steps []bundle.Step) ([]bundle.File, error) {
	inv, err := inventory(p)
	if err != nil {
		return nil, err
	}
	play, err := playbook(p, steps)
	if err != nil {
		return nil, err
	}
	return []bundle.File{
		{Path: InventoryPath, Mode: bundle.ModePublic, Data: inv},
		{Path: PlaybookPath, Mode: bundle.ModePublic, Data: play},
	}, nil
}

type group struct {
	Hosts map[string]map[string]string `yaml:"hosts,omitempty"`
}

func inventory(p *model.Plan) ([]byte, error) {
	groups := map[string]group{}
	add := func(name string, h *model.Host) {
		g := groups[name]
		if g.Hosts == nil {
			g.Hosts = map[string]map[string]string{}
		}
		g.Hosts[h.Name] = map[string]string{"ansible_host": h.Address.String()}
		groups[name] = g
	}
	for _, h := range p.ControlPlane.Hosts {
		add(GroupControlPlane, h)
	}
	for _, m := range p.Etcd.Members {
		add(GroupEtcd, m.Host)
	}
	for _, h := range p.HostsWith(model.RoleWorker) {
		add(GroupWorkers, h)
	}
	for _, f := range leaving(p) {
		add(GroupLeaving, &model.Host{Name: f.Name, Address: f.Address})
	}
	doc := map[string]any{"all": map[string]any{
		"vars":     map[string]string{"hagen_cluster": p.Name},
		"children": groups,
	}}
	return marshal("Inventory of cluster "+p.Name+", by role.", doc)
}

type task map[string]any

type play struct {
	Name        string `yaml:"name"`
	Hosts       string `yaml:"hosts"`
	Become      bool   `yaml:"become,omitempty"`
	GatherFacts bool   `yaml:"gather_facts"`
	Serial      int    `yaml:"serial,omitempty"`
	// IgnoreUnreachable: a host that does not answer (one leaving the
	// cluster, maybe gone) is skipped, not a failure.
	IgnoreUnreachable bool     `yaml:"ignore_unreachable,omitempty"`
	Tags              []string `yaml:"tags"`
	Tasks             []task   `yaml:"tasks"`
}

// ConfirmedVar, set true (-e hagen_operator_confirmed=true), skips the
// pauses at the operator actions.
const ConfirmedVar = "hagen_operator_confirmed"

// confirmWord is what the operator types at a pause to say the action is
// done.
const confirmWord = "done"

// playbook copies files, then runs every step. Steps without hosts or
// commands are actions for the operator (configure a load balancer,
// install the CNI): the play waits for them.
func playbook(p *model.Plan, steps []bundle.Step) ([]byte, error) {
	var plays []play
	pattern := hostPattern(p)
	for _, s := range steps {
		if len(s.Hosts) == 0 || len(s.Commands) == 0 && s.Check == "" && s.Name != "copy-files" {
			if s.Note != "" {
				plays = append(plays, play{Name: s.Name, Hosts: "localhost", Tags: []string{"steps", s.Name}, Tasks: operatorTasks(s)})
			}
			continue
		}
		pl := play{Name: s.Name, Hosts: pattern(s.Hosts), Become: true, Tags: []string{"steps", s.Name}}
		if s.Serial {
			pl.Serial = 1
		}
		pl.IgnoreUnreachable = s.Optional
		if s.Name == "copy-files" {
			pl.Tags = []string{"copy"}
			pl.Tasks = copyTasks()
			plays = append(plays, pl)
			continue
		}
		for i, c := range s.Commands {
			var args any = c
			if s.Creates != "" {
				// Done once: skipped where the step's file exists.
				args = map[string]string{"cmd": c, "creates": s.Creates}
			}
			pl.Tasks = append(pl.Tasks, task{"name": fmt.Sprintf("%s %d", s.Name, i+1), "ansible.builtin.shell": args})
		}
		if s.Check != "" {
			pl.Tasks = append(pl.Tasks, task{
				"name":                  s.Name + " check",
				"ansible.builtin.shell": s.Check,
				"register":              "check",
				"until":                 "check.rc == 0",
				"retries":               30,
				"delay":                 10,
				"changed_when":          false,
			})
		}
		plays = append(plays, pl)
	}
	return marshal("Applies the bundle of cluster "+p.Name+" in RUNBOOK order:\n"+
		"#   ansible-playbook -i inventory.yml site.yml\n"+
		"# --tags copy only lays the files down; -e hagen_root=DIR lays them under DIR\n"+
		"# (an image being built, a test).\n"+
		"# At each operator action (a load balancer to configure, the CNI to install)\n"+
		"# the play pauses until you type \""+confirmWord+"\"; without a terminal it stops there.\n"+
		"# -e "+ConfirmedVar+"=true skips the pauses: pass it only when every\n"+
		"# operator action is done, or taken care of by other means, in time.", plays)
}

// operatorTasks wait for the operator to do what s says. ansible's pause
// does not wait without a terminal (it warns and goes on), so the
// operator must type a word: a run without one stops at the assertion
// instead of going on as if the action were done.
func operatorTasks(s bundle.Step) []task {
	confirmed := ConfirmedVar + " | default(false) | bool"
	return []task{
		{
			"name":                  "Wait for the operator",
			"ansible.builtin.pause": map[string]string{"prompt": s.Note + "\n\nType " + confirmWord + " and press Enter when it is done (Ctrl+C, then A, aborts)"},
			"register":              "hagen_operator",
			"when":                  "not (" + confirmed + ")",
		},
		{
			"name": "The operator confirmed",
			"ansible.builtin.assert": map[string]any{
				"that":     "hagen_operator.user_input | trim | lower == '" + confirmWord + "'",
				"fail_msg": s.Name + " is not confirmed. Run the playbook from a terminal and type " + confirmWord + " once it is done, or pass -e " + ConfirmedVar + "=true when every operator action is taken care of.",
				"quiet":    true,
			},
			"when": "not (" + confirmed + ")",
		},
		{
			"name":                  "Confirmed beforehand with " + ConfirmedVar,
			"ansible.builtin.debug": map[string]string{"msg": s.Note},
			"when":                  confirmed,
		},
	}
}

// hostPattern names a step's hosts by inventory group where they are a
// whole group, so a playbook for thousands of workers stays short.
func hostPattern(p *model.Plan) func([]string) string {
	key := func(hs []string) string { return strings.Join(hs, ":") }
	groups := map[string]string{}
	names := func(hs []*model.Host) []string {
		out := make([]string, len(hs))
		for i, h := range hs {
			out[i] = h.Name
		}
		return out
	}
	var members []*model.Host
	for _, m := range p.Etcd.Members {
		members = append(members, m.Host)
	}
	// Later assignments win: "all" over a group with the same hosts.
	groups[key(names(p.HostsWith(model.RoleWorker)))] = GroupWorkers
	groups[key(names(members))] = GroupEtcd
	groups[key(names(p.ControlPlane.Hosts))] = GroupControlPlane
	groups[key(names(p.Hosts))] = "all"
	if len(leaving(p)) > 0 {
		groups[key(names(p.Hosts))] = "all:!" + GroupLeaving
	}
	return func(hs []string) string {
		if g, ok := groups[key(hs)]; ok {
			return g
		}
		return key(hs)
	}
}

// copyTasks lay hosts/<host>/ onto the host with the manifest's modes and
// owners; the file list comes from MANIFEST.json so the playbook stays
// small for large clusters.
func copyTasks() []task {
	files := "{{ (lookup('ansible.builtin.file', playbook_dir ~ '/../MANIFEST.json') | from_json).hosts[inventory_hostname].files }}"
	return []task{
		{
			"name":                 "Directories",
			"ansible.builtin.file": map[string]string{"path": "{{ hagen_root | default('') }}{{ item }}", "state": "directory", "owner": "root", "group": "root", "mode": "0755"},
			"loop":                 "{{ " + strings.Trim(files, "{} ") + " | map(attribute='path') | map('dirname') | unique | list }}",
		},
		{
			"name": "Files",
			"ansible.builtin.copy": map[string]string{
				"src":   "{{ playbook_dir }}/../hosts/{{ inventory_hostname }}{{ item.path }}",
				"dest":  "{{ hagen_root | default('') }}{{ item.path }}",
				"mode":  "{{ item.mode }}",
				"owner": "{{ item.owner }}",
				"group": "root",
			},
			"loop":         files,
			"loop_control": map[string]string{"label": "{{ item.path }}"},
		},
	}
}

// leaving are the hosts the plan's change of membership drops.
func leaving(p *model.Plan) []model.Former {
	if p.Etcd.Change == nil {
		return nil
	}
	return runbook.Formers(p.Etcd.Change)
}

func marshal(comment string, doc any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Generated by hagen. " + comment + "\n---\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
