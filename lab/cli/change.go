package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hagen/hagen/lab/apply"
	"github.com/hagen/hagen/lab/bundle"
	"github.com/hagen/hagen/lab/check"
	"github.com/hagen/hagen/lab/drill"
	hb "github.com/hagen/hagen/render/bundle"
)

// prober starts a prober on the endpoint of the running cluster, with the
// admin's credentials: what clients see while a next render's steps (or a
// replacement) run.
func (r *session) prober(ctx context.Context) (*drill.Prober, error) {
	admin, err := r.c.AdminConf()
	if err != nil {
		return nil, err
	}
	cl := &check.Clients{Dialer: r.c.Operator.Dialer(r.c.Resolve), Bundle: r.c.Bundle, AdminConf: admin}
	hc, err := cl.HTTP(time.Second)
	if err != nil {
		return nil, err
	}
	p := &drill.Prober{Client: hc, URL: "https://" + r.c.Bundle.Endpoint.String() + "/readyz", Interval: 100 * time.Millisecond}
	p.Start(ctx)
	return p, nil
}

// joinWithin bounds how long a member may take from its first start to
// joining the cluster (etcd lists it started): seconds on a healthy
// cluster, so a member that cannot join fails its start step in a minute
// rather than in the promote script's five.
const joinWithin = 90 * time.Second

// membershipWatch looks at etcd's membership after each step of a change
// or a replacement, from the operator's namespace: what each step did must
// be what its note says, and quorum must never count a member that does
// not run.
type membershipWatch struct {
	r        *session
	learners bool
	// stale is the ID of the member a replacement removes (0: none):
	// after a re-add or a rejoin, etcd listing that ID at the member's
	// peer URL means the step did not replace it.
	stale uint64
}

func (r *session) watch() *membershipWatch {
	return &membershipWatch{r: r, learners: learners(r.c.Bundle.Manifest.Software.Etcd)}
}

// learners: etcd 3.4 and newer add members as learners.
func learners(v string) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	return major > 3 || major == 3 && minor >= 4
}

// endpoints are the client URLs of every member the lab may ask: this
// bundle's and those it drops, whose machines still run.
func (w *membershipWatch) endpoints() []string {
	c := w.r.c
	var out []string
	for _, m := range c.Bundle.EtcdMembers() {
		if h := c.Hosts[m.Name]; h != nil && h.Running() {
			out = append(out, check.ClientURL(m.Address))
		}
	}
	for name, l := range c.Bundle.Manifest.Leaving {
		if h := c.Hosts[name]; h != nil && h.Running() && slices.Contains(l.Roles, bundle.RoleEtcd) {
			if a, ok := c.Bundle.Address(name); ok {
				out = append(out, check.ClientURL(a))
			}
		}
	}
	return out
}

func (w *membershipWatch) step(ctx context.Context, s hb.Step) error {
	prefix, name := bundle.Member(s.Name)
	switch prefix {
	case bundle.StepAddMember, bundle.StepStartMember, bundle.StepPromoteMember, bundle.StepRemoveMember, bundle.StepReaddMember, bundle.StepRejoin:
	default:
		return nil
	}
	b := w.r.c.Bundle
	addr, ok := b.Address(name)
	if !ok {
		return &apply.Failure{Step: s.Name, Host: firstHost(s), Finding: fmt.Sprintf("the step names etcd member %s, which is neither a host of the bundle nor one it drops", name)}
	}
	peer := check.PeerURL(addr)
	list := func(ctx context.Context) ([]check.EtcdMember, check.EtcdMember, bool, error) {
		ms, err := check.EtcdMemberList(ctx, w.r.clients(), w.endpoints())
		if err != nil {
			return nil, check.EtcdMember{}, false, err
		}
		m, ok := check.FindMember(ms, peer)
		return ms, m, ok, nil
	}
	finding := func(host, format string, args ...any) error {
		return &apply.Failure{Step: s.Name, Host: host, Finding: fmt.Sprintf(format, args...)}
	}
	switch prefix {
	case bundle.StepAddMember, bundle.StepReaddMember:
		ms, m, ok, err := list(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return finding(firstHost(s), "etcd has no member at %s after the step: %s was not added", peer, name)
		}
		if w.stale != 0 && m.ID == w.stale {
			return finding(firstHost(s), "etcd still lists the stale %s (%x) at %s after the step: it was not removed and added again", name, m.ID, peer)
		}
		if !m.Started() && !m.Learner && w.learners {
			voters, started := 0, 0
			for _, x := range ms {
				if !x.Learner {
					voters++
					if x.Started() {
						started++
					}
				}
			}
			return finding(firstHost(s), "%s was added as a voting member before it started (etcdctl member add without --learner): etcd counts it in the quorum at once, %d voters of which %d run, quorum %d, while etcd %s can add it as a learner that does not vote until it has caught up",
				name, voters, started, voters/2+1, b.Manifest.Software.Etcd)
		}
	case bundle.StepStartMember, bundle.StepRejoin:
		// The member's first start joins the running cluster: etcd lists
		// it started once it has connected to the others.
		var m check.EtcdMember
		_, err := check.Eventually(ctx, joinWithin, time.Second, func(ctx context.Context) error {
			_, found, ok, err := list(ctx)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("etcd has no member at %s", peer)
			}
			if m = found; w.stale != 0 && m.ID == w.stale {
				return fmt.Errorf("etcd lists only the stale %s (%x), which the replacement removes", name, m.ID)
			}
			if !m.Started() {
				return fmt.Errorf("etcd lists %s (%x) as unstarted", name, m.ID)
			}
			return nil
		})
		if err != nil {
			return finding(name, "etcd member %s did not join the running cluster within %s of its first start: %v", name, joinWithin, err)
		}
	case bundle.StepPromoteMember:
		_, m, ok, err := list(ctx)
		if err != nil {
			return err
		}
		if !ok || !m.Started() || m.Learner {
			return finding(name, "after the step %s is not a started voting member (listed: %v, started: %v, learner: %v)", name, ok, m.Started(), m.Learner)
		}
	case bundle.StepRemoveMember:
		_, m, ok, err := list(ctx)
		if err != nil {
			return err
		}
		if ok {
			return finding(firstHost(s), "etcd still lists %s (%x) after the step", name, m.ID)
		}
	}
	return nil
}

func firstHost(s hb.Step) string {
	if len(s.Hosts) > 0 {
		return s.Hosts[0]
	}
	return ""
}

// clients are clients of the cluster as it is now, for etcd (the
// bundle's healthcheck client) and, once kubeadm init ran, the endpoint.
func (r *session) clients() *check.Clients {
	return &check.Clients{Dialer: r.c.Operator.Dialer(r.c.Resolve), Bundle: r.c.Bundle}
}

// changeFigures is the time of each step of a change of membership (each
// host of a serial one), in order; "" when the steps change none.
func changeFigures(steps []apply.StepResult) string {
	var parts []string
	changed := false
	for _, s := range steps {
		if !bundle.ChangeStep(s.Name) {
			continue
		}
		if p, _ := bundle.Member(s.Name); p != "" {
			changed = true
		}
		parts = append(parts, stepFigure(s))
	}
	if !changed && !slices.ContainsFunc(steps, func(s apply.StepResult) bool { return s.Name == bundle.StepEtcdServers }) {
		return ""
	}
	return strings.Join(parts, ", ")
}

func stepFigure(s apply.StepResult) string {
	var b strings.Builder
	b.WriteString(s.Name + " ")
	if len(s.PerHost) > 1 {
		var hs []string
		for _, h := range s.Hosts {
			if d, ok := s.PerHost[h]; ok {
				hs = append(hs, fmt.Sprintf("%s %s", h, round(d)))
			}
		}
		b.WriteString("(" + strings.Join(hs, ", ") + ")")
	} else {
		b.WriteString(round(s.Duration))
	}
	if s.Watched >= time.Second {
		fmt.Fprintf(&b, " +%s until etcd listed it", round(s.Watched))
	}
	if len(s.Skipped) > 0 {
		fmt.Fprintf(&b, " [skipped %s: not answering]", strings.Join(s.Skipped, ", "))
	}
	if s.ByOp {
		b.WriteString(" [operator]")
	}
	return b.String()
}

func round(d time.Duration) string {
	if d < time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// duringSteps is what clients of the endpoint saw while the steps ran:
// overall, and for each step in which a request failed.
func duringSteps(p *drill.Prober, steps []apply.StepResult, start, end time.Time) string {
	all := p.Between(start, end)
	if all.Failed == 0 {
		return fmt.Sprintf("%s over %s", all, round(end.Sub(start)))
	}
	var parts []string
	for _, s := range steps {
		w := p.Between(s.Start, s.Start.Add(s.Duration+s.Watched))
		if w.Failed > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d of %d, gap %s", s.Name, w.Failed, w.Total, round(w.Longest)))
		}
	}
	return fmt.Sprintf("%s over %s; %s", all, round(end.Sub(start)), strings.Join(parts, "; "))
}

// witness is data written after the first bundle: a key in etcd and a
// ConfigMap through the endpoint, which every later bundle (and a
// replacement) must keep.
type witness struct {
	key, value, configMap string
	after                 string
}

const (
	witnessKey       = "/hagen-lab/witness"
	witnessConfigMap = "hagen-lab-witness"
)

// data writes the witness after the first bundle, and reads it after
// every later one: from each etcd member alone, and through the endpoint.
func (r *session) data(ctx context.Context, cl *check.Clients, first bool) error {
	b := r.c.Bundle
	var eps []string
	for _, m := range b.EtcdMembers() {
		eps = append(eps, check.ClientURL(m.Address))
	}
	if r.witness == nil {
		if !first || r.rep.failed > 0 {
			return nil
		}
		w := &witness{key: witnessKey, value: fmt.Sprintf("written after %s at %s", b.Dir, time.Now().UTC().Format(time.RFC3339Nano)), configMap: witnessConfigMap, after: b.Dir}
		took, err := check.Eventually(ctx, time.Minute, 2*time.Second, func(ctx context.Context) error {
			if err := check.EtcdPut(ctx, cl, eps, w.key, w.value); err != nil {
				return err
			}
			kube, err := cl.Kube()
			if err != nil {
				return err
			}
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: w.configMap, Namespace: "default"}, Data: map[string]string{"value": w.value}}
			_, err = kube.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				err = nil
			}
			return err
		})
		r.rep.result("data written", fmt.Sprintf("%s in etcd and ConfigMap default/%s through the endpoint, to be read after every later change", w.key, w.configMap), took, err)
		if err == nil {
			r.witness = w
		}
		return nil
	}
	w := r.witness
	took, err := check.Eventually(ctx, time.Minute, 2*time.Second, func(ctx context.Context) error {
		if err := check.EtcdReadEach(ctx, cl, eps, w.key, w.value); err != nil {
			return err
		}
		kube, err := cl.Kube()
		if err != nil {
			return err
		}
		cm, err := kube.CoreV1().ConfigMaps("default").Get(ctx, w.configMap, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("ConfigMap default/%s: %w", w.configMap, err)
		}
		if cm.Data["value"] != w.value {
			return fmt.Errorf("ConfigMap default/%s holds %q, written as %q", w.configMap, cm.Data["value"], w.value)
		}
		return nil
	})
	r.rep.result("data kept", fmt.Sprintf("%s, written after the first bundle, read from each of %d members alone (%s); ConfigMap default/%s through the endpoint", w.key, len(eps), strings.Join(names(b.EtcdMembers()), ", "), w.configMap), took, err)
	return nil
}

// replaceDrill replaces host name of the last bundle after a failure: its
// machine halts (every process ends at once), its disk is wiped, etcd's
// data directory with it, and it is installed afresh under the same name
// and address; then the bundle's procedures["replace-<name>"] run as
// written, the lab watching etcd's membership after each, and the checks
// run again: every member healthy and a voter, the data written after the
// first bundle still there, the endpoint serving, exactly the Nodes of the
// bundle.
func (r *session) replaceDrill(ctx context.Context, name string) error {
	c, rep := r.c, r.rep
	b := c.Bundle
	const what = "drill: replace "
	proc := b.Manifest.Procedures[bundle.ReplacePrefix+name]
	before := ""
	watch := r.watch()
	if a, ok := b.Address(name); ok {
		if ms, err := check.EtcdMemberList(ctx, r.clients(), watch.endpoints()); err == nil {
			if m, ok := check.FindMember(ms, check.PeerURL(a)); ok {
				before = fmt.Sprintf("%x", m.ID)
				watch.stale = m.ID
			}
		}
	}
	p, err := r.prober(ctx)
	if err != nil {
		return labError{err}
	}
	defer p.Stop()
	t0 := time.Now()
	if err := c.Wipe(name); err != nil {
		return labError{err}
	}
	wiped := time.Since(t0)
	halt := p.Between(t0, time.Now())
	ar := &apply.Runner{Bundle: b, Steps: proc, Hosts: c.ApplyHosts(), Operator: c, Timeouts: apply.DefaultTimeouts, Log: r.log, Watch: watch.step}
	t1 := time.Now()
	steps, err := ar.Run(ctx)
	t2 := time.Now()
	noteSkipped(rep, what+name, steps)
	var f *apply.Failure
	if errors.As(err, &f) {
		rep.fail(what+name, fmt.Sprintf("procedure %s%s of %s: %v%s", bundle.ReplacePrefix, name, b.Dir, f, diagnose(c, f)))
		return nil
	}
	if err != nil {
		return labError{err}
	}
	var parts []string
	for _, s := range steps {
		parts = append(parts, stepFigure(s))
	}
	rep.figure(what+name, fmt.Sprintf("%s halted, its disk wiped and the machine reinstalled in %s (clients meanwhile: %s); procedure %s%s, %d steps: %s; clients during the steps: %s",
		name, round(wiped), halt, bundle.ReplacePrefix, name, len(steps), strings.Join(parts, ", "), p.Between(t1, t2)), t2.Sub(t0))
	for _, n := range c.Notes {
		rep.note(n)
	}
	c.Notes = nil
	cl, err := upChecks(ctx, c, rep, false)
	if err != nil {
		return labError{err}
	}
	if err := r.data(ctx, cl, false); err != nil {
		return labError{err}
	}
	if before != "" {
		a, _ := b.Address(name)
		ms, err := check.EtcdMemberList(ctx, cl, r.watch().endpoints())
		m, ok := check.FindMember(ms, check.PeerURL(a))
		after := fmt.Sprintf("%x", m.ID)
		switch {
		case err != nil:
			rep.fail("replaced member", err.Error())
		case !ok || after == before:
			rep.fail("replaced member", fmt.Sprintf("etcd member %s is %s, as before the replacement: it was not removed and added again", name, after))
		default:
			rep.pass("replaced member", fmt.Sprintf("%s is a new etcd member (%s, was %s) with an empty data directory at its first start, a voter", name, after, before))
		}
	}
	return nil
}

// noteSkipped says in the report which optional steps passed a host by
// because it did not answer (a machine the render drops, already gone):
// never a silent skip.
func noteSkipped(rep *report, what string, steps []apply.StepResult) {
	for _, s := range steps {
		if len(s.Skipped) > 0 {
			rep.note(fmt.Sprintf("%s: optional step %s skipped on %s: not answering (the step is optional: a host that is gone has nothing to undo)", what, s.Name, strings.Join(s.Skipped, ", ")))
		}
	}
}
