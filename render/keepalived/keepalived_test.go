package keepalived

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render/bundle"
)

const pass = "aB3dE6gH"

// spec is a cluster of three masters behind a keepalived VIP and a worker;
// lb is the keepalived struct, hosts the masters' addresses.
func spec(lb string, addrs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: \"t\"\nkubernetes: version: \"1.35.0\"\nnetwork: podSubnet: \"10.32.0.0/12\"\n")
	fmt.Fprintf(&b, "controlPlane: loadBalancer: keepalived: %s\n", lb)
	b.WriteString("hosts: {\n")
	for i, a := range addrs {
		fmt.Fprintf(&b, "\tm%d: {address: %q, roles: [\"control-plane\"]}\n", i, a)
	}
	b.WriteString("\tw0: {address: \"10.0.0.20\", roles: [\"worker\"]}\n}\n")
	return b.String()
}

var (
	three = []string{"10.0.0.10/24", "10.0.0.11/24", "10.0.0.12/24"}
	six   = []string{"fd00::10/64", "fd00::11/64", "fd00::12/64"}
)

func files(t *testing.T, p *model.Plan) []bundle.File {
	t.Helper()
	fs, err := Files(p, pass)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// node is a keepalived.conf keyword with its arguments and block.
type node struct {
	args  []string
	block []*node
}

func (n *node) key() string { return n.args[0] }

// get returns the children named key.
func (n *node) get(key string) []*node {
	var out []*node
	for _, c := range n.block {
		if c.key() == key {
			out = append(out, c)
		}
	}
	return out
}

// one returns the only child named key.
func (n *node) one(t *testing.T, key string) *node {
	t.Helper()
	cs := n.get(key)
	if len(cs) != 1 {
		t.Fatalf("%d %q in %v, want 1", len(cs), key, n.args)
	}
	return cs[0]
}

// val is the single argument of the only child named key.
func (n *node) val(t *testing.T, key string) string {
	t.Helper()
	c := n.one(t, key)
	if len(c.args) != 2 {
		t.Fatalf("%v: want one value", c.args)
	}
	return strings.Trim(c.args[1], `"`)
}

// lines returns the keywords of a block of bare values (unicast_peer).
func (n *node) lines() []string {
	var out []string
	for _, c := range n.block {
		out = append(out, strings.Join(c.args, " "))
	}
	return out
}

// parse reads keepalived.conf's structure: one keyword per line, blocks in
// braces, '#' comments.
func parse(t *testing.T, data []byte) *node {
	t.Helper()
	root := &node{args: []string{"<root>"}}
	stack := []*node{root}
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.IndexAny(line, "#!"); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		top := stack[len(stack)-1]
		switch {
		case len(f) == 1 && f[0] == "}":
			if len(stack) == 1 {
				t.Fatalf("line %d: unbalanced }", i+1)
			}
			stack = stack[:len(stack)-1]
		case f[len(f)-1] == "{":
			n := &node{args: f[:len(f)-1]}
			top.block = append(top.block, n)
			stack = append(stack, n)
		default:
			top.block = append(top.block, &node{args: f})
		}
	}
	if len(stack) != 1 {
		t.Fatalf("unclosed block %v", stack[len(stack)-1].args)
	}
	return root
}

type hostConf struct {
	host     *model.Host
	conf     *node
	instance *node
	script   string
}

func byHost(t *testing.T, p *model.Plan, fs []bundle.File) map[string]*hostConf {
	t.Helper()
	out := map[string]*hostConf{}
	for _, h := range p.ControlPlane.Hosts {
		out[h.Name] = &hostConf{host: h}
	}
	for _, f := range fs {
		hc := out[f.Host]
		if hc == nil {
			t.Fatalf("file %s for %q, not a control-plane host", f.Path, f.Host)
		}
		switch f.Path {
		case ConfPath:
			if f.Mode != bundle.ModeSecret {
				t.Errorf("%s:%s mode %o, want 0600 (it holds auth_pass)", f.Host, f.Path, f.Mode)
			}
			hc.conf = parse(t, f.Data)
			hc.instance = hc.conf.one(t, "vrrp_instance")
		case ScriptPath:
			if f.Mode != bundle.ModeScript {
				t.Errorf("%s:%s mode %o, want 0755", f.Host, f.Path, f.Mode)
			}
			hc.script = string(f.Data)
		default:
			t.Errorf("unexpected file %s:%s", f.Host, f.Path)
		}
		if f.Owner != "root" {
			t.Errorf("%s:%s owner %q, want root", f.Host, f.Path, f.Owner)
		}
	}
	for name, hc := range out {
		if hc.conf == nil || hc.script == "" {
			t.Fatalf("%s: missing keepalived.conf or check script", name)
		}
	}
	return out
}

func TestNoKeepalived(t *testing.T) {
	p := testplan.Compile(t, `name: "t"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
hosts: m0: {address: "10.0.0.10", roles: ["control-plane"]}
`)
	fs, err := Files(p, pass)
	if err != nil || fs != nil {
		t.Fatalf("Files = %v, %v; want nil, nil", fs, err)
	}
}

func TestFacts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lb        string
		addrs     []string
		checkPort int
		unicast   bool
	}{
		{"unicast+haproxy", `{vip: "10.0.0.100", interface: "eth0", routerID: 51, unicast: true, haproxy: port: 8443}`, three, 8443, true},
		{"multicast, no haproxy", `{vip: "10.0.0.100", interface: "ens3", routerID: 7}`, three, 6443, false},
		{"single master", `{vip: "10.0.0.100", interface: "eth0", unicast: true}`, three[:1], 6443, true},
		{"five masters", `{vip: "10.0.0.100", interface: "eth0", haproxy: {}}`,
			[]string{"10.0.0.10/24", "10.0.0.11/24", "10.0.0.12/24", "10.0.0.13/24", "10.0.0.14/24"}, 8443, false},
		{"ipv6", `{vip: "fd00::100", interface: "eth0", routerID: 9, unicast: true, haproxy: port: 9443}`,
			six, 9443, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testplan.Compile(t, spec(tc.lb, tc.addrs...))
			k := p.ControlPlane.Keepalived
			fs := files(t, p)
			if len(fs) != 2*len(tc.addrs) {
				t.Fatalf("%d files for %d masters", len(fs), len(tc.addrs))
			}
			hcs := byHost(t, p, fs)
			masters, prios := 0, map[int]string{}
			maxPrio, masterPrio := 0, 0
			var script string
			for name, hc := range hcs {
				in := hc.instance
				gd := hc.conf.one(t, "global_defs")
				if got := gd.val(t, "router_id"); got != name {
					t.Errorf("%s: router_id %q", name, got)
				}
				gd.one(t, "enable_script_security")
				if got := gd.val(t, "script_user"); got != "root" {
					t.Errorf("%s: script_user %q", name, got)
				}
				vs := hc.conf.one(t, "vrrp_script")
				if len(vs.args) != 2 || vs.args[1] != ScriptName {
					t.Errorf("%s: vrrp_script %v", name, vs.args)
				}
				if got := vs.val(t, "script"); got != ScriptPath {
					t.Errorf("%s: script %q, want %s", name, got, ScriptPath)
				}
				weight, err := strconv.Atoi(vs.val(t, "weight"))
				if err != nil || weight > -2 {
					t.Errorf("%s: weight %d (%v), want <= -2", name, weight, err)
				}
				// Any failing peer below any healthy one.
				lo, hi := 1000, 0
				for _, pr := range k.Peers {
					lo, hi = min(lo, pr.Priority), max(hi, pr.Priority)
				}
				if hi+weight >= lo {
					t.Errorf("%s: weight %d: a failing peer at %d does not fall below a healthy one at %d", name, weight, hi, lo)
				}
				if got := in.one(t, "track_script").lines(); len(got) != 1 || got[0] != ScriptName {
					t.Errorf("%s: track_script %v", name, got)
				}
				if got := in.val(t, "virtual_router_id"); got != strconv.Itoa(k.RouterID) {
					t.Errorf("%s: virtual_router_id %s, want %d", name, got, k.RouterID)
				}
				if got := in.val(t, "interface"); got != k.Interface {
					t.Errorf("%s: interface %s", name, got)
				}
				if got, want := in.args, []string{"vrrp_instance", InstanceName(k)}; strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s: %v, want %v", name, got, want)
				}
				vips := in.one(t, "virtual_ipaddress").lines()
				want := netip.PrefixFrom(k.VIP, hc.host.Prefix.Bits()).String()
				if len(vips) != 1 || vips[0] != want {
					t.Errorf("%s: virtual_ipaddress %v, want %s", name, vips, want)
				}
				state := in.val(t, "state")
				prio, _ := strconv.Atoi(in.val(t, "priority"))
				if other, dup := prios[prio]; dup {
					t.Errorf("priority %d on %s and %s", prio, name, other)
				}
				prios[prio] = name
				maxPrio = max(maxPrio, prio)
				switch state {
				case "MASTER":
					masters++
					masterPrio = prio
				case "BACKUP":
				default:
					t.Errorf("%s: state %q", name, state)
				}
				if k.VIP.Is4() {
					auth := in.one(t, "authentication")
					if got := auth.val(t, "auth_type"); got != "PASS" {
						t.Errorf("%s: auth_type %s", name, got)
					}
					if got := auth.val(t, "auth_pass"); got != pass || len(got) > 8 {
						t.Errorf("%s: auth_pass %q, want %q (<= 8 chars)", name, got, pass)
					}
				} else {
					if len(in.get("authentication")) != 0 {
						t.Errorf("%s: VRRPv3 (IPv6) takes no authentication", name)
					}
					if got := in.val(t, "version"); got != "3" {
						t.Errorf("%s: version %s, want 3 for an IPv6 VIP", name, got)
					}
				}
				if tc.unicast && len(k.Peers) > 1 {
					if got := in.val(t, "unicast_src_ip"); got != hc.host.Address.String() {
						t.Errorf("%s: unicast_src_ip %s, want %s", name, got, hc.host.Address)
					}
					var want []string
					for _, o := range p.ControlPlane.Hosts {
						if o.Name != name {
							want = append(want, o.Address.String())
						}
					}
					got := in.one(t, "unicast_peer").lines()
					if strings.Join(got, ",") != strings.Join(want, ",") {
						t.Errorf("%s: unicast_peer %v, want %v", name, got, want)
					}
				} else if len(in.get("unicast_src_ip"))+len(in.get("unicast_peer")) != 0 {
					// keepalived deprecates unicast without peers.
					t.Errorf("%s: unicast settings without unicast or without peers", name)
				}
				// The script: same everywhere, right port, -f.
				if script == "" {
					script = hc.script
				} else if hc.script != script {
					t.Errorf("%s: check script differs between hosts", name)
				}
			}
			if masters != 1 {
				t.Errorf("%d MASTERs, want 1", masters)
			}
			if masterPrio != maxPrio {
				t.Errorf("MASTER priority %d, highest %d", masterPrio, maxPrio)
			}
			if CheckPort(p) != tc.checkPort {
				t.Errorf("CheckPort %d, want %d", CheckPort(p), tc.checkPort)
			}
			checkScriptFacts(t, script, k.VIP, tc.checkPort)
		})
	}
}

func checkScriptFacts(t *testing.T, script string, vip netip.Addr, port int) {
	t.Helper()
	if !strings.HasPrefix(script, "#!/bin/sh\n") {
		t.Errorf("script does not start with #!/bin/sh")
	}
	var curls []string
	for _, l := range strings.Split(script, "\n") {
		if strings.Contains(l, "curl ") && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			curls = append(curls, l)
		}
	}
	p := strconv.Itoa(port)
	local := "https://" + net.JoinHostPort("localhost", p) + "/healthz"
	remote := "https://" + net.JoinHostPort(vip.String(), p) + "/healthz"
	if len(curls) != 2 || !strings.Contains(curls[0], local) || !strings.Contains(curls[1], remote) {
		t.Fatalf("curl lines %q, want %s then %s", curls, local, remote)
	}
	for _, c := range curls {
		if !strings.Contains(c, "curl -sfk ") || !strings.Contains(c, "--max-time 2") || !strings.Contains(c, "|| errorExit") {
			t.Errorf("curl line %q: want -sfk (-f: a 401 fails), --max-time 2, || errorExit", c)
		}
	}
	if !strings.Contains(script, "ip -o addr show to "+vip.String()) {
		t.Errorf("script does not test whether the host holds %s", vip)
	}
}

func TestDeterministic(t *testing.T) {
	src := spec(`{vip: "10.0.0.100", interface: "eth0", unicast: true, haproxy: {}}`, three...)
	a := files(t, testplan.Compile(t, src))
	b := files(t, testplan.Compile(t, src))
	if len(a) != len(b) {
		t.Fatal("different file counts")
	}
	for i := range a {
		if a[i].Host != b[i].Host || a[i].Path != b[i].Path || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("render differs at %s:%s", a[i].Host, a[i].Path)
		}
	}
	bu := bundle.New()
	if err := bu.Add(a...); err != nil {
		t.Fatal(err)
	}
}

func TestBadAuthPass(t *testing.T) {
	p := testplan.Compile(t, spec(`{vip: "10.0.0.100", interface: "eth0"}`, three...))
	for _, bad := range []string{"", "123456789", "ab cd", "ab\"c"} {
		if _, err := Files(p, bad); err == nil {
			t.Errorf("auth_pass %q accepted", bad)
		}
	}
}

// TestScriptRuns runs the check script with stand-ins for curl and ip:
// it fails when curl fails, and probes the VIP only where ip shows it.
func TestScriptRuns(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	p := testplan.Compile(t, spec(`{vip: "10.0.0.100", interface: "eth0", haproxy: {}}`, three...))
	var script []byte
	for _, f := range files(t, p) {
		if f.Path == ScriptPath {
			script = f.Data
			break
		}
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("check.sh", string(script))
	for _, tc := range []struct {
		name     string
		curlRC   int
		holdsVIP bool
		wantRC   int
		wantURLs int
	}{
		{"healthy backup", 0, false, 0, 1},
		{"healthy master", 0, true, 0, 2},
		{"failing", 22, true, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(log)
			write("curl", fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\nexit %d\n", log, tc.curlRC))
			ipOut := ""
			if tc.holdsVIP {
				ipOut = "2: eth0    inet 10.0.0.100/24 scope global secondary eth0"
			}
			write("ip", fmt.Sprintf("#!/bin/sh\necho '%s'\n", ipOut))
			cmd := exec.Command("sh", filepath.Join(dir, "check.sh"))
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			rc := 0
			if ee, ok := err.(*exec.ExitError); ok {
				rc = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if rc != tc.wantRC {
				t.Errorf("exit %d, want %d; output:\n%s", rc, tc.wantRC, out)
			}
			calls, _ := os.ReadFile(log)
			if n := strings.Count(string(calls), "/healthz"); n != tc.wantURLs {
				t.Errorf("%d curl calls, want %d:\n%s", n, tc.wantURLs, calls)
			}
		})
	}
}

func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed")
	}
	for _, lb := range []string{
		`{vip: "10.0.0.100", interface: "eth0", haproxy: {}}`,
		`{vip: "10.0.0.100", interface: "eth0"}`,
	} {
		checkScripts(t, sc, testplan.Compile(t, spec(lb, three...)))
	}
	checkScripts(t, sc, testplan.Compile(t, spec(`{vip: "fd00::100", interface: "eth0", unicast: true}`, six...)))
}

func checkScripts(t *testing.T, sc string, p *model.Plan) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files(t, p) {
		if f.Path != ScriptPath {
			continue
		}
		path := filepath.Join(dir, f.Host+".sh")
		if err := os.WriteFile(path, f.Data, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sc, "--shell=sh", "--severity=style", path).CombinedOutput()
		if err != nil {
			t.Errorf("shellcheck %s: %v\n%s\n%s", f.Host, err, out, f.Data)
		}
	}
}

// keepalivedTest returns keepalived's path and a network interface that
// exists here (keepalived -t refuses a missing or loopback interface, and
// one without multicast for a multicast instance), or skips.
func keepalivedTest(t *testing.T) (string, string) {
	t.Helper()
	ka, err := exec.LookPath("keepalived")
	if err != nil {
		ka = "/usr/sbin/keepalived"
		if _, err := os.Stat(ka); err != nil {
			t.Skip("keepalived not installed")
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("keepalived -t checks the script is root-owned: run as root")
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Skip(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 && i.Flags&net.FlagMulticast != 0 && len(i.Name) <= 15 && !strings.ContainsAny(i.Name, "/ ") {
			return ka, i.Name
		}
	}
	t.Skip("no multicast network interface for keepalived -t")
	return "", ""
}

// keepalivedCheck runs keepalived -t on conf with its script path pointed
// at a root-owned 0755 copy of the check script; it returns keepalived's
// exit code and output.
func keepalivedCheck(t *testing.T, ka string, conf, script []byte) (int, string) {
	t.Helper()
	dir := t.TempDir()
	sp := filepath.Join(dir, "check_apiserver.sh")
	if err := os.WriteFile(sp, script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sp, 0, 0); err != nil {
		t.Fatal(err)
	}
	quoted := `"` + ScriptPath + `"`
	if !bytes.Contains(conf, []byte(quoted)) {
		t.Fatalf("conf does not name %s", quoted)
	}
	conf = bytes.ReplaceAll(conf, []byte(quoted), []byte(`"`+sp+`"`))
	cp := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cp, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ka, "-t", "-f", cp).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func TestKeepalivedAccepts(t *testing.T) {
	ka, ifname := keepalivedTest(t)
	for _, tc := range []struct {
		name  string
		lb    string
		addrs []string
	}{
		{"unicast+haproxy", `{vip: "10.0.0.100", interface: %q, routerID: 51, unicast: true, haproxy: port: 8443}`, three},
		{"multicast", `{vip: "10.0.0.100", interface: %q}`, three},
		{"single", `{vip: "10.0.0.100", interface: %q, unicast: true}`, three[:1]},
		{"ipv6 unicast", `{vip: "fd00::100", interface: %q, unicast: true, haproxy: {}}`, six},
		{"ipv6 multicast", `{vip: "fd00::100", interface: %q}`, six},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testplan.Compile(t, spec(fmt.Sprintf(tc.lb, ifname), tc.addrs...))
			fs := files(t, p)
			scripts := map[string][]byte{}
			for _, f := range fs {
				if f.Path == ScriptPath {
					scripts[f.Host] = f.Data
				}
			}
			for _, f := range fs {
				if f.Path != ConfPath {
					continue
				}
				rc, out := keepalivedCheck(t, ka, f.Data, scripts[f.Host])
				if rc != 0 || strings.TrimSpace(out) != "" {
					t.Errorf("keepalived -t %s: exit %d\n%s\n%s", f.Host, rc, out, f.Data)
				}
			}
		})
	}
}

// TestKeepalivedRejects proves the test above can fail: keepalived -t exits
// non-zero on a misspelled keyword, an over-long auth_pass and a missing
// script.
func TestKeepalivedRejects(t *testing.T) {
	ka, ifname := keepalivedTest(t)
	p := testplan.Compile(t, spec(fmt.Sprintf(`{vip: "10.0.0.100", interface: %q, unicast: true}`, ifname), three...))
	fs := files(t, p)
	var conf, script []byte
	for _, f := range fs {
		if f.Host == "m0" && f.Path == ConfPath {
			conf = f.Data
		}
		if f.Host == "m0" && f.Path == ScriptPath {
			script = f.Data
		}
	}
	if rc, out := keepalivedCheck(t, ka, conf, script); rc != 0 {
		t.Fatalf("baseline rejected: exit %d\n%s", rc, out)
	}
	for name, bad := range map[string][]byte{
		"misspelled keyword": bytes.Replace(conf, []byte("advert_int"), []byte("advert_intt"), 1),
		"long auth_pass":     bytes.Replace(conf, []byte("auth_pass "+pass), []byte("auth_pass "+pass+"X"), 1),
		"unknown track":      bytes.Replace(conf, []byte("        "+ScriptName+"\n"), []byte("        nope\n"), 1),
	} {
		if bytes.Equal(bad, conf) {
			t.Fatalf("%s: edit did not apply", name)
		}
		if rc, out := keepalivedCheck(t, ka, bad, script); rc == 0 {
			t.Errorf("%s: keepalived -t exit 0\n%s", name, out)
		}
	}
	// Script path not rewritten: /etc/keepalived/check_apiserver.sh is
	// (normally) absent here, and keepalived disables the check.
	if _, err := os.Stat(ScriptPath); err != nil {
		dir := t.TempDir()
		cp := filepath.Join(dir, "keepalived.conf")
		if err := os.WriteFile(cp, conf, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command(ka, "-t", "-f", cp).Run(); err == nil {
			t.Errorf("keepalived -t accepted a missing check script")
		}
	}
}

// TestFailoverBudget pins the check's timing to the endpoint's failover
// target: a dead apiserver (which refuses at once) must lose the VIP
// within 10 s: fall checks of interval each, then VRRP's master-down
// interval (3 adverts of advert_int 1 s plus skew, at most 4 s). The lab
// measures the real gap (hagen-lab's apiserver drill). rise must not be
// 1, and fall not under 3, or a slow /healthz under load moves the VIP.
func TestFailoverBudget(t *testing.T) {
	const masterDown = 4
	if detect := fall * interval; detect+masterDown > 10 {
		t.Errorf("a dead apiserver keeps the VIP for up to %d s (fall %d x interval %d + %d s master down), want at most 10", detect+masterDown, fall, interval, masterDown)
	}
	if fall < 3 || rise < 2 {
		t.Errorf("fall %d, rise %d: one slow check would move the VIP", fall, rise)
	}
	// The script's two curls of --max-time 2 fit its timeout.
	if timeout < 2*2 {
		t.Errorf("script timeout %d s is shorter than its two curls", timeout)
	}
	p := testplan.Compile(t, spec(`{vip: "10.0.0.100", interface: "eth0"}`, three...))
	files, err := Files(p, "abcd1234")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(files[0].Data)
	for _, want := range []string{"    interval 1\n", "    fall 3\n", "    rise 2\n", "    advert_int 1\n"} {
		if !strings.Contains(conf, want) {
			t.Errorf("keepalived.conf lacks %q", want)
		}
	}
}
