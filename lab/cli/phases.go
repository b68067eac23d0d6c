package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/apply"
	"github.com/hagen/hagen/lab/bundle"
	"github.com/hagen/hagen/lab/check"
	"github.com/hagen/hagen/lab/cluster"
	"github.com/hagen/hagen/lab/drill"
	hb "github.com/hagen/hagen/render/bundle"
	"k8s.io/client-go/tools/clientcmd"
)

// upChecks proves the applied bundle runs as a control plane: etcd,
// every apiserver, the endpoint with kubectl, the leaders, the Nodes, and
// what the workers dial; with repoint, the bundle's re-pointing scripts on
// the live cluster too. Each waits a bounded time for a cluster that is
// still settling.
func upChecks(ctx context.Context, c *cluster.Cluster, rep *report, repoint bool) (*check.Clients, error) {
	admin, err := c.AdminConf()
	if err != nil {
		return nil, err
	}
	cl := &check.Clients{Dialer: c.Operator.Dialer(c.Resolve), Bundle: c.Bundle, AdminConf: admin}
	b := c.Bundle
	members := b.EtcdMembers()
	took, err := check.Eventually(ctx, 2*time.Minute, 2*time.Second, func(ctx context.Context) error {
		if err := check.EtcdHealthy(ctx, cl, members); err != nil {
			return err
		}
		return check.EtcdWriteRead(ctx, cl, members)
	})
	rep.result("etcd", fmt.Sprintf("%d members healthy over mTLS, one leader, a write read back from each", len(members)), took, err)

	masters := b.Masters()
	for _, m := range masters {
		addr := netip.AddrPortFrom(m.Address, uint16(b.APIServerPort))
		took, err := check.Eventually(ctx, 2*time.Minute, 2*time.Second, func(ctx context.Context) error {
			return check.APIServerReady(ctx, cl, addr)
		})
		rep.result("apiserver "+m.Name, "ready on "+addr.String(), took, err)
	}

	r, err := c.Operator.Agent.Sh("kubectl get --raw /readyz && echo && kubectl get nodes -o name | wc -l", time.Minute, "KUBECONFIG=/root/.kube/config")
	if err == nil && r.Code != 0 {
		err = fmt.Errorf("kubectl through %s: %s", b.Endpoint, strings.TrimSpace(string(r.Stderr)))
	}
	detail := ""
	if f := strings.Fields(string(r.Stdout)); err == nil && len(f) == 2 && f[0] == "ok" {
		detail = fmt.Sprintf("kubectl with admin.conf through %s: readyz ok, %s nodes", b.Endpoint, f[1])
	} else if err == nil {
		err = fmt.Errorf("kubectl through %s printed %q", b.Endpoint, r.Stdout)
	}
	rep.result("endpoint", detail, 0, err)

	kube, err := cl.Kube()
	if err != nil {
		return nil, err
	}
	var leaders map[string]string
	took, err = check.Eventually(ctx, time.Minute, time.Second, func(ctx context.Context) error {
		var err error
		leaders, err = check.Leaders(ctx, kube, names(masters))
		return err
	})
	rep.result("leaders", fmt.Sprintf("controller-manager on %s, scheduler on %s", leaders["kube-controller-manager"], leaders["kube-scheduler"]), took, err)

	nodes := append(names(masters), names(b.With(bundle.RoleWorker))...)
	took, err = check.Eventually(ctx, time.Minute, 2*time.Second, func(ctx context.Context) error {
		return check.NodesRegistered(ctx, kube, nodes)
	})
	joins := len(nodes) - 1
	rep.result("nodes", fmt.Sprintf("exactly the %d kubelet hosts of the bundle; %d kubeadm joins accepted the bootstrap token and pinned the CA (caCertHashes)", len(nodes), joins), took, err)

	peer, perr := endpointAddr(c)
	if perr != nil {
		return nil, perr
	}
	var kp *check.KubeProxy
	took, err = check.Eventually(ctx, 2*time.Minute, 2*time.Second, func(ctx context.Context) error {
		var err error
		if kp, err = check.ReadKubeProxy(ctx, kube); err != nil {
			return err
		}
		return kp.RolledOut(nodes)
	})
	if err == nil {
		var dials time.Duration
		dials, err = check.Eventually(ctx, 30*time.Second, time.Second, func(context.Context) error {
			return check.KubeProxyDials(agentsOf(c, nodes), peer)
		})
		took += dials
	}
	kubeProxyOK := err == nil
	rep.result("kube-proxy", fmt.Sprintf("the DaemonSet rolled out: a ready pod on each of %d nodes (generation %d), every kube-proxy connected to %s", len(nodes), genOf(kp), peer), took, err)

	want := "https://" + b.Endpoint.String()
	var wrong []string
	for _, w := range b.With(bundle.RoleWorker) {
		s, err := check.KubeconfigServer(c.Hosts[w.Name].Agent, "/etc/kubernetes/kubelet.conf")
		if err != nil {
			wrong = append(wrong, err.Error())
		} else if s != want {
			wrong = append(wrong, fmt.Sprintf("%s's kubelet dials %s", w.Name, s))
		}
	}
	cm, err := kubeProxyServer(ctx, cl)
	if err != nil {
		wrong = append(wrong, err.Error())
	} else if cm != want {
		wrong = append(wrong, "kube-proxy's ConfigMap dials "+cm)
	}
	var werr error
	if len(wrong) > 0 {
		werr = fmt.Errorf("%s, want %s", strings.Join(wrong, "; "), want)
	}
	rep.result("workers", fmt.Sprintf("kubelet.conf of %d workers and kube-proxy's ConfigMap dial %s", len(b.With(bundle.RoleWorker)), want), 0, werr)
	if !repoint {
		return cl, nil
	}
	if len(b.With(bundle.RoleWorker)) > 0 {
		rep.result(repointKubelet(c))
	}
	if kubeProxyOK {
		rep.result(repointKubeProxy(ctx, c, kube, nodes, peer))
	}
	return cl, nil
}

// repointKubeProxy shows the bundle's cluster/kube-proxy-repoint.sh doing
// its job on the live cluster: kube-proxy's ConfigMap is set to dial the
// first master's own address (a cluster that grew from a single master),
// the operator runs the script with the admin kubeconfig, as the RUNBOOK
// says; the ConfigMap must then name the endpoint, the script must have
// waited for the DaemonSet's rollout to replace every pod, the new
// kube-proxies must dial the endpoint, and a second run must change
// nothing.
func repointKubeProxy(ctx context.Context, c *cluster.Cluster, kube kubernetes.Interface, nodes []string, peer netip.AddrPort) (string, string, time.Duration, error) {
	const name = "repoint kube-proxy"
	b := c.Bundle
	m0 := b.Init()
	script := filepath.Join(b.Dir, "cluster", "kube-proxy-repoint.sh")
	k := &check.KubeProxyRepoint{
		Kube:   kube,
		Nodes:  nodes,
		Direct: "https://" + netip.AddrPortFrom(m0.Address, uint16(b.APIServerPort)).String(),
		Want:   "https://" + b.Endpoint.String(),
		Run: func() (*agent.ExecReply, error) {
			// The script's rollout status waits up to 5 minutes.
			return c.Operator.Agent.Sh("sh "+script, 6*time.Minute, "KUBECONFIG=/root/.kube/config")
		},
		Dials:  func() error { return check.KubeProxyDials(agentsOf(c, nodes), peer) },
		Settle: 30 * time.Second,
	}
	start := time.Now()
	detail, err := k.Check(ctx)
	return name, "from " + cluster.OperatorName + ": " + detail, time.Since(start), err
}

// endpointAddr is the address and port clients reach the endpoint on: the
// VIP, or what the external load balancer's name resolves to in the lab.
func endpointAddr(c *cluster.Cluster) (netip.AddrPort, error) {
	e := c.Bundle.Endpoint
	a, ok := e.Addr()
	if !ok {
		if a, ok = c.Resolve(e.Host); !ok {
			return netip.AddrPort{}, fmt.Errorf("the lab has no address for the endpoint %s", e)
		}
	}
	return netip.AddrPortFrom(a, uint16(e.Port)), nil
}

// agentsOf are the agents of the named hosts.
func agentsOf(c *cluster.Cluster, hosts []string) map[string]*agent.Client {
	out := map[string]*agent.Client{}
	for _, h := range hosts {
		out[h] = c.Hosts[h].Agent
	}
	return out
}

func genOf(kp *check.KubeProxy) int64 {
	if kp == nil {
		return 0
	}
	return kp.Generation
}

// repointKubelet shows the workers' re-pointing script doing its job on a
// live node: worker0's kubelet is set to dial the first master's own
// address (a node joined to a single master), the script points it at the
// endpoint and restarts the kubelet, and a second run changes nothing and
// restarts nothing.
func repointKubelet(c *cluster.Cluster) (string, string, time.Duration, error) {
	const name = "repoint kubelet"
	b := c.Bundle
	w := b.With(bundle.RoleWorker)[0]
	a := c.Hosts[w.Name].Agent
	m0 := b.Init()
	direct := "https://" + netip.AddrPortFrom(m0.Address, uint16(b.APIServerPort)).String()
	want := "https://" + b.Endpoint.String()
	start := time.Now()
	// As a node joined through master0 alone would have it.
	if err := shOK(a, fmt.Sprintf(`sed -i 's#^    server: .*#    server: %s#' /etc/kubernetes/kubelet.conf`, direct)); err != nil {
		return name, "", 0, err
	}
	pid1 := mainPID(a, "kubelet")
	r, err := a.Sh("/usr/local/sbin/hagen-repoint-kubelet", time.Minute)
	if err != nil {
		return name, "", 0, err
	}
	s, err := check.KubeconfigServer(a, "/etc/kubernetes/kubelet.conf")
	if err != nil {
		return name, "", 0, err
	}
	pid2 := mainPID(a, "kubelet")
	if r.Code != 0 || s != want || pid2 == pid1 {
		return name, "", 0, fmt.Errorf("on %s the script (exit %d, %q) left the kubelet dialling %s (restarted: %v), want %s", w.Name, r.Code, strings.TrimSpace(string(r.Stdout)), s, pid2 != pid1, want)
	}
	r, err = a.Sh("/usr/local/sbin/hagen-repoint-kubelet", time.Minute)
	if err != nil {
		return name, "", 0, err
	}
	if pid3 := mainPID(a, "kubelet"); r.Code != 0 || pid3 != pid2 {
		return name, "", 0, fmt.Errorf("on %s a second run (exit %d, %q) restarted the kubelet", w.Name, r.Code, strings.TrimSpace(string(r.Stdout)))
	}
	return name, fmt.Sprintf("on %s: %s -> %s, the kubelet restarted once; a second run changed nothing", w.Name, direct, want), time.Since(start), nil
}

var mainPIDRE = regexp.MustCompile(`Main PID: (\d+)`)

// mainPID is a unit's main process as systemctl status shows it, "" if
// none.
func mainPID(a *agent.Client, unit string) string {
	r, err := a.Systemctl("status", unit)
	if err != nil {
		return ""
	}
	if m := mainPIDRE.FindSubmatch(r.Stdout); m != nil {
		return string(m[1])
	}
	return ""
}

// drills break the cluster and measure, then check it healed.
func drills(ctx context.Context, c *cluster.Cluster, cl *check.Clients, rep *report) error {
	hc, err := cl.HTTP(time.Second)
	if err != nil {
		return err
	}
	p := &drill.Prober{Client: hc, URL: "https://" + c.Bundle.Endpoint.String() + "/readyz", Interval: 100 * time.Millisecond}
	p.Start(ctx)
	defer p.Stop()
	e := &drill.Env{C: c, Clients: cl, Prober: p, Stable: 5 * time.Second}
	// Each drill starts from a healthy cluster: after a failed one the
	// cluster's state is unknown, and the rest are not run.
	ok := func(r drill.Result) bool {
		rep.drill(r)
		return r.Err == nil
	}
	if c.Bundle.Keepalived != nil && !ok(e.VIPSteady(ctx, 20*time.Second)) {
		return nil
	}
	if n := len(c.Bundle.Masters()); n < 2 {
		rep.note(fmt.Sprintf("drills skipped: apiserver stopped, master halted and master back mean failing over to another master, and %s has %d", filepath.Base(c.Bundle.Dir), n))
		if c.Bundle.HAProxy {
			ok(e.KillHAProxy(ctx))
		}
		return nil
	}
	if !ok(e.StopAPIServer(ctx)) {
		return nil
	}
	r, target := e.HaltMaster(ctx)
	if !ok(r) && target == "" {
		return nil
	}
	if target != "" && !ok(e.BringBack(ctx, target)) {
		return nil
	}
	if c.Bundle.HAProxy {
		ok(e.KillHAProxy(ctx))
	}
	return nil
}

// reapply lays the same bundle again and runs its steps again on the live
// cluster, as a configuration-management tool does on every run: every
// step must succeed, and no static pod, kubelet or service may be
// disrupted, nor a client see an error.
func reapply(ctx context.Context, c *cluster.Cluster, cl *check.Clients, rep *report, log io.Writer, watch func(context.Context, hb.Step) error) error {
	return undisturbed(ctx, c, cl, rep, "re-apply", true, func() (string, error) {
		r := &apply.Runner{Bundle: c.Bundle, Hosts: c.ApplyHosts(), Operator: c, Timeouts: apply.DefaultTimeouts, Log: log, Watch: watch}
		steps, err := r.Run(ctx)
		noteSkipped(rep, "re-apply", steps)
		c.Notes = nil // the first application's notes, again
		return "every step ran again on the live cluster", err
	})
}

// undisturbed runs what a transport does on a live cluster (run) with a
// prober on the endpoint, and reports it under name: run must succeed,
// no service's or static pod's process may change, and, when
// judgeClients, no request may fail meanwhile (otherwise the prober's
// figures are reported, not judged).
func undisturbed(ctx context.Context, c *cluster.Cluster, cl *check.Clients, rep *report, name string, judgeClients bool, run func() (string, error)) error {
	hc, err := cl.HTTP(time.Second)
	if err != nil {
		return err
	}
	before, err := snapshot(c)
	if err != nil {
		return err
	}
	p := &drill.Prober{Client: hc, URL: "https://" + c.Bundle.Endpoint.String() + "/readyz", Interval: 100 * time.Millisecond}
	p.Start(ctx)
	t0 := time.Now()
	what, err := run()
	out := p.WaitRecovered(ctx, t0, 3*time.Second, time.Minute)
	p.Stop()
	var le labError
	if errors.As(err, &le) {
		return le // the lab could not run it: not a finding about the bundle
	}
	if err != nil {
		rep.result(name, what, time.Since(t0), err)
		return nil
	}
	after, err := snapshot(c)
	if err != nil {
		return err
	}
	var changed []string
	for _, k := range sortedKeys(before) {
		if after[k] != before[k] {
			changed = append(changed, fmt.Sprintf("%s (pid %s -> %s)", k, before[k], orDash(after[k])))
		}
	}
	var rerr error
	switch {
	case len(changed) > 0:
		rerr = fmt.Errorf("%s disrupted %s", name, strings.Join(changed, ", "))
	case out.Failed > 0 && judgeClients:
		rerr = fmt.Errorf("clients saw errors during %s: %s", name, out)
	}
	clients := out.String()
	if !judgeClients {
		clients = "endpoint while it ran (not judged, see docs/LAB.md): " + clients
	}
	rep.result(name, fmt.Sprintf("%s; %d processes undisturbed; %s", what, len(before), clients), time.Since(t0), rerr)
	return nil
}

// snapshot records every service's and static pod's process on every
// host.
func snapshot(c *cluster.Cluster) (map[string]string, error) {
	out := map[string]string{}
	for name, h := range c.Hosts {
		for _, u := range []string{"kubelet", "etcd", "keepalived", "haproxy"} {
			if pid := mainPID(h.Agent, u); pid != "" {
				out[name+"/"+u] = pid
			}
		}
		cs, err := h.Agent.ListContainers(nil)
		if err != nil {
			return nil, err
		}
		for _, ct := range cs {
			if ct.Running {
				out[name+"/"+ct.Labels["io.kubernetes.container.name"]+" (static pod)"] = fmt.Sprint(ct.PID)
			}
		}
	}
	return out, nil
}

func names(hs []bundle.Host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func shOK(a *agent.Client, cmd string) error {
	r, err := a.Sh(cmd, time.Minute)
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("%s: %s: exit %d: %s", a.Host, cmd, r.Code, r.Stderr)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type ioWriter = io.Writer

// kubeProxyServer is the server of the kubeconfig in kube-proxy's
// ConfigMap.
func kubeProxyServer(ctx context.Context, cl *check.Clients) (string, error) {
	kube, err := cl.Kube()
	if err != nil {
		return "", err
	}
	cm, err := kube.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("the kube-proxy ConfigMap: %w", err)
	}
	cfg, err := clientcmd.Load([]byte(cm.Data["kubeconfig.conf"]))
	if err != nil {
		return "", fmt.Errorf("the kube-proxy ConfigMap's kubeconfig.conf: %w", err)
	}
	for _, cluster := range cfg.Clusters {
		return cluster.Server, nil
	}
	return "", fmt.Errorf("the kube-proxy ConfigMap's kubeconfig.conf names no cluster")
}

// diagnose adds to a failed step what the host's static pods said last: a
// kubeadm that times out waiting for an apiserver says why no better than
// the apiserver's own log does.
func diagnose(c *cluster.Cluster, f *apply.Failure) string {
	h := c.Hosts[f.Host]
	if h == nil || !h.Running() {
		return ""
	}
	cs, err := h.Agent.ListContainers(nil)
	if err != nil {
		return ""
	}
	var b strings.Builder
	// The services' logs: HAProxy with no server left, keepalived's
	// script, etcd's peers.
	for _, u := range []string{"haproxy", "keepalived", "etcd"} {
		data, err := os.ReadFile(filepath.Join(h.State, "journal", u+".service.log"))
		if err != nil {
			continue
		}
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "ALERT") || strings.Contains(l, "no server available") || strings.Contains(l, "rror") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 3 {
			lines = lines[len(lines)-3:]
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "\n%s on %s:\n  %s", u, f.Host, strings.Join(lines, "\n  "))
		}
	}
	for _, ct := range cs {
		data, err := os.ReadFile(ct.Log)
		if err != nil {
			continue
		}
		var errs []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "rror") || strings.Contains(l, "failed") || strings.Contains(l, "x509") {
				errs = append(errs, l)
			}
		}
		if len(errs) == 0 && ct.Running {
			continue
		}
		state := "running"
		if !ct.Running {
			state = fmt.Sprintf("exited %d", ct.ExitCode)
		}
		fmt.Fprintf(&b, "\n%s on %s (%s):", ct.Labels["io.kubernetes.container.name"], f.Host, state)
		if len(errs) > 3 {
			errs = errs[len(errs)-3:]
		}
		for _, l := range errs {
			if len(l) > 300 {
				l = l[:300] + "..."
			}
			b.WriteString("\n  " + l)
		}
	}
	return b.String()
}
