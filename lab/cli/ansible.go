package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hagen/hagen/lab/ansible"
	"github.com/hagen/hagen/lab/apply"
	"github.com/hagen/hagen/lab/bundle"
	hb "github.com/hagen/hagen/render/bundle"
)

// The transports: how a bundle reaches the lab's hosts.
const (
	transportSteps   = "steps"
	transportAnsible = "ansible"
)

// playTimeout bounds one ansible-playbook run; the first one brings the
// cluster up (kubeadm init and every join, minutes on 2 cores).
const playTimeout = 20 * time.Minute

// applyByAnsible brings the bundle up the way an Ansible shop does: from
// the operator's workstation, ansible-playbook runs the bundle's
// ansible/site.yml over SSH against its inventory. The operator actions
// the play pauses for (hagen_operator_confirmed=true: the lab carries
// them out) are done around it: those before the first kubeadm step (an
// external load balancer that kubeadm init dials) before the play, the
// others after it, in RUNBOOK order. Then the cluster is checked; the
// whole play runs again and must change nothing on any host, then with
// --check --diff, neither disturbing the live cluster; and then the
// drills.
func (r *session) applyByAnsible(ctx context.Context, b *bundle.Bundle) error {
	c, rep := r.c, r.rep
	before, after := operatorActions(b.Manifest.Steps)
	for _, s := range before {
		if err := c.Act(ctx, s); err != nil {
			return labError{err}
		}
	}
	hosts := names(b.Hosts)
	play, err := ansible.Run(c.Operator.Agent, b.Dir, playTimeout)
	if err != nil {
		return labError{err}
	}
	r.logPlay(play)
	if err := play.Check(hosts); err != nil {
		var why strings.Builder
		for _, h := range hosts {
			if play.Recap[h].Failed > 0 {
				why.WriteString(diagnose(c, &apply.Failure{Host: h}))
			}
		}
		rep.fail("playbook", fmt.Sprintf("%s: %v%s", filepath.Base(b.Dir), err, why.String()))
		return err
	}
	t := play.Totals()
	rep.figure("playbook", fmt.Sprintf("ansible-playbook %s/ansible/site.yml over SSH from %s: %d hosts, %d tasks ok, %d changed", filepath.Base(b.Dir), c.Operator.Name, len(hosts), t.OK, t.Changed), play.Took)
	for _, s := range after {
		if err := c.Act(ctx, s); err != nil {
			return labError{err}
		}
	}
	cl, err := r.checked(ctx, true)
	if err != nil {
		return err
	}
	if rep.failed > 0 {
		return nil
	}
	for _, run := range []struct {
		name  string
		extra []string
	}{
		{"playbook again", nil},
		{"playbook --check --diff", []string{"--check", "--diff"}},
	} {
		// The play's modules run on the lab machine's two cores beside
		// seven machines' worth of control plane: the endpoint's figures
		// while it runs are the lab's, not the playbook's. What the play
		// changes is judged: changed=0 and no process replaced.
		err := undisturbed(ctx, c, cl, rep, run.name, false, func() (string, error) {
			p, err := ansible.Run(c.Operator.Agent, b.Dir, playTimeout, run.extra...)
			if err != nil {
				return "", labError{err}
			}
			r.logPlay(p)
			if err := p.Check(hosts); err != nil {
				return "", err
			}
			if err := p.Converged(); err != nil {
				return "", err
			}
			t := p.Totals()
			return fmt.Sprintf("changed=0 on every host (%d tasks ok, %d skipped)", t.OK, t.Skipped), nil
		})
		if err != nil {
			return labError{err}
		}
		if rep.failed > 0 {
			return nil // a play that did not converge is not run again
		}
	}
	if err := drills(ctx, c, cl, rep); err != nil {
		return labError{err}
	}
	return nil
}

// operatorActions splits the manifest's operator steps into those the lab
// carries out before the play (the ones before the first step that runs
// kubeadm) and after it.
func operatorActions(steps []hb.Step) (before, after []hb.Step) {
	kubeadm := false
	for _, s := range steps {
		for _, cmd := range s.Commands {
			if strings.HasPrefix(cmd, "kubeadm ") {
				kubeadm = true
			}
		}
		if !apply.ByOperator(s) {
			continue
		}
		if kubeadm {
			after = append(after, s)
		} else {
			before = append(before, s)
		}
	}
	return before, after
}

// logPlay writes the play's output to the verbose log.
func (r *session) logPlay(p *ansible.Play) {
	if r.log != nil {
		fmt.Fprintf(r.log, "$ %s\n%s\n", p.Command, p.Output)
	}
}
