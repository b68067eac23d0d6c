package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler/model"
)

// systemdPath is the PATH systemd gives services.
const systemdPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// memberCommand is how the host's service manager would start its etcd
// member: argv (argv[0] is the binary) and the environment.
type memberCommand struct {
	argv []string
	env  []string
}

// parseEnvFile reads a systemd EnvironmentFile: KEY=VALUE lines, # and ;
// comments, optional single or double quotes.
func parseEnvFile(data []byte) ([]string, error) {
	var env []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(strings.TrimPrefix(k, "export "))
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", n, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env = append(env, k+"="+v)
	}
	return env, sc.Err()
}

// systemdCommand reads host's etcd.service and its EnvironmentFile from the
// bundle, as systemd would, and substitutes binary for the unit's program.
func systemdCommand(f *fixture, host, binary string) (memberCommand, error) {
	data, ok := f.hostFile(host, etcdUnit)
	if !ok {
		return memberCommand{}, fmt.Errorf("%s: no %s", host, etcdUnit)
	}
	u, err := parseUnit(data)
	if err != nil {
		return memberCommand{}, err
	}
	exec := effective(u["Service"]["ExecStart"])
	if len(exec) != 1 {
		return memberCommand{}, fmt.Errorf("etcd.service: %d ExecStart lines, want 1", len(exec))
	}
	argv := strings.Fields(exec[0])
	if prog := execPath(exec[0]); filepath.Base(prog) != "etcd" {
		return memberCommand{}, fmt.Errorf("etcd.service runs %s, not etcd", prog)
	}
	argv[0] = binary
	env := []string{systemdPath}
	for _, e := range u["Service"]["Environment"] {
		env = append(env, strings.Fields(strings.Trim(e, `"`))...)
	}
	for _, ef := range effective(u["Service"]["EnvironmentFile"]) {
		optional := strings.HasPrefix(ef, "-")
		ef = strings.TrimPrefix(ef, "-")
		data, ok := f.hostFile(host, ef)
		if !ok {
			if optional {
				continue
			}
			return memberCommand{}, fmt.Errorf("etcd.service reads %s, which the bundle does not give %s", ef, host)
		}
		vars, err := parseEnvFile(data)
		if err != nil {
			return memberCommand{}, fmt.Errorf("%s: %v", ef, err)
		}
		env = append(env, vars...)
	}
	return memberCommand{argv: argv, env: env}, nil
}

// staticPodCommand reads host's etcd static pod as the kubelet would run
// it: command + args, the container's env, binary for "etcd".
func staticPodCommand(f *fixture, host, binary string) (memberCommand, error) {
	data, ok := f.hostFile(host, etcdManifest)
	if !ok {
		return memberCommand{}, fmt.Errorf("%s: no %s", host, etcdManifest)
	}
	if err := checkStaticPod(data, f.plan.Etcd.Version.String()); err != nil {
		// Among others: every hostPath is mounted at its own path, so
		// running the command on the host sees the same files.
		return memberCommand{}, err
	}
	pod, _ := decodePod(data)
	c := pod.Spec.Containers[0]
	argv := append(slices.Clone(c.Command), c.Args...)
	argv[0] = binary
	env := []string{systemdPath}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			return memberCommand{}, fmt.Errorf("env %s comes from %v: not runnable without a cluster", e.Name, e.ValueFrom)
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return memberCommand{argv: argv, env: env}, nil
}

// member is one running etcd process.
type member struct {
	name string
	pid  int
	log  string
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// stop ends the member's whole process group: SIGTERM, then SIGKILL.
func (m *member) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	_ = syscall.Kill(-m.pid, syscall.SIGTERM)
	select {
	case <-m.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-m.pid, syscall.SIGKILL)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
	}
}

// kill ends the member at once, by its PID's process group, and waits.
func (m *member) kill() error {
	if err := syscall.Kill(-m.pid, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-m.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not die", m.name, m.pid)
	}
}

func (m *member) logTail(n int) string {
	data, _ := os.ReadFile(m.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startMember runs cmd in a private mount namespace in which host's bundle
// tree is mounted read-only at /etc/kubernetes, so every path the
// configuration names (/etc/kubernetes/pki/etcd/...) is the bundle's file.
// /etc itself is an overlay there: the machine's /etc stays untouched.
// The process is stopped by its process group in t.Cleanup.
func startMember(t testing.TB, f *fixture, host string, cmd memberCommand) (*member, error) {
	t.Helper()
	dir := t.TempDir()
	up, work := filepath.Join(dir, "etc-up"), filepath.Join(dir, "etc-work")
	for _, d := range []string{up, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	fmt.Fprintf(&script, "mount -t overlay overlay -o %s /etc\n", shq("lowerdir=/etc,upperdir="+up+",workdir="+work))
	script.WriteString("mkdir -p /etc/kubernetes\n")
	fmt.Fprintf(&script, "mount --bind %s /etc/kubernetes\n", shq(f.hostPath(host, "/etc/kubernetes")))
	script.WriteString("mount -o remount,bind,ro /etc/kubernetes\n")
	script.WriteString("exec env -i")
	for _, e := range cmd.env {
		script.WriteString(" " + shq(e))
	}
	for _, a := range cmd.argv {
		script.WriteString(" " + shq(a))
	}
	script.WriteString("\n")
	logPath := filepath.Join(dir, host+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	c := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script.String())
	c.Stdout, c.Stderr = logFile, logFile
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		return nil, err
	}
	m := &member{name: host, pid: c.Process.Pid, log: logPath, done: make(chan struct{})}
	go func() {
		m.err = c.Wait()
		close(m.done)
	}()
	t.Cleanup(m.stop)
	return m, nil
}

// etcdClient is etcdctl with the bundle's health-check client certificate.
type etcdClient struct {
	etcdctl            string
	cacert, cert, key  string
	dialTimeout, total time.Duration
}

func (c etcdClient) run(endpoints []string, args ...string) (string, error) {
	base := []string{
		"--endpoints=" + strings.Join(endpoints, ","),
		"--cacert=" + c.cacert, "--cert=" + c.cert, "--key=" + c.key,
		"--dial-timeout=" + c.dialTimeout.String(), "--command-timeout=" + c.dialTimeout.String(),
	}
	var stdout, stderr bytes.Buffer
	if err := runTo(&stdout, &stderr, c.total, "", nil, c.etcdctl, append(base, args...)...); err != nil {
		return stdout.String(), fmt.Errorf("%w\n%s", err, indent(stdout.String()+stderr.String()))
	}
	return stdout.String(), nil
}

// checkEtcdHealth: every endpoint answers its health check over mutual TLS.
func checkEtcdHealth(c etcdClient, endpoints []string) error {
	_, err := c.run(endpoints, "endpoint", "health")
	return err
}

// checkEtcdMembers: the member list holds exactly want, each started
// (named) with a client URL.
func checkEtcdMembers(c etcdClient, endpoint string, want []string) error {
	out, err := c.run([]string{endpoint}, "member", "list", "-w", "json")
	if err != nil {
		return err
	}
	var list struct {
		Members []struct {
			Name       string   `json:"name"`
			ClientURLs []string `json:"clientURLs"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return fmt.Errorf("member list: %v\n%s", err, indent(out))
	}
	var got []string
	for _, m := range list.Members {
		if m.Name == "" || len(m.ClientURLs) == 0 {
			return fmt.Errorf("member list: a member not started: %s", out)
		}
		got = append(got, m.Name)
	}
	sort.Strings(got)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("member list %v, want %v", got, want)
	}
	return nil
}

// checkEtcdReplication: a key written through one member is read back,
// linearizably, through another.
func checkEtcdReplication(c etcdClient, writeTo, readFrom, key, value string) error {
	if _, err := c.run([]string{writeTo}, "put", key, value); err != nil {
		return err
	}
	out, err := c.run([]string{readFrom}, "get", key, "--print-value-only")
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != value {
		return fmt.Errorf("get %s from %s: %q, want %q (written to %s)", key, readFrom, strings.TrimSpace(out), value, writeTo)
	}
	return nil
}

// retry calls fn until it succeeds or timeout passes.
func retry(timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// loopbackSpec is three stacked control-plane hosts on 127.0.<net>.1-3,
// each with its own data directory below dataRoot.
func loopbackSpec(net int, etcdVersion, run, dataRoot string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: \"live-%d\"\n", net)
	// A Kubernetes release whose kubeadm accepts this etcd.
	k8s := "1.37.2"
	if strings.HasPrefix(etcdVersion, "3.4.") {
		k8s = "1.30.14"
	}
	fmt.Fprintf(&b, "kubernetes: version: %q\n", k8s)
	b.WriteString("network: podSubnet: \"10.32.0.0/12\"\n")
	fmt.Fprintf(&b, "controlPlane: loadBalancer: external: endpoint: \"127.0.%d.100:6443\"\n", net)
	fmt.Fprintf(&b, "etcd: {run: %q, version: %q}\n", run, etcdVersion)
	b.WriteString("hosts: {\n")
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&b, "\tm%d: {address: \"127.0.%d.%d/24\", roles: [\"control-plane\"], etcd: dataDir: %q}\n", i, net, i+1, filepath.Join(dataRoot, "m"+strconv.Itoa(i)))
	}
	b.WriteString("}\n")
	return b.String()
}

func TestEtcdLive(t *testing.T) {
	needTools(t)
	tool(t, "unshare")
	type combo struct {
		etcdVersion     string
		binary, etcdctl string
		run             string
	}
	bin := os.Getenv(toolsEnv)
	combos := []combo{
		{"3.4.23", "/usr/bin/etcd", "/usr/bin/etcdctl", model.RunSystemd},
		{"3.4.23", "/usr/bin/etcd", "/usr/bin/etcdctl", model.RunStaticPod},
		{"3.6.5", filepath.Join(bin, "etcd-3.6"), filepath.Join(bin, "etcdctl-3.6"), model.RunSystemd},
		{"3.6.5", filepath.Join(bin, "etcd-3.6"), filepath.Join(bin, "etcdctl-3.6"), model.RunStaticPod},
		{"3.7.0", filepath.Join(bin, "etcd-3.7"), filepath.Join(bin, "etcdctl-3.7"), model.RunSystemd},
		{"3.7.0", filepath.Join(bin, "etcd-3.7"), filepath.Join(bin, "etcdctl-3.7"), model.RunStaticPod},
	}
	for i, c := range combos {
		t.Run("etcd-"+c.etcdVersion+"-"+c.run, func(t *testing.T) {
			t.Parallel()
			binary, etcdctl := toolAt(t, c.binary), toolAt(t, c.etcdctl)
			if out, err := run(30*time.Second, "", nil, binary, "--version"); err != nil {
				t.Fatal(err)
			} else if minor := strings.Join(strings.Split(c.etcdVersion, ".")[:2], "."); !strings.Contains(out, "etcd Version: "+minor+".") {
				t.Fatalf("%s is not etcd %s.x:\n%s", binary, minor, indent(out))
			}
			f := renderFresh(t, "live.cue", loopbackSpec(20+i, c.etcdVersion, c.run, t.TempDir()))
			if err := checkEtcdLive(t, f, binary, etcdctl); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// checkEtcdLive starts every member of f exactly as its service manager
// would, then requires a healthy, complete, replicating cluster that
// survives the loss of one member.
func checkEtcdLive(t testing.TB, f *fixture, binary, etcdctl string) (err error) {
	var members []*member
	defer func() {
		if err != nil {
			for _, m := range members {
				t.Logf("log of %s (last lines):\n%s", m.name, indent(m.logTail(12)))
			}
		}
	}()
	var endpoints []string
	var names []string
	for _, m := range f.plan.Etcd.Members {
		var cmd memberCommand
		switch f.plan.Etcd.Run {
		case model.RunSystemd:
			cmd, err = systemdCommand(f, m.Name, binary)
		case model.RunStaticPod:
			cmd, err = staticPodCommand(f, m.Name, binary)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		proc, err := startMember(t, f, m.Name, cmd)
		if err != nil {
			return fmt.Errorf("start %s: %w", m.Name, err)
		}
		members = append(members, proc)
		endpoints = append(endpoints, m.ClientURL())
		names = append(names, m.Name)
	}
	first := f.plan.Etcd.Members[0].Name
	pkiPath := func(host, file string) string { return f.hostPath(host, "/etc/kubernetes/pki/etcd/"+file) }
	client := etcdClient{
		etcdctl: etcdctl,
		cacert:  pkiPath(first, "ca.crt"), cert: pkiPath(first, "healthcheck-client.crt"), key: pkiPath(first, "healthcheck-client.key"),
		dialTimeout: 3 * time.Second, total: 30 * time.Second,
	}
	exited := func() error {
		for _, m := range members {
			select {
			case <-m.done:
				return fmt.Errorf("%s exited: %v", m.name, m.err)
			default:
			}
		}
		return nil
	}
	if err := retry(60*time.Second, func() error {
		if err := exited(); err != nil {
			return err
		}
		return checkEtcdHealth(client, endpoints)
	}); err != nil {
		return fmt.Errorf("cluster never became healthy: %w", err)
	}
	if err := checkEtcdMembers(client, endpoints[0], names); err != nil {
		return err
	}
	if err := checkEtcdReplication(client, endpoints[0], endpoints[1], "/hagen/conformance", "replicated"); err != nil {
		return err
	}
	// A client certificate from another CA is refused: the members
	// really demand mutual TLS with the etcd CA.
	cp := f.plan.ControlPlane.Init().Name
	foreign := client
	foreign.cert, foreign.key = f.hostPath(cp, "/etc/kubernetes/pki/ca.crt"), f.hostPath(cp, "/etc/kubernetes/pki/ca.key")
	foreign.total = 15 * time.Second
	if err := checkEtcdHealth(foreign, endpoints[:1]); err == nil {
		return errors.New("etcd accepted a client certificate the etcd CA did not sign")
	}
	// Every member's own files work for health checks, not just the first's.
	for i, m := range f.plan.Etcd.Members {
		own := client
		own.cacert, own.cert, own.key = pkiPath(m.Name, "ca.crt"), pkiPath(m.Name, "healthcheck-client.crt"), pkiPath(m.Name, "healthcheck-client.key")
		if err := checkEtcdHealth(own, endpoints[i:i+1]); err != nil {
			return fmt.Errorf("%s with its own healthcheck-client cert: %w", m.Name, err)
		}
	}
	// The configuration is clean for this etcd version: nothing in it is
	// unknown to, or deprecated by, the binary.
	for _, m := range members {
		data, _ := os.ReadFile(m.log)
		for _, line := range strings.Split(string(data), "\n") {
			l := strings.ToLower(line)
			if strings.Contains(l, "unrecognized environment variable") || strings.Contains(l, "deprecated") || strings.Contains(l, "is shadowed by") {
				return fmt.Errorf("%s warns about its configuration: %s", m.name, line)
			}
		}
	}
	// Lose one member: the other two keep quorum.
	victim := members[len(members)-1]
	if err := victim.kill(); err != nil {
		return err
	}
	if err := checkEtcdHealth(client, endpoints[len(endpoints)-1:]); err == nil {
		return fmt.Errorf("%s still answers after kill -9 of pid %d", victim.name, victim.pid)
	}
	if err := retry(30*time.Second, func() error {
		return checkEtcdReplication(client, endpoints[0], endpoints[1], "/hagen/after-loss", "still-writable")
	}); err != nil {
		return fmt.Errorf("after losing %s: %w", victim.name, err)
	}
	return checkEtcdHealth(client, endpoints[:len(endpoints)-1])
}
