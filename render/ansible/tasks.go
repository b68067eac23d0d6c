package ansible

import (
	"fmt"
	"strings"

	"github.com/hagen/hagen/render/bundle"
)

// Variables the plays register.
const (
	doneVar  = "hagen_step_done"  // the stat of a once-only step's file
	checkVar = "hagen_step_check" // a step's health check
	outVar   = "hagen_step_out"   // a script's output, for changed_when
)

// changedWhen reports a script's task changed when the script said so: a
// line starting with bundle.ChangedMarker. Nothing else it prints counts.
var changedWhen = outVar + ".stdout_lines | select('match', '" + bundle.ChangedMarker + "') | list | length > 0"

// stepTasks translates a step's commands into Ansible tasks: systemctl
// into systemd_service, mkdir/ln/rm into file, and the rest into command
// (or shell, where the command needs one) with changed_when where the
// command says whether it changed anything. A step with a creates file is
// skipped where the file exists, as the RUNBOOK says; its check is polled
// with bounded retries.
func stepTasks(s bundle.Step) ([]omap, error) {
	var tasks []omap
	guard := ""
	if s.Creates != "" {
		tasks = append(tasks, omap{}.
			set("name", "See whether "+s.Name+" is done ("+s.Creates+" exists)").
			set("ansible.builtin.stat", omap{}.set("path", s.Creates)).
			set("register", doneVar))
		guard = "not " + doneVar + ".stat.exists"
	}
	// systemctl enable X followed by start/restart X is one task.
	enable := &pending{}
	for _, c := range s.Commands {
		ts, err := commandTasks(c, enable)
		if err != nil {
			return nil, fmt.Errorf("step %s: %q: %w", s.Name, c, err)
		}
		tasks = append(tasks, ts...)
	}
	for _, unit := range enable.units {
		// An enable with no start after it.
		tasks = append(tasks, omap{}.
			set("name", "Enable "+unit).
			set("ansible.builtin.systemd_service", omap{}.set("name", unit).set("enabled", true)))
	}
	if guard != "" {
		// command says creates: itself (and reports what it did); the
		// modules are skipped where the file exists.
		stat := false
		for i, t := range tasks[1:] {
			if args, ok := t.get("ansible.builtin.command").(omap); ok {
				tasks[i+1] = t.replace("ansible.builtin.command", args.set("creates", s.Creates))
				continue
			}
			tasks[i+1] = t.set("when", guard)
			stat = true
		}
		if !stat {
			tasks = tasks[1:]
		}
	}
	if s.Check != "" {
		mod, args, env := commandModule(s.Check)
		t := omap{}.set("name", "Check "+s.Name).set(mod, args)
		if env != nil {
			t = t.set("environment", env)
		}
		tasks = append(tasks, t.
			set("register", checkVar).
			set("until", checkVar+".rc == 0").
			set("retries", 30).
			set("delay", 10).
			set("changed_when", false).
			// In check mode nothing was started: there is nothing to
			// check yet.
			set("when", "not ansible_check_mode"))
	}
	return tasks, nil
}

// pending are the units an earlier command of a step enabled and none
// has started yet, in order.
type pending struct{ units []string }

func (p *pending) add(u string) {
	if !p.has(u) {
		p.units = append(p.units, u)
	}
}

func (p *pending) has(u string) bool {
	for _, x := range p.units {
		if x == u {
			return true
		}
	}
	return false
}

func (p *pending) take(u string) bool {
	for i, x := range p.units {
		if x == u {
			p.units = append(p.units[:i], p.units[i+1:]...)
			return true
		}
	}
	return false
}

// commandTasks translates one command.
func commandTasks(c string, enable *pending) ([]omap, error) {
	w := strings.Fields(c)
	if len(w) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	if needsShell(c) {
		return []omap{scriptTask(c)}, nil
	}
	switch w[0] {
	case "systemctl":
		return systemctlTasks(w[1:], enable)
	case "mkdir":
		if len(w) == 3 && w[1] == "-p" {
			return []omap{omap{}.set("name", "Create "+w[2]).
				set("ansible.builtin.file", omap{}.set("path", w[2]).set("state", "directory").set("owner", "root").set("group", "root").set("mode", "0755"))}, nil
		}
	case "ln":
		if len(w) == 4 && w[1] == "-sf" {
			return []omap{omap{}.set("name", "Link "+w[3]).
				set("ansible.builtin.file", omap{}.set("src", w[2]).set("dest", w[3]).set("state", "link").set("force", true))}, nil
		}
	case "rm":
		if len(w) >= 3 && w[1] == "-f" {
			var out []omap
			for _, p := range w[2:] {
				out = append(out, omap{}.set("name", "Remove "+p).
					set("ansible.builtin.file", omap{}.set("path", p).set("state", "absent")))
			}
			return out, nil
		}
	case "kubeadm":
		t := omap{}.set("name", "Run kubeadm "+w[1]).set("ansible.builtin.command", omap{}.set("argv", w))
		switch {
		case len(w) >= 4 && w[1] == "init" && w[2] == "phase" && w[3] == "upload-config":
			// It writes the configuration it is given: the same one
			// again changes nothing.
			t = t.set("changed_when", false)
		case len(w) >= 2 && w[1] == "reset":
			// Only where there is something to reset.
			t = t.replace("ansible.builtin.command", omap{}.set("argv", w).set("removes", "/etc/kubernetes/kubelet.conf"))
		}
		return []omap{t}, nil
	}
	if strings.HasPrefix(w[0], "/") {
		// hagen's scripts say what they changed.
		return []omap{omap{}.set("name", "Run "+w[0][strings.LastIndexByte(w[0], '/')+1:]).
			set("ansible.builtin.command", omap{}.set("argv", w)).
			set("register", outVar).
			set("changed_when", changedWhen)}, nil
	}
	return nil, fmt.Errorf("hagen does not know how to say this in Ansible")
}

// systemctlTasks translates a systemctl command.
func systemctlTasks(args []string, enable *pending) ([]omap, error) {
	var flags, units []string
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "--") {
			flags = append(flags, a)
		} else {
			units = append(units, a)
		}
	}
	svc := func(name, unit string, kv ...any) omap {
		m := omap{}.set("name", unit)
		for i := 0; i+1 < len(kv); i += 2 {
			m = m.set(kv[i].(string), kv[i+1])
		}
		return omap{}.set("name", name).set("ansible.builtin.systemd_service", m)
	}
	var out []omap
	switch args[0] {
	case "daemon-reload":
		return []omap{omap{}.set("name", "Reload systemd's units").
			set("ansible.builtin.systemd_service", omap{}.set("daemon_reload", true))}, nil
	case "enable":
		if len(flags) > 0 {
			return nil, fmt.Errorf("systemctl enable %v", flags)
		}
		for _, u := range units {
			enable.add(u)
		}
		return nil, nil
	case "start", "restart", "reload-or-restart", "stop":
		// reload-or-restart starts a unit that does not run; one that
		// runs is reloaded when its files change (the handlers).
		state := map[string]string{"start": "started", "restart": "restarted", "reload-or-restart": "started", "stop": "stopped"}[args[0]]
		for _, u := range units {
			kv := []any{"state", state}
			verb := map[string]string{"started": "Start ", "restarted": "Restart ", "stopped": "Stop "}[state]
			if enable.take(u) {
				kv = []any{"enabled", true, "state", state}
				verb = "Enable and " + strings.ToLower(verb[:1]) + verb[1:]
			}
			out = append(out, svc(verb+u, u, kv...))
		}
		return out, nil
	case "disable":
		now := len(flags) == 1 && flags[0] == "--now"
		if len(flags) > 0 && !now {
			return nil, fmt.Errorf("systemctl disable %v", flags)
		}
		for _, u := range units {
			if now {
				out = append(out, svc("Disable and stop "+u, u, "enabled", false, "state", "stopped"))
			} else {
				out = append(out, svc("Disable "+u, u, "enabled", false))
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("systemctl %s", args[0])
}

// needsShell reports whether a command uses the shell's syntax.
func needsShell(c string) bool {
	return strings.ContainsAny(c, "$|;&<>`'\"*?") || strings.HasPrefix(c, "if ") || strings.HasPrefix(c, "for ")
}

// commandModule is command with argv for a plain command, shell for one
// that needs it; variables set in front of a plain command go into the
// task's environment.
func commandModule(c string) (string, any, omap) {
	if needsShell(c) {
		return "ansible.builtin.shell", omap{}.set("cmd", block(wrapShell(c))), nil
	}
	w := strings.Fields(c)
	var env omap
	for len(w) > 1 && strings.Contains(w[0], "=") {
		k, v, _ := strings.Cut(w[0], "=")
		env = env.set(k, v)
		w = w[1:]
	}
	return "ansible.builtin.command", omap{}.set("argv", w), env
}

// scriptTask runs a shell command that says what it changed.
func scriptTask(c string) omap {
	mod, args, _ := commandModule(c)
	return omap{}.set("name", "Run a shell command").set(mod, args).
		set("register", outVar).
		set("changed_when", changedWhen)
}
