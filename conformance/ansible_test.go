package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler/model"
)

const (
	ansibleInventory = "ansible/inventory.yml"
	ansiblePlaybook  = "ansible/site.yml"
)

// checkAnsibleSyntax: ansible-playbook parses the bundle's playbook with
// its inventory.
func checkAnsibleSyntax(playbook, bundleDir string) error {
	dir := filepath.Join(bundleDir, "ansible")
	_, err := run(2*time.Minute, dir, ansibleEnv(), playbook, "--syntax-check", "-i", "inventory.yml", "site.yml")
	return err
}

func ansibleEnv() []string {
	return append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_LOCAL_TEMP="+scratch, "ANSIBLE_REMOTE_TEMP="+scratch, "ANSIBLE_HOME="+filepath.Join(scratch, "ansible-home"))
}

// checkAnsibleCopy: the playbook's copy step, run locally with each host
// laid under root/<host>, puts exactly the bundle's files there, byte for
// byte, with the bundle's modes; run again, and in check mode, it changes
// nothing. It runs on the hosts given (every copy task runs a module per
// file, a second or so each on this machine, three times).
func checkAnsibleCopy(playbook string, f *fixture, root string, hosts []*model.Host) error {
	dir := filepath.Join(f.dir, "ansible")
	var limit []string
	for _, h := range hosts {
		limit = append(limit, h.Name)
	}
	copyPlay := func(extra ...string) (string, error) {
		return run(5*time.Minute, dir, ansibleEnv(), playbook, append([]string{"-i", "inventory.yml", "site.yml",
			"--tags", "copy", "-c", "local", "--limit", strings.Join(limit, ","),
			"-e", "hagen_root=" + root + "/{{ inventory_hostname }}"}, extra...)...)
	}
	if _, err := copyPlay(); err != nil {
		return err
	}
	// It converges: run again, and in check mode with diffs, it changes
	// nothing anywhere.
	for _, extra := range [][]string{nil, {"--check", "--diff"}} {
		out, err := copyPlay(extra...)
		if err != nil {
			return fmt.Errorf("copy play run again %v: %w", extra, err)
		}
		if err := unchanged(out, len(hosts)); err != nil {
			return fmt.Errorf("copy play run again %v: %w\n%s", extra, err, indent(out))
		}
	}
	var e errs
	for _, h := range hosts {
		got, err := snapshot(filepath.Join(root, h.Name))
		if err != nil {
			e.add(fmt.Errorf("%s: %v", h.Name, err))
			continue
		}
		want := f.bundle.HostFiles(h.Name)
		if len(got) != len(want) {
			e.add(fmt.Errorf("%s: ansible laid %d files, the bundle has %d", h.Name, len(got), len(want)))
		}
		for _, file := range want {
			rel := filepath.FromSlash(strings.TrimPrefix(file.Path, "/"))
			data, ok := got[rel]
			if !ok || !bytes.Equal(data, file.Data) {
				e.add(fmt.Errorf("%s: %s missing or different", h.Name, file.Path))
				continue
			}
			if fi, err := os.Stat(filepath.Join(root, h.Name, rel)); err != nil || fi.Mode().Perm() != file.Mode.Perm() {
				e.add(fmt.Errorf("%s: %s mode %v, want %04o", h.Name, file.Path, fi.Mode().Perm(), file.Mode.Perm()))
			}
		}
	}
	return e.err()
}

// onePerRoles is the first host of each set of roles.
func onePerRoles(f *fixture) []*model.Host {
	var hosts []*model.Host
	kinds := map[string]bool{}
	for _, h := range f.plan.Hosts {
		if k := fmt.Sprint(h.Roles); !kinds[k] {
			kinds[k] = true
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// recapLine is a host's line of ansible-playbook's PLAY RECAP.
var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+: ok=\d+\s+changed=(\d+)`)

// unchanged requires a PLAY RECAP of hosts hosts, each with changed=0.
func unchanged(out string, hosts int) error {
	lines := recapLine.FindAllStringSubmatch(out, -1)
	if len(lines) != hosts {
		return fmt.Errorf("PLAY RECAP lists %d hosts, want %d", len(lines), hosts)
	}
	var e errs
	for _, l := range lines {
		if l[2] != "0" {
			e.add(fmt.Errorf("%s: changed=%s, want 0", l[1], l[2]))
		}
	}
	return e.err()
}

// checkAnsibleLint: ansible-lint, offline, with its strictest profile
// (production), finds nothing in the playbook.
func checkAnsibleLint(lint, bundleDir string) error {
	_, err := run(3*time.Minute, bundleDir, ansibleEnv(), lint, "--offline", "--nocolor", "--profile", "production", "-p", ansiblePlaybook)
	return err
}

func TestAnsibleLint(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		if err := checkAnsibleLint(tool(t, "ansible-lint"), f.dir); err != nil {
			t.Error(err)
		}
	})
}

func TestAnsible(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		playbook := tool(t, "ansible-playbook")
		for _, p := range []string{ansibleInventory, ansiblePlaybook} {
			if _, ok := f.bundle.Get(p); !ok {
				t.Fatalf("the bundle has no %s (the Ansible transport is part of every bundle)", p)
			}
		}
		if err := checkAnsibleSyntax(playbook, f.dir); err != nil {
			t.Error(err)
		}
	})
}

// TestAnsibleCopy applies the copy step of one example locally: slow
// (ansible forks per host), so once.
func TestAnsibleCopy(t *testing.T) {
	f := caseNamed(t, "example-external-etcd-haproxy")
	playbook := tool(t, "ansible-playbook")
	if err := checkAnsibleCopy(playbook, f, t.TempDir(), onePerRoles(f)); err != nil {
		t.Error(err)
	}
}

// TestAnsibleOperatorActions runs one operator action's play locally: with
// no terminal to type at, the play must stop there rather than go on as if
// the load balancer or the CNI were in place; with
// -e hagen_operator_confirmed=true it goes on.
func TestAnsibleOperatorActions(t *testing.T) {
	f := caseNamed(t, "example-cloud-lb")
	playbook := tool(t, "ansible-playbook")
	dir := filepath.Join(f.dir, "ansible")
	args := []string{"-i", "inventory.yml", "site.yml", "--tags", "install-cni", "-c", "local"}
	out, err := run(2*time.Minute, dir, ansibleEnv(), playbook, args...)
	if err == nil {
		t.Errorf("install-cni went on without the operator:\n%s", out)
	} else if !strings.Contains(out, "hagen_operator_confirmed=true") {
		t.Errorf("install-cni stopped without saying how to confirm:\n%s", out)
	}
	if _, err := run(2*time.Minute, dir, ansibleEnv(), playbook, append(args, "-e", "hagen_operator_confirmed=true")...); err != nil {
		t.Errorf("confirmed beforehand: %v", err)
	}
}
