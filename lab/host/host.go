// Package host builds the lab's machines: a network namespace holding a
// bridge, one network namespace per host plugged into it, and per host an
// agent (lab/agent) as PID 1 of fresh PID, mount and UTS namespaces. It is
// the only code that calls ip(8), and it keeps a record of everything it
// made, so that Close (or a later run) ends exactly that: the agents it
// started, by PID, the namespaces it added, the tmpfs it mounted.
//
// Nothing it builds touches the machine's network: the bridge lives in a
// namespace of its own, no interface is moved into or created in the
// machine's namespace, and so a spec's real addresses are used as they are.
package host

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/netns"
)

// Lab is one run's set of machines.
type Lab struct {
	ID    string // short and random: it prefixes every name the run makes
	State string // the run's tmpfs
	self  string // the hagen-lab binary, which is also the agent

	// Detach leaves the hosts running when the lab process ends (--keep):
	// without it, every agent gets SIGKILL when the lab dies, however it
	// dies.
	Detach bool

	mu      sync.Mutex
	hosts   map[string]*Host
	netns   []string // created, in order
	mounted bool
	spawn   chan func()
}

// Host is one machine of the lab.
type Host struct {
	Name  string
	NetNS string // the network namespace's name (/run/netns/NAME)
	Iface string
	Addr  netip.Prefix // its address with the prefix of its link
	State string       // its state directory

	lab    *Lab
	veth   string // the bridge side of its link
	mu     sync.Mutex
	agent  *exec.Cmd
	pid    int
	exited chan struct{}
	Agent  *agent.Client
}

// record is what a run leaves in its state directory, for a later run to
// clean up after a lab that was killed before it could.
type record struct {
	PID    int      `json:"pid"` // the lab process
	NetNS  []string `json:"netns"`
	Agents []int    `json:"agents"`
	State  string   `json:"state"`
}

// RecordDir holds one record per running lab.
const RecordDir = "/run/hagen-lab"

// New makes the run's state tmpfs and the bridge namespace.
func New(stateRoot string) (*Lab, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	l := &Lab{ID: hex.EncodeToString(b), self: self, hosts: map[string]*Host{}, spawn: make(chan func())}
	// Agents are started from one thread that never exits: the kernel
	// sends an agent its parent-death signal when the thread that forked
	// it ends, and Go ends threads at will.
	go func() {
		runtime.LockOSThread()
		for f := range l.spawn {
			f()
		}
	}()
	l.State = filepath.Join(stateRoot, "hagen-lab-"+l.ID)
	if err := os.MkdirAll(l.State, 0o700); err != nil {
		return nil, err
	}
	if err := unix.Mount("tmpfs", l.State, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		os.Remove(l.State)
		return nil, fmt.Errorf("mounting the lab's tmpfs on %s: %w", l.State, err)
	}
	l.mounted = true
	// Each host's PID 1 is its service manager, and programs look: keepalived
	// sends systemd's READY=1 only when /proc/1/stat names "systemd". The
	// kernel takes a process's name from the path it was started by, so the
	// agent starts through a link of that name.
	if err := os.MkdirAll(filepath.Join(l.State, "bin"), 0o755); err != nil {
		l.Close()
		return nil, err
	}
	if err := os.Symlink(self, l.initPath()); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.addNetNS(l.bridgeNS()); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.ip(l.bridgeNS(), "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.ip(l.bridgeNS(), "link", "set", "br0", "up"); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) bridgeNS() string { return "hl-" + l.ID + "-net" }

// initPath is the link every agent starts through.
func (l *Lab) initPath() string { return filepath.Join(l.State, "bin", "systemd") }

func (l *Lab) addNetNS(name string) error {
	if err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	l.mu.Lock()
	l.netns = append(l.netns, name)
	l.mu.Unlock()
	if err := l.saveRecord(); err != nil {
		return err
	}
	return l.ip(name, "link", "set", "lo", "up")
}

// ip runs `ip -n NS args...`.
func (l *Lab) ip(ns string, args ...string) error {
	return run("ip", append([]string{"-n", ns}, args...)...)
}

func run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// AddHost makes a host's network namespace and plugs it into the bridge
// with address addr on an interface named iface. A /32 or /128 address
// (a host whose spec gives no prefix) reaches the others through an
// on-link default route; every host has one, as kube-proxy and the
// apiserver look for a default route to pick their address.
func (l *Lab) AddHost(name, iface string, addr netip.Prefix) (*Host, error) {
	l.mu.Lock()
	if _, dup := l.hosts[name]; dup {
		l.mu.Unlock()
		return nil, fmt.Errorf("host %s twice", name)
	}
	h := &Host{Name: name, NetNS: "hl-" + l.ID + "-" + name, Iface: iface, Addr: addr, lab: l,
		veth: fmt.Sprintf("h%d", len(l.hosts)), State: filepath.Join(l.State, "hosts", name)}
	l.hosts[name] = h
	l.mu.Unlock()
	if err := os.MkdirAll(h.State, 0o700); err != nil {
		return nil, err
	}
	h.Agent = agent.Dial(name, agent.Socket(h.State))
	if err := l.addNetNS(h.NetNS); err != nil {
		return nil, err
	}
	steps := [][]string{
		{l.bridgeNS(), "link", "add", h.veth, "type", "veth", "peer", "name", iface, "netns", h.NetNS},
		{l.bridgeNS(), "link", "set", h.veth, "master", "br0", "up"},
		{h.NetNS, "link", "set", iface, "up"},
	}
	add := []string{h.NetNS, "addr", "add", addr.String(), "dev", iface}
	if addr.Addr().Is6() {
		// No duplicate address detection: the address would stay
		// tentative for a second or two, and nothing else owns it.
		add = append(add, "nodad")
	}
	steps = append(steps, add)
	for _, s := range steps {
		if err := l.ip(s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	return h, h.route()
}

// route sets the host's on-link default route. The kernel drops it when
// the link goes down; a machine's network configuration puts it back when
// the link returns, and so does SetLink.
func (h *Host) route() error {
	if h.Addr.Addr().Is6() {
		return h.lab.ip(h.NetNS, "-6", "route", "replace", "default", "dev", h.Iface)
	}
	return h.lab.ip(h.NetNS, "route", "replace", "default", "dev", h.Iface)
}

// NSPath is the host's network namespace, for netns.Dialer.
func (h *Host) NSPath() string { return "/run/netns/" + h.NetNS }

// Dialer opens connections from this host's network namespace.
func (h *Host) Dialer(resolve func(string) (netip.Addr, bool)) *netns.Dialer {
	return &netns.Dialer{Path: h.NSPath(), Resolve: resolve}
}

// Boot starts the host's agent, which mounts its filesystem, sets its
// hostname and starts the units enabled for boot, and waits for it to
// answer.
func (h *Host) Boot(sysctls map[string]string) error { return h.boot(sysctls, false) }

// BootToInstall boots the machine to install it: nothing enabled on its
// disk starts.
func (h *Host) BootToInstall(sysctls map[string]string) error { return h.boot(sysctls, true) }

func (h *Host) boot(sysctls map[string]string, installing bool) error {
	cfg, err := json.Marshal(agent.Config{Host: h.Name, State: h.State, Sysctls: sysctls, Installing: installing})
	if err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(h.State, "agent.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("ip", "netns", "exec", h.NetNS, h.lab.initPath(), "agent", string(cfg))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
	}
	if !h.lab.Detach {
		// Should the lab die without cleaning up, its hosts die with it.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	errc := make(chan error, 1)
	h.lab.spawn <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		return fmt.Errorf("%s: starting the agent: %w", h.Name, err)
	}
	h.mu.Lock()
	h.agent, h.pid = cmd, cmd.Process.Pid
	h.mu.Unlock()
	if err := h.lab.saveRecord(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	h.exited = exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			msg, _ := os.ReadFile(filepath.Join(h.State, "agent.log"))
			return fmt.Errorf("%s: the agent exited: %s", h.Name, lastLines(msg, 5))
		default:
		}
		if _, err := h.Agent.Exec(agent.ExecArgs{Argv: []string{"true"}, Timeout: 5 * time.Second}); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the agent did not answer within 30s", h.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Halt ends every process of the host at once, as pulling its power does:
// the agent is PID 1 of the host's PID namespace, and the kernel ends the
// rest with it. The host's disk (its overlays) stays.
func (h *Host) Halt() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.agent == nil {
		return nil
	}
	if err := syscall.Kill(h.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	select {
	case <-h.exited:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s: the agent (pid %d) did not exit", h.Name, h.pid)
	}
	h.agent = nil
	return nil
}

// Running reports whether the host's agent runs.
func (h *Host) Running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.agent != nil
}

// HaltAll halts every host at once: on an interruption or a timeout,
// whatever the run is waiting for fails at once, and cleanup follows.
func (l *Lab) HaltAll() {
	l.mu.Lock()
	hosts := make([]*Host, 0, len(l.hosts))
	for _, h := range l.hosts {
		hosts = append(hosts, h)
	}
	l.mu.Unlock()
	for _, h := range hosts {
		_ = h.Halt()
	}
}

// SetLink takes the host's link down or up.
func (h *Host) SetLink(up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	if err := h.lab.ip(h.NetNS, "link", "set", h.Iface, state); err != nil {
		return err
	}
	if up {
		return h.route()
	}
	return nil
}

// Hosts returns the lab's hosts.
func (l *Lab) Host(name string) *Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hosts[name]
}

func (l *Lab) saveRecord() error {
	l.mu.Lock()
	r := record{PID: os.Getpid(), NetNS: append([]string(nil), l.netns...), State: l.State}
	for _, h := range l.hosts {
		if h.agent != nil {
			r.Agents = append(r.Agents, h.pid)
		}
	}
	l.mu.Unlock()
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(RecordDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(RecordDir, l.ID+".json"), data, 0o600)
}

// Close ends everything the run made, also after a failure: every agent
// (and so every process of every host), by PID; every network namespace
// it added, after ending any process still in it (processes of its own
// hosts); the state tmpfs. It reports what it could not undo.
func (l *Lab) Close() error {
	var errs []error
	l.mu.Lock()
	hosts := make([]*Host, 0, len(l.hosts))
	for _, h := range l.hosts {
		hosts = append(hosts, h)
	}
	l.mu.Unlock()
	for _, h := range hosts {
		if err := h.Halt(); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(l.netns) - 1; i >= 0; i-- {
		ns := l.netns[i]
		killNetNSPids(ns)
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if l.mounted {
		if err := unix.Unmount(l.State, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", l.State, err))
		} else {
			l.mounted = false
			_ = os.Remove(l.State)
		}
	}
	close(l.spawn)
	if len(errs) == 0 {
		_ = os.Remove(filepath.Join(RecordDir, l.ID+".json"))
	}
	return errors.Join(errs...)
}

// killNetNSPids ends the processes still in a namespace the lab made:
// only the lab's hosts ever ran anything there.
func killNetNSPids(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// CleanStale removes what earlier runs left behind: a run kept with --keep,
// or one killed before it could clean up. It reads their records and ends
// only what they made: agents still running the lab's binary (checked in
// /proc, since a PID may have been reused), their network namespaces,
// their tmpfs. A record of a lab that still runs is left alone.
func CleanStale(w io.Writer) error {
	entries, err := os.ReadDir(RecordDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		path := filepath.Join(RecordDir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r record
		if err := json.Unmarshal(data, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		if r.PID != os.Getpid() && isLab(r.PID) {
			fmt.Fprintf(w, "hagen-lab: %s belongs to a lab that still runs (pid %d)\n", e.Name(), r.PID)
			continue
		}
		for _, pid := range r.Agents {
			if isAgent(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		id := strings.TrimSuffix(e.Name(), ".json")
		for _, ns := range r.NetNS {
			if !strings.HasPrefix(ns, "hl-"+id+"-") {
				continue // not a name this lab makes
			}
			killNetNSPids(ns)
			if err := run("ip", "netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
				errs = append(errs, err)
			}
		}
		if r.State != "" && strings.Contains(filepath.Base(r.State), "hagen-lab-"+id) {
			_ = unix.Unmount(r.State, unix.MNT_DETACH)
			_ = os.Remove(r.State)
		}
		fmt.Fprintf(w, "hagen-lab: removed the lab %s\n", id)
		_ = os.Remove(path)
	}
	return errors.Join(errs...)
}

func cmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.ReplaceAll(string(b), "\x00", " ")
}

func isLab(pid int) bool   { return strings.Contains(cmdline(pid), "hagen-lab") }
func isAgent(pid int) bool { return strings.Contains(cmdline(pid), " agent {") }
