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

// ConfirmedVar, set true (-e hagen_operator_confirmed=true), skips the
// pauses at the operator actions.
const ConfirmedVar = "hagen_operator_confirmed"

// confirmWord is what the operator types at a pause to say the action is
// done.
const confirmWord = "done"

// playbook has a play per step, in RUNBOOK order: the files laid down with
// handlers that restart or reload a running service whose files changed,
// then each step's commands as modules (systemd_service, file, command
// with a creates guard or changed_when), health checks polled with bounded
// retries, serial plays where the RUNBOOK goes one host at a time, and a
// wait at each action only the operator can take. A second run on a live
// cluster changes nothing.
func playbook(p *model.Plan, steps []bundle.Step) ([]byte, error) {
	var plays []omap
	pattern := hostPattern(p)
	for i, s := range steps {
		name := fmt.Sprintf("Step %d: %s", i+1, s.Name)
		tags := []string{"steps", s.Name}
		if len(s.Hosts) == 0 || len(s.Commands) == 0 && s.Check == "" && s.Name != runbook.StepCopy {
			if s.Note != "" {
				plays = append(plays, omap{}.set("name", name).set("hosts", "localhost").set("gather_facts", false).
					set("tags", tags).set("tasks", operatorTasks(s)))
			}
			continue
		}
		pl := omap{}.set("name", name).set("hosts", pattern(s.Hosts)).set("become", true).set("gather_facts", false)
		if s.Serial {
			pl = pl.set("serial", 1)
		}
		if s.Optional {
			// A leaving host may be gone.
			pl = pl.set("ignore_unreachable", true)
		}
		if s.Name == runbook.StepCopy {
			pl = pl.set("tags", []string{"copy"}).
				set("vars", omap{}.
					set("hagen_files", "{{ (lookup('ansible.builtin.file', playbook_dir ~ '/../"+bundle.ManifestName+"') | from_json).hosts[inventory_hostname].files }}").
					set("hagen_service_paths", servicePaths(p))).
				set("tasks", copyTasks(p)).
				set("handlers", handlers(p))
			plays = append(plays, pl)
			continue
		}
		tasks, err := stepTasks(s)
		if err != nil {
			return nil, err
		}
		plays = append(plays, pl.set("tags", tags).set("tasks", tasks))
	}
	return marshal("Applies the bundle of cluster "+p.Name+" in RUNBOOK order:\n"+
		"#   ansible-playbook -i inventory.yml site.yml\n"+
		"# A second run changes nothing on a cluster the first one set up; --check\n"+
		"# --diff shows what a run would change. --tags copy only lays the files\n"+
		"# down; -e hagen_root=DIR lays them under DIR (an image being built, a test).\n"+
		"# At each operator action (a load balancer to configure, the CNI to install)\n"+
		"# the play pauses until you type \""+confirmWord+"\"; without a terminal it stops there.\n"+
		"# -e "+ConfirmedVar+"=true skips the pauses: pass it only when every\n"+
		"# operator action is done, or taken care of by other means, in time.", plays)
}

// operatorTasks wait for the operator to do what s says. ansible's pause
// does not wait without a terminal (it warns and goes on), so the
// operator must type a word: a run without one stops at the assertion
// instead of going on as if the action were done.
func operatorTasks(s bundle.Step) []omap {
	confirmed := ConfirmedVar + " | default(false) | bool"
	return []omap{
		omap{}.set("name", "Wait for the operator").
			set("ansible.builtin.pause", omap{}.set("prompt", block(wrapText(s.Note+"\n\nType "+confirmWord+" and press Enter when it is done (Ctrl+C, then A, aborts)")))).
			set("register", "hagen_operator").
			set("when", "not ("+confirmed+")"),
		omap{}.set("name", "Check that the operator confirmed").
			set("ansible.builtin.assert", omap{}.
				set("that", "hagen_operator.user_input | trim | lower == '"+confirmWord+"'").
				set("fail_msg", block(wrapText(s.Name+" is not confirmed. Run the playbook from a terminal and type "+confirmWord+" once it is done, or pass -e "+ConfirmedVar+"=true when every operator action is taken care of."))).
				set("quiet", true)).
			set("when", "not ("+confirmed+")"),
		omap{}.set("name", "Say what was confirmed beforehand").
			set("ansible.builtin.debug", omap{}.set("msg", block(wrapText(s.Note)))).
			set("when", confirmed),
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
