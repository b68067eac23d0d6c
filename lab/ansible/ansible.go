// Package ansible runs a bundle's playbook the way an operator does: from
// a workstation, over SSH, with ansible-playbook, and reads what it says
// (its PLAY RECAP, and which tasks changed what).
package ansible

import (
	"bufio"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/machine"
)

// Env is the controller's configuration, as environment variables (the
// bundle ships no ansible.cfg): root on every host with the operator's
// key, host keys checked against known_hosts, Debian's Python 3 at the
// lowest priority (machine.PlayPython), pipelining (one SSH round trip per task), one multiplexed SSH
// connection per host without compression (a LAN), files sent through
// that connection rather than a separate sftp.
var Env = []string{
	"HOME=/root",
	"ANSIBLE_REMOTE_USER=root",
	"ANSIBLE_HOST_KEY_CHECKING=True",
	"ANSIBLE_PYTHON_INTERPRETER=" + machine.PlayPython,
	"ANSIBLE_PIPELINING=True",
	"ANSIBLE_SSH_ARGS=-o ControlMaster=auto -o ControlPersist=300s",
	"ANSIBLE_SSH_TRANSFER_METHOD=piped",
	"ANSIBLE_FORKS=10",
	"ANSIBLE_NOCOLOR=1",
	"ANSIBLE_RETRY_FILES_ENABLED=False",
	"ANSIBLE_DEPRECATION_WARNINGS=False",
}

// Play is one ansible-playbook run.
type Play struct {
	Command string
	Code    int
	Output  string
	Took    time.Duration
	// Recap is the PLAY RECAP, by host.
	Recap map[string]Recap
	// Changes are the tasks that reported changed, "TASK on HOST".
	Changes []string
}

// Recap is one host's line of the PLAY RECAP.
type Recap struct {
	OK, Changed, Unreachable, Failed, Skipped, Rescued, Ignored int
}

// Run runs the bundle's ansible/site.yml against its inventory from the
// operator's workstation, with the extra arguments (--check --diff).
func Run(op *agent.Client, bundleDir string, timeout time.Duration, extra ...string) (*Play, error) {
	dir := filepath.Join(bundleDir, "ansible")
	// At a lower priority than the cluster, whose session it shares on
	// the operator's workstation (see machine.PlayPython).
	argv := append([]string{"/usr/bin/nice", "-n", "10", "/usr/bin/ansible-playbook", "-i", filepath.Join(dir, "inventory.yml"), filepath.Join(dir, "site.yml"), "-e", "hagen_operator_confirmed=true"}, extra...)
	start := time.Now()
	r, err := op.Exec(agent.ExecArgs{Argv: argv, Env: Env, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	p := &Play{Command: strings.Join(argv[3:], " "), Code: r.Code, Output: string(r.Stdout) + string(r.Stderr), Took: time.Since(start)}
	p.Recap, p.Changes = Parse(string(r.Stdout))
	return p, nil
}

var (
	header    = regexp.MustCompile(`^(TASK|RUNNING HANDLER) \[(.*)\] \**$`)
	changed   = regexp.MustCompile(`^changed: \[([^\]]+)\]`)
	recapLine = regexp.MustCompile(`^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$`)
)

// Parse reads the default callback's output: the recap, and each task
// (or handler) that reported a change on a host, once per host.
func Parse(out string) (map[string]Recap, []string) {
	recap := map[string]Recap{}
	var changes []string
	seen := map[string]bool{}
	task, inRecap := "", false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		if strings.HasPrefix(line, "PLAY RECAP ") {
			inRecap = true
			continue
		}
		if inRecap {
			if m := recapLine.FindStringSubmatch(line); m != nil {
				recap[m[1]] = parseCounts(m[2])
			}
			continue
		}
		if m := header.FindStringSubmatch(line); m != nil {
			task = m[2]
			continue
		}
		if m := changed.FindStringSubmatch(line); m != nil {
			c := task + " on " + m[1]
			if !seen[c] {
				seen[c] = true
				changes = append(changes, c)
			}
		}
	}
	return recap, changes
}

// fields are the recap's counters by the names ansible-playbook prints.
func (r *Recap) fields() map[string]*int {
	return map[string]*int{
		"ok": &r.OK, "changed": &r.Changed, "unreachable": &r.Unreachable, "failed": &r.Failed,
		"skipped": &r.Skipped, "rescued": &r.Rescued, "ignored": &r.Ignored,
	}
}

func parseCounts(s string) Recap {
	var r Recap
	fields := r.fields()
	for _, kv := range strings.Fields(s) {
		k, v, _ := strings.Cut(kv, "=")
		if f, ok := fields[k]; ok {
			*f, _ = strconv.Atoi(v)
		}
	}
	return r
}

// Totals adds up the recap.
func (p *Play) Totals() Recap {
	var t Recap
	sum := t.fields()
	for _, r := range p.Recap {
		for k, n := range r.fields() {
			*sum[k] += *n
		}
	}
	return t
}

// Check is nil when the play succeeded on every host it should have
// reached: exit status 0, a recap line for each, none unreachable or
// failed.
func (p *Play) Check(hosts []string) error {
	var bad []string
	for _, h := range hosts {
		r, ok := p.Recap[h]
		switch {
		case !ok:
			bad = append(bad, h+" is not in the PLAY RECAP")
		case r.Unreachable > 0:
			bad = append(bad, fmt.Sprintf("%s unreachable", h))
		case r.Failed > 0:
			bad = append(bad, fmt.Sprintf("%s failed=%d", h, r.Failed))
		}
	}
	if p.Code != 0 || len(bad) > 0 {
		return fmt.Errorf("`%s` exited %d (%s):\n%s", p.Command, p.Code, strings.Join(orNone(bad), "; "), tail(p.Output, 40))
	}
	return nil
}

// Converged is nil when no host reports a change, else names the tasks
// that did.
func (p *Play) Converged() error {
	var hosts []string
	for _, h := range slices.Sorted(maps.Keys(p.Recap)) {
		if n := p.Recap[h].Changed; n > 0 {
			hosts = append(hosts, fmt.Sprintf("%s changed=%d", h, n))
		}
	}
	if len(hosts) == 0 {
		return nil
	}
	return fmt.Errorf("the play did not converge: %s; changed: %s", strings.Join(hosts, ", "), strings.Join(p.Changes, "; "))
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"no host at fault in the recap"}
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
