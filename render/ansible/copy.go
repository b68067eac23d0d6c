package ansible

import (
	"fmt"
	"strings"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/render/etcd"
	"github.com/hagen/hagen/render/kubeletetcd"
)

// fileGroup is the files of one service: when one of them changes on a
// host where the service runs, its handler restarts or reloads it.
type fileGroup struct {
	what    string // "the etcd files"
	pattern string // a regular expression on the target path
	handler omap
}

// running is a handler's condition: the unit runs on the host (as
// service_facts found it before the copy). A service the run has not
// started yet starts in its step, with the new files.
// Files laid under hagen_root are not the host's: nothing restarts.
// A list, which Ansible ands, keeps each line short.
func running(unit string) []string {
	f := "ansible_facts.services['" + unit + ".service']"
	return []string{"hagen_root is not defined", f + " is defined", f + ".state == 'running'"}
}

// fileGroups are the groups the plan's hosts have files of.
func fileGroups(p *model.Plan) []fileGroup {
	var gs []fileGroup
	if p.Etcd.Run == model.RunSystemd && len(p.Etcd.Members) > 0 {
		// One member at a time (throttle): the others keep the quorum,
		// and etcd's systemd unit returns once the member is ready.
		gs = append(gs, fileGroup{what: "the etcd files",
			pattern: "^(" + regexpQuote(etcd.EnvFilePath) + "|" + regexpQuote(etcd.UnitPath) + "|" + regexpQuote(etcd.PKIDir()) + "/)",
			handler: omap{}.set("name", "Restart etcd").
				set("ansible.builtin.systemd_service", omap{}.set("name", "etcd").set("state", "restarted").set("daemon_reload", true)).
				set("throttle", 1).
				set("when", running("etcd"))})
	}
	if p.Etcd.Run == model.RunStaticPod && len(p.Etcd.Members) > 0 {
		gs = append(gs, fileGroup{what: "the standalone kubelet's files",
			pattern: "^" + regexpQuote(dirOf(kubeletetcd.Config)) + "/",
			handler: omap{}.set("name", "Restart the kubelet").
				set("ansible.builtin.systemd_service", omap{}.set("name", "kubelet").set("state", "restarted").set("daemon_reload", true)).
				set("when", running("kubelet"))})
	}
	if k := p.ControlPlane.Keepalived; k != nil {
		gs = append(gs, fileGroup{what: "keepalived's files", pattern: "^/etc/keepalived/",
			handler: omap{}.set("name", "Reload keepalived").
				set("ansible.builtin.systemd_service", omap{}.set("name", "keepalived").set("state", "reloaded")).
				set("when", running("keepalived"))})
		if k.HAProxy != nil {
			gs = append(gs, fileGroup{what: "HAProxy's files", pattern: "^/etc/haproxy/",
				handler: omap{}.set("name", "Reload haproxy").
					set("ansible.builtin.systemd_service", omap{}.set("name", "haproxy").set("state", "reloaded")).
					set("when", running("haproxy"))})
		}
	}
	return gs
}

// copyTasks lay hosts/<host>/ onto the host with the manifest's modes and
// owners, the files of each service in a task of their own that notifies
// its handler. The file list comes from MANIFEST.json (play variable
// hagen_files), so the playbook stays small for large clusters.
func copyTasks(p *model.Plan) []omap {
	root := "{{ hagen_root | default('') }}"
	copyTask := func(name, files string) omap {
		return omap{}.set("name", name).
			set("ansible.builtin.copy", omap{}.
				set("src", "{{ playbook_dir }}/../hosts/{{ inventory_hostname }}{{ item.path }}").
				set("dest", root+"{{ item.path }}").
				set("mode", "{{ item.mode }}").
				set("owner", "{{ item.owner }}").
				set("group", "root")).
			set("loop", "{{ "+files+" }}").
			set("loop_control", omap{}.set("label", "{{ item.path }}"))
	}
	tasks := []omap{
		omap{}.set("name", "Read which services run").
			set("ansible.builtin.service_facts", omap{}),
		omap{}.set("name", "Create the directories").
			set("ansible.builtin.file", omap{}.set("path", root+"{{ item }}").set("state", "directory").
				set("owner", "root").set("group", "root").set("mode", "0755")).
			set("loop", "{{ hagen_files | map(attribute='path') | map('dirname') | unique | list }}"),
	}
	groups := fileGroups(p)
	for i, g := range groups {
		tasks = append(tasks, copyTask("Copy "+g.what, fmt.Sprintf("hagen_files | selectattr('path', 'match', hagen_service_paths[%d]) | list", i)).
			set("notify", g.handler[0].v))
	}
	rest := "hagen_files"
	if len(groups) > 0 {
		rest = "hagen_files | rejectattr('path', 'match', hagen_service_paths | join('|')) | list"
	}
	return append(tasks, copyTask("Copy the other files", rest))
}

// servicePaths are the groups' path patterns, the copy play's
// hagen_service_paths.
func servicePaths(p *model.Plan) []string {
	var out []string
	for _, g := range fileGroups(p) {
		out = append(out, g.pattern)
	}
	return out
}

// handlers restart or reload a running service whose files changed.
func handlers(p *model.Plan) []omap {
	var out []omap
	for _, g := range fileGroups(p) {
		out = append(out, g.handler)
	}
	if out == nil {
		return []omap{}
	}
	return out
}

// regexpQuote escapes the dots of a path for a regular expression.
func regexpQuote(s string) string { return strings.ReplaceAll(s, ".", "\\.") }

func dirOf(p string) string { return p[:strings.LastIndexByte(p, '/')] }
