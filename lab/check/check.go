package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/bundle"
)

// Eventually calls f until it succeeds or timeout passes, and returns its
// last error and how long it took. Every wait of the lab is bounded.
func Eventually(ctx context.Context, timeout, every time.Duration, f func(context.Context) error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, min(15*time.Second, time.Until(deadline)+time.Second))
		err := f(cctx)
		cancel()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("%w (still failing after %s)", err, timeout.Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(every):
		}
	}
}

// EtcdHealthy: every member answers over mutual TLS, they agree on one
// leader and on the membership the bundle gives, and a key written
// through one member is read from every other (a linearizable read).
func EtcdHealthy(ctx context.Context, cl *Clients, members []bundle.Host) error {
	eps := make([]string, len(members))
	for i, m := range members {
		eps[i] = "https://" + net.JoinHostPort(m.Address.String(), "2379")
	}
	cli, err := cl.Etcd(eps)
	if err != nil {
		return err
	}
	defer cli.Close()
	leaders := map[uint64]bool{}
	for _, ep := range eps {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			return fmt.Errorf("etcd %s: %w", ep, err)
		}
		leaders[st.Leader] = true
		if len(st.Errors) > 0 {
			return fmt.Errorf("etcd %s: %s", ep, strings.Join(st.Errors, "; "))
		}
	}
	if len(leaders) != 1 || leaders[0] {
		return fmt.Errorf("etcd members see %d leaders", len(leaders))
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, m := range ml.Members {
		if m.IsLearner {
			return fmt.Errorf("etcd member %s is still a learner", m.Name)
		}
		names = append(names, m.Name)
	}
	return etcdWriteRead(ctx, cli, eps, names, members)
}

func etcdWriteRead(ctx context.Context, cli *clientv3.Client, eps, names []string, members []bundle.Host) error {
	want := make([]string, len(members))
	for i, m := range members {
		want[i] = m.Name
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		return fmt.Errorf("etcd members %v, the bundle's are %v", names, want)
	}
	return nil
}

// EtcdWriteRead writes a key through the members and reads it back from
// each one alone (a linearizable read: it needs that member's quorum).
func EtcdWriteRead(ctx context.Context, cl *Clients, members []bundle.Host) error {
	eps := make([]string, len(members))
	for i, m := range members {
		eps[i] = "https://" + net.JoinHostPort(m.Address.String(), "2379")
	}
	cli, err := cl.Etcd(eps)
	if err != nil {
		return err
	}
	defer cli.Close()
	key, val := "/hagen-lab/probe", strconv.FormatInt(time.Now().UnixNano(), 10)
	if _, err := cli.Put(ctx, key, val); err != nil {
		return fmt.Errorf("etcd write: %w", err)
	}
	for _, ep := range eps {
		one, err := cl.Etcd([]string{ep})
		if err != nil {
			return err
		}
		r, err := one.Get(ctx, key)
		one.Close()
		if err != nil {
			return fmt.Errorf("etcd read from %s: %w", ep, err)
		}
		if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != val {
			return fmt.Errorf("etcd read from %s: the key written is not there", ep)
		}
	}
	return nil
}

// APIServerReady: the apiserver on addr answers /readyz with "ok".
func APIServerReady(ctx context.Context, cl *Clients, addr netip.AddrPort) error {
	cfg, err := cl.REST(addr.String())
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	body, err := kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("apiserver %s: /readyz: %w", addr, err)
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("apiserver %s: /readyz says %q", addr, body)
	}
	return nil
}

// Leaders: the controller-manager and scheduler leases are held by a
// master and renewed within their duration.
func Leaders(ctx context.Context, kube kubernetes.Interface, masters []string) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler"} {
		l, err := kube.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("lease %s: %w", name, err)
		}
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder, _, _ = strings.Cut(*l.Spec.HolderIdentity, "_")
		}
		if !slices.Contains(masters, holder) {
			return nil, fmt.Errorf("lease %s is held by %q, not a live master", name, holder)
		}
		if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil ||
			time.Since(l.Spec.RenewTime.Time) > time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second {
			return nil, fmt.Errorf("lease %s (held by %s) is not being renewed", name, holder)
		}
		out[name] = holder
	}
	return out, nil
}

// NodesRegistered: the Nodes are exactly the hosts that run kubeadm's
// kubelet: every one has a Node, and no other Node is left (a master or
// worker the render dropped must have been deleted).
func NodesRegistered(ctx context.Context, kube kubernetes.Interface, want []string) error {
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	var extra []string
	for _, n := range nodes.Items {
		have[n.Name] = true
		if !slices.Contains(want, n.Name) {
			extra = append(extra, n.Name)
		}
	}
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	var errs []string
	if len(missing) > 0 {
		errs = append(errs, "no Node for "+strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		errs = append(errs, fmt.Sprintf("Nodes %s are not hosts of the bundle: the steps left them behind", strings.Join(extra, ", ")))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// KubeconfigServer reads the server of a kubeconfig on a host.
func KubeconfigServer(a *agent.Client, path string) (string, error) {
	data, ok, err := a.ReadFile(path)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%s: %s does not exist", a.Host, path)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", a.Host, path, err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.Clusters[ctx.Cluster] == nil {
		return "", fmt.Errorf("%s: %s has no current cluster", a.Host, path)
	}
	return cfg.Clusters[ctx.Cluster].Server, nil
}

// VIPHolder names the hosts that carry the VIP now (one, when all is
// well).
func VIPHolder(masters map[string]*agent.Client, vip netip.Addr) ([]string, error) {
	var out []string
	var errs []error
	for name, a := range masters {
		r, err := a.Exec(agent.ExecArgs{Argv: []string{"ip", "-o", "addr", "show", "to", vip.String()}, Timeout: 5 * time.Second})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.TrimSpace(string(r.Stdout)) != "" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, errors.Join(errs...)
}
