package drill

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/bundle"
	"github.com/hagen/hagen/lab/check"
	"github.com/hagen/hagen/lab/cluster"
)

// Env is what a drill works on.
type Env struct {
	C       *cluster.Cluster
	Clients *check.Clients
	Prober  *Prober
	// Stable is how long the endpoint must answer every request before an
	// outage counts as over.
	Stable time.Duration
}

// recoverWithin bounds how long a drill waits for the endpoint to serve
// again: six times the 10 s keepalived failover target, so a failover that
// never happens fails the drill within a minute.
const recoverWithin = time.Minute

// Result is one drill's finding: its figures, and whether the cluster
// rode the fault out as it should.
type Result struct {
	Name   string
	Detail string
	Took   time.Duration
	Err    error
	// Figures are named measurements for the report's summary.
	Figures map[string]time.Duration
}

// masters are the bundle's masters, the init host (keepalived's MASTER)
// first.
func (e *Env) masters() []bundle.Host { return e.C.Bundle.Masters() }

func (e *Env) agents(hosts []bundle.Host) map[string]*agent.Client {
	out := map[string]*agent.Client{}
	for _, h := range hosts {
		if hh := e.C.Hosts[h.Name]; hh.Running() {
			out[h.Name] = hh.Agent
		}
	}
	return out
}

// Target is the master a drill breaks: the one holding the VIP (the
// endpoint's traffic goes there), or the init host behind an external load
// balancer.
func (e *Env) Target() (string, error) {
	if k := e.C.Bundle.Keepalived; k != nil {
		h, err := check.VIPHolder(e.agents(e.masters()), k.VIP)
		if err != nil {
			return "", err
		}
		if len(h) != 1 {
			return "", fmt.Errorf("the VIP %s is on %d hosts (%v), want exactly one", k.VIP, len(h), h)
		}
		return h[0], nil
	}
	return e.masters()[0].Name, nil
}

// expectedHolder is the master keepalived's priorities give the VIP to
// among the live ones: the first in VRRP order (the init host is MASTER,
// priority 101; then 100, 99, ... in the manifest's order of masters).
func (e *Env) expectedHolder(live []string) string {
	for _, m := range e.masters() {
		if slices.Contains(live, m.Name) {
			return m.Name
		}
	}
	return ""
}

// StopAPIServer stops the apiserver on the VIP holder the way an operator
// (or a crash that the kubelet cannot restart) does: its static pod
// manifest moves out of /etc/kubernetes/manifests. The endpoint must serve
// again within the target, from another master; then the manifest comes
// back and the cluster heals.
func (e *Env) StopAPIServer(ctx context.Context) Result {
	r := Result{Name: "drill: apiserver stopped", Figures: map[string]time.Duration{}}
	target, err := e.Target()
	if err != nil {
		r.Err = err
		return r
	}
	h := e.C.Hosts[target]
	const manifest, parked = "/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/kube-apiserver.yaml.hagen-lab"
	t0 := time.Now()
	if err := sh(h.Agent, "mv "+manifest+" "+parked); err != nil {
		r.Err = err
		return r
	}
	// Whatever the drill finds, the apiserver comes back afterwards.
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		return sh(h.Agent, "mv "+parked+" "+manifest)
	}
	defer restore()
	out := e.Prober.WaitRecovered(ctx, t0, e.Stable, recoverWithin)
	r.Figures["gap"] = out.Gap
	where := ""
	if k := e.C.Bundle.Keepalived; k != nil {
		holders, _ := check.VIPHolder(e.agents(e.masters()), k.VIP)
		where = fmt.Sprintf("; the VIP moved from %s to %s", target, strings.Join(holders, ","))
		if k := e.C.Bundle; k.HAProxy {
			where = fmt.Sprintf("; HAProxy routed around it (VIP on %s)", strings.Join(holders, ","))
		}
	}
	r.Detail = fmt.Sprintf("on %s: %s%s", target, out, where)
	if !out.Recovered {
		r.Err = fmt.Errorf("the endpoint did not serve again within %s after the apiserver on %s stopped: %s", recoverWithin, target, out)
		return r
	}
	// Heal: the manifest returns, the apiserver comes back, the VIP goes
	// where the priorities say.
	t1 := time.Now()
	if err := restore(); err != nil {
		r.Err = err
		return r
	}
	addr := netip.AddrPortFrom(mustHost(e.C.Bundle, target).Address, uint16(e.C.Bundle.APIServerPort))
	if _, err := check.Eventually(ctx, 3*time.Minute, 2*time.Second, func(ctx context.Context) error {
		return check.APIServerReady(ctx, e.Clients, addr)
	}); err != nil {
		r.Err = fmt.Errorf("the apiserver on %s did not come back: %w", target, err)
		return r
	}
	back := e.Prober.WaitRecovered(ctx, t1, e.Stable, 2*time.Minute)
	r.Figures["failback"] = back.Gap
	r.Detail += fmt.Sprintf("; its apiserver back, clients saw %s", back)
	if err := e.vipSettles(ctx); err != nil {
		r.Err = err
	}
	return r
}

// vipSettles waits until the VIP is on the master keepalived's priorities
// give it to: the first in VRRP order, all masters being up.
func (e *Env) vipSettles(ctx context.Context) error {
	k := e.C.Bundle.Keepalived
	if k == nil {
		return nil
	}
	var live []string
	for _, m := range e.masters() {
		live = append(live, m.Name)
	}
	want := e.expectedHolder(live)
	_, err := check.Eventually(ctx, time.Minute, time.Second, func(context.Context) error {
		holders, err := check.VIPHolder(e.agents(e.masters()), k.VIP)
		if err == nil && (len(holders) != 1 || holders[0] != want) {
			err = fmt.Errorf("the VIP is on %v, keepalived's priorities give it to %s", holders, want)
		}
		return err
	})
	return err
}

// HaltMaster pulls the power of the VIP holder: every process of it ends
// at once and its link goes down. The endpoint and etcd (by quorum) must
// keep serving, writes must succeed, and the controller-manager and
// scheduler must have a live leader.
func (e *Env) HaltMaster(ctx context.Context) (Result, string) {
	r := Result{Name: "drill: master halted", Figures: map[string]time.Duration{}}
	target, err := e.Target()
	if err != nil {
		r.Err = err
		return r, ""
	}
	h := e.C.Hosts[target]
	t0 := time.Now()
	if err := h.Halt(); err != nil {
		r.Err = err
		return r, target
	}
	if err := h.SetLink(false); err != nil {
		r.Err = err
		return r, target
	}
	out := e.Prober.WaitRecovered(ctx, t0, e.Stable, recoverWithin)
	r.Figures["gap"] = out.Gap
	if !out.Recovered {
		r.Err = fmt.Errorf("the endpoint did not serve again within %s after %s halted: %s", recoverWithin, target, out)
		return r, target
	}
	var live []bundle.Host
	for _, m := range e.C.Bundle.EtcdMembers() {
		if m.Name != target {
			live = append(live, m)
		}
	}
	if _, err := check.Eventually(ctx, time.Minute, 2*time.Second, func(ctx context.Context) error {
		return check.EtcdWriteRead(ctx, e.Clients, live)
	}); err != nil {
		r.Err = fmt.Errorf("etcd without %s: %w", target, err)
		return r, target
	}
	kube, err := e.Clients.Kube()
	if err != nil {
		r.Err = err
		return r, target
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "hagen-lab-drill-", Namespace: "default"}, Data: map[string]string{"halted": target}}
	if _, err := kube.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		r.Err = fmt.Errorf("a write through the endpoint with %s halted: %w", target, err)
		return r, target
	}
	var liveMasters []string
	for _, m := range e.masters() {
		if m.Name != target {
			liveMasters = append(liveMasters, m.Name)
		}
	}
	var leaders map[string]string
	took, err := check.Eventually(ctx, 90*time.Second, time.Second, func(ctx context.Context) error {
		leaders, err = check.Leaders(ctx, kube, liveMasters)
		return err
	})
	if err != nil {
		r.Err = fmt.Errorf("no live leader with %s halted: %w", target, err)
		return r, target
	}
	r.Figures["leader"] = took
	r.Detail = fmt.Sprintf("%s: %s; etcd kept quorum and took a write; leaders %s (after %s)",
		target, out, formatLeaders(leaders), took.Round(time.Second))
	return r, target
}

// BringBack powers a halted master up again: its link returns and it
// boots, its enabled units start (the kubelet, etcd, keepalived). It must
// rejoin: etcd whole, its apiserver ready, the VIP where keepalived's
// priorities put it.
func (e *Env) BringBack(ctx context.Context, target string) Result {
	r := Result{Name: "drill: master back", Figures: map[string]time.Duration{}}
	h := e.C.Hosts[target]
	t0 := time.Now()
	if err := h.SetLink(true); err != nil {
		r.Err = err
		return r
	}
	if err := h.Boot(cluster.Sysctls); err != nil {
		r.Err = err
		return r
	}
	if _, err := check.Eventually(ctx, 3*time.Minute, 2*time.Second, func(ctx context.Context) error {
		return check.EtcdHealthy(ctx, e.Clients, e.C.Bundle.EtcdMembers())
	}); err != nil {
		r.Err = fmt.Errorf("etcd after %s came back: %w", target, err)
		return r
	}
	addr := netip.AddrPortFrom(mustHost(e.C.Bundle, target).Address, uint16(e.C.Bundle.APIServerPort))
	if _, err := check.Eventually(ctx, 3*time.Minute, 2*time.Second, func(ctx context.Context) error {
		return check.APIServerReady(ctx, e.Clients, addr)
	}); err != nil {
		r.Err = fmt.Errorf("the apiserver on %s after it came back: %w", target, err)
		return r
	}
	r.Figures["rejoin"] = time.Since(t0)
	r.Detail = fmt.Sprintf("%s rejoined in %s: etcd whole, its apiserver ready", target, time.Since(t0).Round(time.Second))
	if e.C.Bundle.Keepalived != nil {
		if err := e.vipSettles(ctx); err != nil {
			r.Err = err
			return r
		}
		r.Detail += fmt.Sprintf("; the VIP is on %s, as the priorities say", e.masters()[0].Name)
	}
	out := e.Prober.WaitRecovered(ctx, t0, e.Stable, time.Minute)
	r.Detail += "; clients saw " + out.String()
	return r
}

// KillHAProxy kills HAProxy on the VIP holder (every process of it, with
// SIGKILL, as a crash): systemd's Restart=always must bring it back and
// the endpoint must barely notice.
func (e *Env) KillHAProxy(ctx context.Context) Result {
	r := Result{Name: "drill: HAProxy killed", Figures: map[string]time.Duration{}}
	target, err := e.Target()
	if err != nil {
		r.Err = err
		return r
	}
	h := e.C.Hosts[target]
	t0 := time.Now()
	if err := sh(h.Agent, "kill -9 $(pidof haproxy)"); err != nil {
		r.Err = err
		return r
	}
	out := e.Prober.WaitRecovered(ctx, t0, e.Stable, recoverWithin)
	r.Figures["gap"] = out.Gap
	if !out.Recovered {
		r.Err = fmt.Errorf("the endpoint did not serve again after HAProxy on %s was killed: %s", target, out)
		return r
	}
	if _, err := check.Eventually(ctx, 30*time.Second, time.Second, func(context.Context) error {
		return sh(h.Agent, "systemctl is-active haproxy")
	}); err != nil {
		r.Err = fmt.Errorf("HAProxy on %s did not come back: %w", target, err)
		return r
	}
	r.Detail = fmt.Sprintf("on %s: %s; systemd restarted it", target, out)
	return r
}

// VIPSteady watches the VIP for d while the cluster is healthy (and under
// whatever load the caller puts on it): it must not move.
func (e *Env) VIPSteady(ctx context.Context, d time.Duration) Result {
	r := Result{Name: "VIP steady"}
	k := e.C.Bundle.Keepalived
	if k == nil {
		r.Detail = "no VIP (external load balancer)"
		return r
	}
	seen := map[string]int{}
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		h, err := check.VIPHolder(e.agents(e.masters()), k.VIP)
		if err != nil {
			r.Err = err
			return r
		}
		seen[strings.Join(h, ",")]++
		time.Sleep(time.Second)
	}
	if len(seen) != 1 {
		r.Err = fmt.Errorf("the VIP moved while the cluster was healthy: held by %v over %s", slices.Sorted(maps.Keys(seen)), d)
		return r
	}
	for h := range seen {
		r.Detail = fmt.Sprintf("on %s for %s", h, d)
	}
	return r
}

func sh(a *agent.Client, cmd string) error {
	r, err := a.Sh(cmd, time.Minute)
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("%s: %s: exit %d: %s", a.Host, cmd, r.Code, strings.TrimSpace(string(r.Stderr)))
	}
	return nil
}

func mustHost(b *bundle.Bundle, name string) bundle.Host {
	h, _ := b.Host(name)
	return h
}

func formatLeaders(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, strings.TrimPrefix(k, "kube-")+"="+m[k])
	}
	return strings.Join(parts, " ")
}
