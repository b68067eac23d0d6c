// Package cluster builds the lab's machines for a bundle and keeps them
// for the bundles that follow (the next renders of the same cluster): a
// host per bundle host, on the address and interface the bundle gives it;
// an operator's workstation (kubectl, the bundle's cluster/ scripts); and,
// when the bundle's endpoint is an external load balancer, a machine that
// plays it with an HAProxy of the lab's own. It carries out the RUNBOOK
// steps that are an operator's.
package cluster

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/apply"
	"github.com/hagen/hagen/lab/bundle"
	"github.com/hagen/hagen/lab/host"
	"github.com/hagen/hagen/lab/machine"
	hb "github.com/hagen/hagen/render/bundle"
)

// Cluster is the lab's machines.
type Cluster struct {
	Lab      *host.Lab
	Bundle   *bundle.Bundle // the bundle applied last
	Kit      *machine.Kit
	Hosts    map[string]*host.Host // by bundle host name
	Operator *host.Host
	// LB plays an external load balancer; nil when the masters carry the
	// endpoint (keepalived).
	LB *host.Host
	// Names are every name the hosts resolve (/etc/hosts).
	Names map[string]netip.Addr
	// Notes are what the lab did not do, or did in place of a person.
	Notes []string

	// ssh, when set, is the operator's key pair: every bundle host runs
	// sshd and lets the operator in as root (the Ansible transport).
	ssh      *sshKeys
	self     string
	log      io.Writer
	lbOn     []string // the masters the external load balancer routes to
	retiring []string // hosts the bundle dropped, still running
}

// Sysctls every host is booted with: kubeadm's preflight wants IP
// forwarding, a node's usual setup (per network namespace here).
var Sysctls = map[string]string{
	"net.ipv4.ip_forward":                 "1",
	"net.ipv6.conf.all.forwarding":        "1",
	"net.ipv6.conf.default.forwarding":    "1",
	"net.ipv4.conf.all.arp_announce":      "2",
	"net.ipv6.conf.all.keep_addr_on_down": "1",
}

// OperatorName and LBName are the lab's own machines.
const (
	OperatorName = "lab-operator"
	LBName       = "lab-lb"
)

// Options are how the machines are built.
type Options struct {
	// SSH makes every bundle host reachable over SSH from the operator's
	// workstation (root, key authentication, known host keys), for a
	// transport that logs in: Ansible.
	SSH bool
}

// Build makes and boots the machines for b.
func Build(l *host.Lab, b *bundle.Bundle, bin string, log io.Writer, opts Options) (*Cluster, error) {
	kit, err := machine.KitFor(bin, b.Manifest.Software)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Lab: l, Bundle: b, Kit: kit, Hosts: map[string]*host.Host{}, Names: map[string]netip.Addr{}, self: self, log: log}
	if opts.SSH {
		if c.ssh, err = newSSHKeys(l.State); err != nil {
			return nil, err
		}
	}
	iface := c.iface()
	used := map[netip.Addr]bool{}
	for _, h := range b.Hosts {
		used[h.Address] = true
		c.Names[h.Name] = h.Address
	}
	if b.Keepalived != nil {
		used[b.Keepalived.VIP] = true
	}
	subnet := c.subnet()
	for _, h := range b.Hosts {
		hh, err := l.AddHost(h.Name, iface, c.prefixOf(h))
		if err != nil {
			return nil, err
		}
		c.Hosts[h.Name] = hh
	}
	// The operator's workstation and the load balancer take free
	// addresses at the top of the hosts' subnet.
	free := freeAddrs(subnet, used)
	opAddr := <-free
	if c.Operator, err = l.AddHost(OperatorName, iface, netip.PrefixFrom(opAddr, c.bits(opAddr, subnet))); err != nil {
		return nil, err
	}
	if b.Keepalived == nil {
		lbAddr, isIP := b.Endpoint.Addr()
		if !isIP {
			lbAddr = <-free
			c.Names[b.Endpoint.Host] = lbAddr
		}
		if c.LB, err = l.AddHost(LBName, iface, netip.PrefixFrom(lbAddr, c.bits(lbAddr, subnet))); err != nil {
			return nil, err
		}
	}
	for _, h := range c.Machines() {
		if err := c.provision(h); err != nil {
			return nil, err
		}
	}
	if err := c.writeKnownHosts(); err != nil {
		return nil, err
	}
	return c, nil
}

// Next makes b, the next render of the same cluster, the lab's bundle:
// every host it adds gets a machine (installed and booted, its name in
// every machine's /etc/hosts), as an operator provisions a new node
// before applying the render. Hosts it drops keep running until its steps
// have run (Retire ends them).
func (c *Cluster) Next(b *bundle.Bundle) error {
	if b.Manifest.Software != c.Bundle.Manifest.Software {
		return fmt.Errorf("the next bundle is for Kubernetes %s and etcd %s, the cluster runs %s and %s: the lab does not upgrade clusters",
			b.Manifest.Software.Kubernetes, b.Manifest.Software.Etcd, c.Bundle.Manifest.Software.Kubernetes, c.Bundle.Manifest.Software.Etcd)
	}
	prev := c.Bundle
	c.Bundle = b
	var added []*host.Host
	for _, h := range b.Hosts {
		if _, ok := c.Hosts[h.Name]; ok {
			continue
		}
		c.Names[h.Name] = h.Address
		hh, err := c.Lab.AddHost(h.Name, c.iface(), c.prefixOf(h))
		if err != nil {
			return err
		}
		c.Hosts[h.Name] = hh
		added = append(added, hh)
	}
	for _, h := range added {
		if err := c.provision(h); err != nil {
			return err
		}
		c.note(fmt.Sprintf("the next render adds %s: a new machine was installed for it", h.Name))
	}
	if err := c.writeKnownHosts(); err != nil {
		return err
	}
	if len(added) > 0 {
		// Every machine learns the new names, as DNS would.
		for _, h := range c.Machines() {
			if !h.Running() {
				continue
			}
			if err := h.Agent.WriteFile(agent.FileArgs{Path: "/etc/hosts", Data: machine.HostsFile(c.Names), Mode: 0o644}); err != nil {
				return err
			}
		}
	}
	c.retiring = nil
	for _, h := range prev.Hosts {
		if _, ok := b.Host(h.Name); !ok {
			c.retiring = append(c.retiring, h.Name)
		}
	}
	return nil
}

// Retire powers off the machines of hosts the bundle dropped, once its
// steps have taken them out of the cluster.
func (c *Cluster) Retire() error {
	for _, name := range c.retiring {
		h := c.Hosts[name]
		if err := h.Halt(); err != nil {
			return err
		}
		delete(c.Hosts, name)
		c.note(fmt.Sprintf("the render drops %s: its machine is powered off", name))
	}
	c.retiring = nil
	return nil
}

func (c *Cluster) iface() string {
	if c.Bundle.Keepalived != nil {
		return c.Bundle.Keepalived.Iface
	}
	return "eth0"
}

// prefixOf is a host's address with the prefix of its link.
func (c *Cluster) prefixOf(h bundle.Host) netip.Prefix {
	if h.Prefix.IsValid() {
		return netip.PrefixFrom(h.Address, h.Prefix.Bits())
	}
	if subnet := c.subnet(); c.Bundle.Keepalived != nil && subnet.Contains(h.Address) {
		return netip.PrefixFrom(h.Address, subnet.Bits())
	}
	return netip.PrefixFrom(h.Address, h.Address.BitLen())
}

// Machines are every lab machine: the bundle's hosts, the operator's, the
// load balancer's.
func (c *Cluster) Machines() []*host.Host {
	var out []*host.Host
	for _, n := range slices.Sorted(maps.Keys(c.Hosts)) {
		out = append(out, c.Hosts[n])
	}
	out = append(out, c.Operator)
	if c.LB != nil {
		out = append(out, c.LB)
	}
	return out
}

// provision installs a machine and reboots it, so that it comes up as a
// freshly installed node: its enabled units running (the kubelet waiting
// for kubeadm).
func (c *Cluster) provision(h *host.Host) error {
	if err := h.BootToInstall(Sysctls); err != nil {
		return err
	}
	if err := machine.Install(h, c.Kit, c.self, c.Names); err != nil {
		return fmt.Errorf("%s: installing: %w", h.Name, err)
	}
	if err := c.installSSH(h); err != nil {
		return fmt.Errorf("%s: installing sshd: %w", h.Name, err)
	}
	if err := h.Halt(); err != nil {
		return err
	}
	return h.Boot(Sysctls)
}

// subnet is the hosts' link: the masters' keepalived subnet, or the /24
// (/64) of the first host.
func (c *Cluster) subnet() netip.Prefix {
	for _, h := range c.Bundle.Hosts {
		if h.Prefix.IsValid() {
			return h.Prefix
		}
	}
	a := c.Bundle.Hosts[0].Address
	bits := 24
	if a.Is6() {
		bits = 64
	}
	return netip.PrefixFrom(a, bits).Masked()
}

func (c *Cluster) bits(a netip.Addr, subnet netip.Prefix) int {
	if c.Bundle.Keepalived != nil && subnet.Contains(a) {
		return subnet.Bits()
	}
	return a.BitLen()
}

// freeAddrs yields unused addresses from the top of a subnet down.
func freeAddrs(p netip.Prefix, used map[netip.Addr]bool) <-chan netip.Addr {
	ch := make(chan netip.Addr)
	go func() {
		a := lastAddr(p)
		if a.Is4() {
			a = a.Prev() // not the broadcast address
		}
		for ; p.Contains(a); a = a.Prev() {
			if !used[a] {
				ch <- a
			}
		}
		close(ch)
	}()
	return ch
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Resolve maps the names the lab knows to addresses, for dialers.
func (c *Cluster) Resolve(name string) (netip.Addr, bool) {
	a, ok := c.Names[name]
	return a, ok
}

// ApplyHosts is the hosts as the apply runner sees them.
func (c *Cluster) ApplyHosts() map[string]apply.Host {
	out := map[string]apply.Host{}
	for n, h := range c.Hosts {
		out[n] = h.Agent
	}
	return out
}

// Act carries out the RUNBOOK's operator steps.
func (c *Cluster) Act(ctx context.Context, s hb.Step) error {
	switch s.Name {
	case "start-load-balancer":
		// An external load balancer: point it at the first master alone
		// (kubeadm health-checks through it while the others have no
		// apiserver yet), unless the cluster already runs, as the step's
		// note says.
		if c.initialised() {
			c.note("start-load-balancer: the cluster already runs: the load balancer is left as it is")
			return nil
		}
		return c.balance(c.Bundle.Masters()[:1])
	case "add-masters-to-load-balancer":
		return c.balance(c.Bundle.Masters())
	case "remove-masters-from-load-balancer":
		// The masters that leave go out of the pool before they are
		// drained and reset: the load balancer routes to this render's.
		return c.balance(c.Bundle.Masters())
	case "install-cni":
		c.note("install-cni: not carried out: the lab has no container runtime, so no pod network; Nodes stay NotReady, as the RUNBOOK says they do until a CNI runs")
		return nil
	case "repoint-kube-proxy":
		return c.repointKubeProxy()
	}
	return fmt.Errorf("the lab does not know how to carry out the operator step %q (%s)", s.Name, s.Note)
}

func (c *Cluster) note(s string) {
	c.Notes = append(c.Notes, s)
	if c.log != nil {
		fmt.Fprintln(c.log, "  note: "+s)
	}
}

// lbConfig is the lab's external load balancer: TCP passthrough to the
// apiservers with fast health checks, as a cloud's is set up.
func (c *Cluster) lbConfig(masters []bundle.Host) string {
	var b strings.Builder
	b.WriteString("# The lab's stand-in for an external load balancer.\n")
	b.WriteString("global\n    maxconn 4000\n\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 1h\n    timeout server 1h\n    retries 2\n    option redispatch\n\n")
	fmt.Fprintf(&b, "frontend apiserver\n    bind :::%d v4v6\n    default_backend apiservers\n\n", c.Bundle.Endpoint.Port)
	b.WriteString("backend apiservers\n    option httpchk\n    http-check connect ssl\n    http-check send meth GET uri /healthz\n    http-check expect status 200\n")
	for _, m := range masters {
		fmt.Fprintf(&b, "    server %s %s check verify none inter 1s fall 2 rise 2\n", m.Name, netip.AddrPortFrom(m.Address, uint16(c.Bundle.APIServerPort)))
	}
	return b.String()
}

func (c *Cluster) balance(masters []bundle.Host) error {
	if c.LB == nil {
		return fmt.Errorf("the bundle's steps configure an external load balancer, but its endpoint %s is a keepalived VIP", c.Bundle.Endpoint)
	}
	names := make([]string, len(masters))
	for i, m := range masters {
		names[i] = m.Name
	}
	if slices.Equal(names, c.lbOn) {
		return nil
	}
	if err := c.LB.Agent.WriteFile(agent.FileArgs{Path: "/etc/haproxy/haproxy.cfg", Data: []byte(c.lbConfig(masters)), Mode: 0o644}); err != nil {
		return err
	}
	r, err := c.LB.Agent.Systemctl("reload-or-restart", "haproxy")
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("the lab's load balancer did not start: %s", r.Stderr)
	}
	c.lbOn = names
	c.note(fmt.Sprintf("the lab's load balancer %s routes to %s", c.Bundle.Endpoint, strings.Join(names, ", ")))
	return nil
}

// initialised reports whether kubeadm init has run: the init host (the
// manifest's first master) has an admin.conf.
func (c *Cluster) initialised() bool {
	h := c.Hosts[c.Bundle.Init().Name]
	if h == nil || !h.Running() {
		return false
	}
	_, ok, err := h.Agent.ReadFile("/etc/kubernetes/admin.conf")
	return err == nil && ok
}

// AdminConf puts the cluster's admin.conf on the operator's workstation,
// where kubectl and the bundle's cluster/ scripts use it: the init host's,
// or, while that machine is down or being replaced, the first other
// running master's (kubeadm join --control-plane writes one on each).
func (c *Cluster) AdminConf() ([]byte, error) {
	var data []byte
	var tried []string
	for _, m := range c.Bundle.Masters() {
		h := c.Hosts[m.Name]
		if h == nil || !h.Running() {
			tried = append(tried, m.Name+" (not running)")
			continue
		}
		d, ok, err := h.Agent.ReadFile("/etc/kubernetes/admin.conf")
		if err != nil {
			return nil, err
		}
		if ok {
			data = d
			break
		}
		tried = append(tried, m.Name)
	}
	if data == nil {
		return nil, fmt.Errorf("no master has /etc/kubernetes/admin.conf (%s): kubeadm init did not run", strings.Join(tried, ", "))
	}
	if err := c.Operator.Agent.WriteFile(agent.FileArgs{Path: "/root/.kube/config", Data: data, Mode: 0o600}); err != nil {
		return nil, err
	}
	return data, nil
}

// Wipe replaces a host's machine by a freshly installed one under the same
// name and address: the machine is halted (every process ends at once),
// its disk (/etc, /var with etcd's data directory, /root, /opt, /usr) is
// emptied, and it is installed and booted as Build's are. Its old logs are
// kept aside for a finding.
func (c *Cluster) Wipe(name string) error {
	h := c.Hosts[name]
	if h == nil {
		return fmt.Errorf("the lab has no machine %s", name)
	}
	if err := h.Halt(); err != nil {
		return err
	}
	for _, d := range []string{"root", "containers"} {
		if err := os.RemoveAll(filepath.Join(h.State, d)); err != nil {
			return fmt.Errorf("%s: wiping its disk: %w", name, err)
		}
	}
	j := filepath.Join(h.State, "journal")
	if _, err := os.Stat(j); err == nil {
		old := j + ".before-wipe"
		_ = os.RemoveAll(old)
		if err := os.Rename(j, old); err != nil {
			return err
		}
	}
	return c.provision(h)
}

// repointKubeProxy runs the bundle's cluster/kube-proxy-repoint.sh from the
// operator's workstation with the admin kubeconfig, as the RUNBOOK says.
func (c *Cluster) repointKubeProxy() error {
	if _, err := c.AdminConf(); err != nil {
		return err
	}
	script := c.Bundle.Dir + "/cluster/kube-proxy-repoint.sh"
	r, err := c.Operator.Agent.Sh("sh "+script, 6*time.Minute, "KUBECONFIG=/root/.kube/config")
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return &apply.Failure{Step: "repoint-kube-proxy", Host: OperatorName, Command: "sh " + script, Code: r.Code, Output: string(r.Stdout) + string(r.Stderr)}
	}
	c.note("repoint-kube-proxy: " + strings.TrimSpace(string(r.Stdout)))
	return nil
}
