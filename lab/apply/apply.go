// Package apply does to the lab's hosts what a transport does to machines:
// it lays each host's files from MANIFEST.json (path, mode, owner, and the
// bytes under hosts/<host>/ that the manifest's digest pins), then runs the
// manifest's steps in order, on the hosts they name, with the RUNBOOK's
// commands as written. The steps that are an operator's to carry out
// (configure a load balancer, install the CNI) go to an Operator.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/bundle"
	hb "github.com/hagen/hagen/render/bundle"
)

// Host is what apply needs of a lab host.
type Host interface {
	Exec(agent.ExecArgs) (*agent.ExecReply, error)
	WriteFile(agent.FileArgs) error
}

// Operator carries out the steps a person does: those with no commands,
// or (for the kube-proxy re-pointing) a note that says what to run.
type Operator interface {
	// Act carries out step s, or says it cannot.
	Act(ctx context.Context, s hb.Step) error
}

// Failure is a step that did not succeed: the bundle is wrong, or the lab
// found it so. It names the step, host and command, or, for what the lab
// found on the live cluster after a step, the host the finding is about.
type Failure struct {
	Step, Host, Command string
	Code                int
	Output              string
	// Finding is what the lab saw after the step succeeded (Command is
	// then empty).
	Finding string
}

func (f *Failure) Error() string {
	if f.Finding != "" {
		return fmt.Sprintf("step %s: %s", f.Step, f.Finding)
	}
	return fmt.Sprintf("step %s on %s: `%s` exited %d:\n%s", f.Step, f.Host, f.Command, f.Code, indent(f.Output))
}

// Timeouts bound every command and every check poll.
type Timeouts struct {
	Command time.Duration // one command (kubeadm init takes a minute or two)
	Check   time.Duration // a step's check, polled until it passes
	Poll    time.Duration // between two tries of a check
}

// DefaultTimeouts are generous for a 2-core machine running a cluster.
var DefaultTimeouts = Timeouts{Command: 8 * time.Minute, Check: 2 * time.Minute, Poll: 2 * time.Second}

// Runner applies one bundle to the lab's hosts.
type Runner struct {
	Bundle *bundle.Bundle
	// Steps are the steps to run: the manifest's when nil, or one of its
	// procedures.
	Steps    []hb.Step
	Hosts    map[string]Host
	Operator Operator
	Timeouts Timeouts
	Log      io.Writer
	// Env is added to every step command's environment.
	Env []string
	// Watch, if set, looks at the live cluster after each step that
	// succeeded: an error is a finding about the step (what it did is
	// not what its note says it does).
	Watch func(ctx context.Context, s hb.Step) error
}

// StepResult is one step as it ran.
type StepResult struct {
	Name     string
	Hosts    []string
	Start    time.Time
	Duration time.Duration
	// Watched is how long the Watch looked (or waited) after the step.
	Watched time.Duration
	// PerHost is how long each host took, for a serial step.
	PerHost map[string]time.Duration
	// Skipped are the hosts of an optional step that did not answer.
	Skipped []string
	ByOp    bool // carried out by the operator
}

// Lay writes every host file the manifest lists onto its host. The bytes
// must match the manifest's digest: a bundle changed after rendering is
// not laid.
func (r *Runner) Lay() error { return r.LayHosts(nil) }

// LayHosts lays the files of the named hosts (every host when nil), as a
// replacement procedure's copy-files lays only the replaced host's.
func (r *Runner) LayHosts(only []string) error {
	for name, mh := range r.Bundle.Manifest.Hosts {
		if only != nil && !slices.Contains(only, name) {
			continue
		}
		h, ok := r.Hosts[name]
		if !ok {
			return fmt.Errorf("the lab has no host %s", name)
		}
		for _, f := range mh.Files {
			data, err := os.ReadFile(r.Bundle.HostFile(name, f.Path))
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			if hex.EncodeToString(sum[:]) != f.SHA256 {
				return fmt.Errorf("%s:%s does not match MANIFEST.json's sha256: the bundle changed after it was rendered", name, f.Path)
			}
			mode, err := strconv.ParseUint(f.Mode, 8, 32)
			if err != nil {
				return fmt.Errorf("%s:%s: mode %q", name, f.Path, f.Mode)
			}
			if err := h.WriteFile(agent.FileArgs{Path: f.Path, Data: data, Mode: uint32(mode), Owner: f.Owner}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Run runs every step in order (the manifest's, or r.Steps). copy-files
// lays the files of the hosts it names.
func (r *Runner) Run(ctx context.Context) ([]StepResult, error) {
	steps := r.Steps
	if steps == nil {
		steps = r.Bundle.Manifest.Steps
	}
	var out []StepResult
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		start := time.Now()
		res := StepResult{Name: s.Name, Hosts: s.Hosts, Start: start, PerHost: map[string]time.Duration{}}
		r.logf("step %s on %s", s.Name, strings.Join(orNone(s.Hosts), ", "))
		var err error
		switch {
		case s.Name == "copy-files":
			err = r.LayHosts(s.Hosts)
		case ByOperator(s):
			res.ByOp = true
			err = r.Operator.Act(ctx, s)
		default:
			err = r.runStep(ctx, s, &res)
		}
		res.Duration = time.Since(start)
		if err == nil && r.Watch != nil {
			t := time.Now()
			err = r.Watch(ctx, s)
			res.Watched = time.Since(t)
		}
		out = append(out, res)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// ByOperator is whether s is a person's to carry out (configure a load
// balancer, install the CNI): it names no host, or has neither commands
// nor a check. copy-files is a transport's.
func ByOperator(s hb.Step) bool {
	return s.Name != "copy-files" && (len(s.Hosts) == 0 || len(s.Commands) == 0 && s.Check == "")
}

// answers reports whether an optional step's host is there to run it: a
// host the lab no longer has (a retired machine), a halted one, or one
// whose agent does not answer is skipped, as a transport skips a host it
// cannot reach.
func (r *Runner) answers(s hb.Step, name string) bool {
	h, ok := r.Hosts[name]
	if !ok {
		r.logf("  %s: skipped: the lab has no machine %s (optional step)", name, name)
		return false
	}
	if _, err := h.Exec(agent.ExecArgs{Argv: []string{"true"}, Timeout: 5 * time.Second}); err != nil {
		r.logf("  %s: skipped: it does not answer (optional step): %v", name, err)
		return false
	}
	return true
}

func (r *Runner) runStep(ctx context.Context, s hb.Step, res *StepResult) error {
	hosts := s.Hosts
	if s.Optional {
		hosts = nil
		for _, name := range s.Hosts {
			if r.answers(s, name) {
				hosts = append(hosts, name)
			} else {
				res.Skipped = append(res.Skipped, name)
			}
		}
	}
	one := func(name string) error {
		h, ok := r.Hosts[name]
		if !ok {
			// A required step is never skipped: a host it needs that is
			// gone (a machine the render dropped and the lab powered off)
			// fails it.
			return &Failure{Step: s.Name, Host: name, Finding: fmt.Sprintf("the step is required on %s, and the lab has no running machine %s (a host the render drops is gone once its steps have run; only an optional step may pass it by)", name, name)}
		}
		if s.Creates != "" {
			reply, err := h.Exec(agent.ExecArgs{Argv: []string{"test", "-e", s.Creates}, Timeout: 10 * time.Second})
			if err != nil {
				return err
			}
			if reply.Code == 0 {
				r.logf("  %s: skipped, %s exists", name, s.Creates)
				return nil
			}
		}
		for _, c := range s.Commands {
			if err := r.command(s.Name, name, h, c); err != nil {
				return err
			}
		}
		return nil
	}
	if s.Serial {
		for _, name := range hosts {
			t0 := time.Now()
			if err := one(name); err != nil {
				return err
			}
			res.PerHost[name] = time.Since(t0)
		}
	} else {
		var wg sync.WaitGroup
		errs := make([]error, len(hosts))
		for i, name := range hosts {
			wg.Go(func() { errs[i] = one(name) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	if s.Check == "" {
		return nil
	}
	for _, name := range hosts {
		if err := r.check(ctx, s, name); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) command(step, name string, h Host, cmd string) error {
	reply, err := h.Exec(agent.ExecArgs{Argv: []string{"/bin/sh", "-c", cmd}, Env: r.Env, Timeout: r.Timeouts.Command})
	if err != nil {
		return err
	}
	r.logf("  %s: %s -> %d", name, cmd, reply.Code)
	if reply.Code != 0 {
		out := string(reply.Stdout) + string(reply.Stderr)
		if reply.TimedOut {
			out += fmt.Sprintf("\n(killed after %s)", r.Timeouts.Command)
		}
		return &Failure{Step: step, Host: name, Command: cmd, Code: reply.Code, Output: tail(out, 40)}
	}
	return nil
}

// check polls a step's check on one host until it passes, as the RUNBOOK
// says ("it may take a minute"), within the check timeout.
func (r *Runner) check(ctx context.Context, s hb.Step, name string) error {
	h := r.Hosts[name]
	deadline := time.Now().Add(r.Timeouts.Check)
	var last *agent.ExecReply
	for {
		reply, err := h.Exec(agent.ExecArgs{Argv: []string{"/bin/sh", "-c", s.Check}, Env: r.Env, Timeout: time.Minute})
		if err != nil {
			return err
		}
		if reply.Code == 0 {
			r.logf("  %s: check passed", name)
			return nil
		}
		last = reply
		if time.Now().After(deadline) {
			return &Failure{Step: s.Name + " (check)", Host: name, Command: s.Check, Code: last.Code,
				Output: tail(string(last.Stdout)+string(last.Stderr), 40) + fmt.Sprintf("\n(still failing after %s)", r.Timeouts.Check)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.Timeouts.Poll):
		}
	}
}

func (r *Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

func orNone(hs []string) []string {
	if len(hs) == 0 {
		return []string{"(the operator)"}
	}
	return hs
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
