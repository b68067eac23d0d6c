package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hagen/hagen/lab/apply"
	"github.com/hagen/hagen/lab/bundle"
	"github.com/hagen/hagen/lab/check"
	"github.com/hagen/hagen/lab/cluster"
	"github.com/hagen/hagen/lab/drill"
	"github.com/hagen/hagen/lab/host"
)

const usage = `usage: hagen-lab [--keep] [--bin DIR] [--timeout D] [-v] [--drill-last] [--replace HOST] [--transport steps|ansible] BUNDLE...

Brings the first rendered bundle up as a highly available control plane on
this machine (one network, mount, UTS and PID namespace per host, as root),
runs its MANIFEST.json steps as the RUNBOOK writes them, checks the cluster
and drills it: the apiserver under the VIP stopped, a master halted and
brought back, HAProxy killed. Every further BUNDLE is the next render of the
same cluster: its files are laid over the live one, its steps run (a
change of membership among them), and the checks and drills run again.
--replace HOST then replaces a master or etcd member of the last bundle by
a wiped machine with the bundle's own procedure, and checks again.
With --transport ansible, the operator's workstation brings the one
bundle up with its own playbook over SSH, runs it again (every host must
report changed=0) and with --check --diff, before the drills.

Exit status: 0 every check passed, 1 a check failed (the bundle is wrong),
2 usage, 3 the lab could not run. Everything the lab made (namespaces,
mounts, processes) is removed at the end, also when interrupted, unless
--keep leaves it for inspection after a failure.
`

// options are the lab's flags.
type options struct {
	keep    bool
	bin     string
	timeout time.Duration
	verbose bool
	state   string
	replace string
	// drillLast skips the drills on every bundle but the last.
	drillLast bool
	// transport is how the bundle reaches the hosts: the lab runs its
	// steps (transportSteps), or the operator runs its playbook over SSH
	// (transportAnsible).
	transport string
}

// labError is a failure of the lab itself (exit 3), not of the bundle.
type labError struct{ err error }

func (e labError) Error() string { return e.err.Error() }
func (e labError) Unwrap() error { return e.err }

func labErrorf(format string, args ...any) error { return labError{fmt.Errorf(format, args...)} }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hagen-lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var o options
	fs.BoolVar(&o.keep, "keep", false, "leave the lab's hosts running at the end (a failure's evidence); `hagen-lab --clean` removes them")
	fs.StringVar(&o.bin, "bin", defaultBin(), "the `DIR` of binaries tools/build.sh lab made")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Minute, "end the run (and clean up) after this long")
	fs.BoolVar(&o.verbose, "v", false, "log every step and command")
	fs.StringVar(&o.state, "state", os.TempDir(), "where the lab mounts its tmpfs")
	fs.StringVar(&o.replace, "replace", "", "after the last bundle, replace `HOST` (a master or etcd member): its machine halted, its disk wiped and reinstalled, then the last bundle's MANIFEST.json procedures[\"replace-HOST\"] run on it, and the checks again")
	fs.BoolVar(&o.drillLast, "drill-last", false, "drill only after the last bundle (every bundle is still checked and re-applied)")
	fs.StringVar(&o.transport, "transport", transportSteps, "how the bundle reaches the hosts: `steps` (the lab lays MANIFEST.json's files and runs its steps) or ansible (the operator's workstation runs ansible/site.yml over SSH, then again, which must change nothing, then with --check --diff; one bundle, no --replace)")
	clean := fs.Bool("clean", false, "remove what earlier runs left (--keep, or a lab that was killed), then exit")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *clean {
		if err := host.CleanStale(stderr); err != nil {
			fmt.Fprintln(stderr, "hagen-lab:", err)
			return exitLab
		}
		return exitOK
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	if err := preconditions(o); err != nil {
		fmt.Fprintln(stderr, "hagen-lab: cannot run:", err)
		return exitLab
	}
	var bundles []*bundle.Bundle
	for _, dir := range fs.Args() {
		abs, err := filepath.Abs(dir)
		if err != nil {
			fmt.Fprintln(stderr, "hagen-lab:", err)
			return exitUsage
		}
		b, err := bundle.Read(abs)
		if err != nil {
			fmt.Fprintf(stderr, "hagen-lab: %s: %v\n", dir, err)
			return exitUsage
		}
		bundles = append(bundles, b)
	}
	switch {
	case o.transport != transportSteps && o.transport != transportAnsible:
		fmt.Fprintf(stderr, "hagen-lab: --transport %s: want %s or %s\n", o.transport, transportSteps, transportAnsible)
		return exitUsage
	case o.transport == transportAnsible && (len(bundles) > 1 || o.replace != ""):
		fmt.Fprintln(stderr, "hagen-lab: --transport ansible runs one bundle and no --replace: the lab watches a change of membership step by step, which only the steps transport lets it do")
		return exitUsage
	}
	if o.replace != "" {
		last := bundles[len(bundles)-1]
		if _, ok := last.Manifest.Procedures[bundle.ReplacePrefix+o.replace]; !ok {
			fmt.Fprintf(stderr, "hagen-lab: --replace %s: %s has no procedure %s%s (MANIFEST.json procedures: a master or etcd member of a bundle of version 2)\n", o.replace, fs.Arg(fs.NArg()-1), bundle.ReplacePrefix, o.replace)
			return exitUsage
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	l, err := host.New(o.state)
	if err != nil {
		fmt.Fprintln(stderr, "hagen-lab: cannot run:", err)
		return exitLab
	}
	l.Detach = o.keep
	// An interruption or the timeout halts every host at once: whatever
	// the run waits for (a kubeadm join, a drill) fails fast, and the
	// cleanup below runs.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "hagen-lab: %s: stopping and cleaning up\n", s)
		case <-ctx.Done():
			fmt.Fprintf(stderr, "hagen-lab: the run took longer than --timeout %s: stopping and cleaning up\n", o.timeout)
		case <-finished:
			return
		}
		cancel()
		if !o.keep {
			l.HaltAll()
		}
	}()

	rep := &report{w: stdout, verbose: o.verbose}
	err = rehearse(ctx, l, o, bundles, rep, stderr)
	if ctx.Err() != nil {
		// Whatever failed, it failed because the run was stopped.
		err = labErrorf("stopped before the end (%v): the hosts were halted and removed", ctx.Err())
	}
	code := rep.summary(err)
	if ctx.Err() != nil && err != nil {
		code = exitLab
	}
	return code
}

// rehearse builds the lab and runs every bundle through it, then the
// replacement drill if asked. The lab is torn down whatever happens,
// unless --keep.
func rehearse(ctx context.Context, l *host.Lab, o options, bundles []*bundle.Bundle, rep *report, stderr io.Writer) (err error) {
	// A bug of the lab's is the lab's failure (exit 3), after cleanup.
	defer func() {
		if p := recover(); p != nil {
			err = labErrorf("internal error: %v\n%s", p, debug.Stack())
		}
	}()
	defer func() {
		if o.keep {
			fmt.Fprintf(stderr, "hagen-lab: kept the lab %s (state %s); `hagen-lab --clean` removes it\n", l.ID, l.State)
			return
		}
		if cerr := l.Close(); cerr != nil {
			fmt.Fprintln(stderr, "hagen-lab: cleanup:", cerr)
			if err == nil {
				err = labError{cerr}
			}
		}
	}()
	var log io.Writer
	if o.verbose {
		log = rep.w
	}
	start := time.Now()
	c, err := cluster.Build(l, bundles[0], o.bin, log, cluster.Options{SSH: o.transport == transportAnsible})
	if err != nil {
		return labError{err}
	}
	rep.figure("machines up", fmt.Sprintf("%d hosts booted and installed", len(c.Machines())), time.Since(start))
	r := &session{c: c, rep: rep, log: log, drillLast: o.drillLast, transport: o.transport}
	for i, b := range bundles {
		if i > 0 {
			if err := c.Next(b); err != nil {
				return labError{err}
			}
		}
		if err := r.applyBundle(ctx, b, i == 0, i == len(bundles)-1); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return labError{err}
		}
		if rep.failed > 0 {
			// A cluster that failed a check is not changed further: what
			// the next bundle finds would be the first failure's echo.
			if i+1 < len(bundles) {
				rep.note(fmt.Sprintf("the bundles after %s were not applied: it failed", filepath.Base(b.Dir)))
			}
			return nil
		}
	}
	if o.replace != "" {
		if err := r.replaceDrill(ctx, o.replace); err != nil {
			return err
		}
	}
	return nil
}

// session is one lab run's state across bundles.
type session struct {
	c   *cluster.Cluster
	rep *report
	log io.Writer
	// drillLast drills only after the last bundle.
	drillLast bool
	// witness is the data written after the first bundle, read after
	// every later one.
	witness *witness
	// transport is the --transport: steps or ansible.
	transport string
}

// applyBundle lays a bundle and runs its steps (a prober on the endpoint
// while a live cluster changes), powers off the machines it drops, then
// checks and drills.
func (r *session) applyBundle(ctx context.Context, b *bundle.Bundle, first, last bool) error {
	c, rep := r.c, r.rep
	var p *drill.Prober
	if !first {
		var err error
		if p, err = r.prober(ctx); err != nil {
			return labError{err}
		}
	}
	if r.transport == transportAnsible {
		return r.applyByAnsible(ctx, b)
	}
	ar := &apply.Runner{Bundle: b, Hosts: c.ApplyHosts(), Operator: c, Timeouts: apply.DefaultTimeouts, Log: r.log, Watch: r.watch().step}
	start := time.Now()
	steps, err := ar.Run(ctx)
	end := time.Now()
	noteSkipped(rep, filepath.Base(b.Dir), steps)
	if p != nil {
		p.Stop()
	}
	what := "applied"
	if !first {
		what = "re-applied (next render)"
	}
	var f *apply.Failure
	if errors.As(err, &f) {
		rep.fail("steps", fmt.Sprintf("%s: %v%s", b.Dir, f, diagnose(c, f)))
		return f
	}
	if err != nil {
		return labError{err}
	}
	rep.figure("steps", fmt.Sprintf("%s %d steps of %s", what, len(steps), filepath.Base(b.Dir)), end.Sub(start))
	if fig := changeFigures(steps); fig != "" {
		rep.pass("membership steps", fig)
	}
	if p != nil {
		rep.pass("endpoint during steps", duringSteps(p, steps, start, end))
	}
	if err := c.Retire(); err != nil {
		return labError{err}
	}
	cl, err := r.checked(ctx, first)
	if err != nil {
		return err
	}
	if rep.failed > 0 {
		return nil // a cluster that is not up is not drilled
	}
	if r.drillLast && !last {
		rep.note(fmt.Sprintf("drills skipped on %s (--drill-last): the cluster is drilled after the last bundle", filepath.Base(b.Dir)))
	} else if err := drills(ctx, c, cl, rep); err != nil {
		return labError{err}
	}
	if rep.failed > 0 {
		return nil
	}
	return reapply(ctx, c, cl, rep, r.log, r.watch().step)
}

// checked reports the lab's notes, then checks the cluster and the data
// written after the first bundle (read back after every later one).
func (r *session) checked(ctx context.Context, first bool) (*check.Clients, error) {
	for _, n := range r.c.Notes {
		r.rep.note(n)
	}
	r.c.Notes = nil
	cl, err := upChecks(ctx, r.c, r.rep, true)
	if err != nil {
		return nil, labError{err}
	}
	if err := r.data(ctx, cl, first); err != nil {
		return nil, labError{err}
	}
	return cl, nil
}

// preconditions: the lab runs as root on Linux with ip(8) and the tools
// it needs; without them it cannot run at all, and says so (exit 3).
func preconditions(o options) error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root (network, mount and PID namespaces)")
	}
	for _, t := range []string{"ip", "keepalived", "haproxy", "curl", "mount", "losetup"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s is not installed (tools/apt.sh installs the lab's packages)", t)
		}
	}
	if st, err := os.Stat(o.bin); err != nil || !st.IsDir() {
		return fmt.Errorf("--bin %s is not a directory of built tools (run tools/build.sh lab)", o.bin)
	}
	return nil
}

// defaultBin is $HAGEN_TOOLS_BIN, or .tools/bin beside the binary's
// repository when run from a checkout.
func defaultBin() string {
	if d := os.Getenv("HAGEN_TOOLS_BIN"); d != "" {
		return d
	}
	return ".tools/bin"
}
