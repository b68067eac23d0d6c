package haproxy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render/bundle"
)

// spec is a cluster of masters at addrs behind keepalived settings lb, and
// a worker.
func spec(lb string, addrs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: \"t\"\nkubernetes: version: \"1.35.0\"\nnetwork: podSubnet: \"10.32.0.0/12\"\n")
	fmt.Fprintf(&b, "controlPlane: loadBalancer: keepalived: %s\n", lb)
	b.WriteString("hosts: {\n")
	for i, a := range addrs {
		// m2, m1, m0: the spec's order must not leak into the output.
		fmt.Fprintf(&b, "\tm%d: {address: %q, roles: [\"control-plane\"]}\n", len(addrs)-1-i, a)
	}
	b.WriteString("\tw0: {address: \"10.0.0.20\", roles: [\"worker\"]}\n}\n")
	return b.String()
}

var (
	three = []string{"10.0.0.12/24", "10.0.0.11/24", "10.0.0.10/24"}
	six   = []string{"fd00::12/64", "fd00::11/64", "fd00::10/64"}
)

func files(t *testing.T, p *model.Plan) []bundle.File {
	t.Helper()
	fs, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// section is one haproxy.cfg section: its header and its lines' fields.
type section struct {
	head  []string
	lines [][]string
}

func parse(data []byte) []*section {
	var out []*section
	for _, l := range strings.Split(string(data), "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			out = append(out, &section{head: f})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].lines = append(out[len(out)-1].lines, f)
		}
	}
	return out
}

func find(secs []*section, head ...string) *section {
	for _, s := range secs {
		if strings.Join(s.head, " ") == strings.Join(head, " ") {
			return s
		}
	}
	return nil
}

func (s *section) with(key string) [][]string {
	var out [][]string
	for _, l := range s.lines {
		if l[0] == key {
			out = append(out, l)
		}
	}
	return out
}

func (s *section) has(line string) bool {
	for _, l := range s.lines {
		if strings.Join(l, " ") == line {
			return true
		}
	}
	return false
}

func TestNoHAProxy(t *testing.T) {
	for _, src := range []string{
		spec(`{vip: "10.0.0.100", interface: "eth0"}`, three...),
		`name: "t"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
hosts: m0: {address: "10.0.0.10", roles: ["control-plane"]}
`,
	} {
		fs, err := Files(testplan.Compile(t, src))
		if fs != nil || err != nil {
			t.Errorf("Files = %v, %v; want nil, nil", fs, err)
		}
	}
}

func TestFacts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lb      string
		addrs   []string
		apiPort int // 0: default
		port    int
	}{
		{"ipv4", `{vip: "10.0.0.100", interface: "eth0", haproxy: port: 8443}`, three, 0, 8443},
		{"ipv4 custom ports", `{vip: "10.0.0.100", interface: "eth0", haproxy: port: 443}`, three, 7443, 443},
		{"single", `{vip: "10.0.0.100", interface: "eth0", haproxy: {}}`, three[2:], 0, 8443},
		{"ipv6", `{vip: "fd00::100", interface: "eth0", haproxy: port: 9443}`, six, 0, 9443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := spec(tc.lb, tc.addrs...)
			if tc.apiPort != 0 {
				src = strings.Replace(src, "controlPlane: ", fmt.Sprintf("controlPlane: port: %d\ncontrolPlane: ", tc.apiPort), 1)
			}
			p := testplan.Compile(t, src)
			apiPort := p.ControlPlane.Port
			if tc.apiPort != 0 && apiPort != tc.apiPort {
				t.Fatalf("apiserver port %d, want %d", apiPort, tc.apiPort)
			}
			fs := files(t, p)
			if len(fs) != len(p.ControlPlane.Hosts) {
				t.Fatalf("%d files for %d masters", len(fs), len(p.ControlPlane.Hosts))
			}
			var want []string
			for _, h := range p.ControlPlane.Hosts {
				want = append(want, h.Name+" "+net.JoinHostPort(h.Address.String(), strconv.Itoa(apiPort)))
			}
			sort.Strings(want)
			var first []byte
			seen := map[string]bool{}
			for _, f := range fs {
				if f.Path != ConfPath || f.Mode != bundle.ModePublic || f.Owner != "root" {
					t.Errorf("%s:%s mode %o owner %q; want %s 0644 root", f.Host, f.Path, f.Mode, f.Owner, ConfPath)
				}
				if p.Host(f.Host) == nil || !p.Host(f.Host).Has(model.RoleControlPlane) || seen[f.Host] {
					t.Errorf("haproxy.cfg for %q", f.Host)
				}
				seen[f.Host] = true
				if !bytes.Contains(f.Data, []byte("host "+f.Host+" ")) {
					t.Errorf("%s: header does not name the host", f.Host)
				}
				// Apart from the header, every master runs the same config.
				body := f.Data[bytes.Index(f.Data, []byte("\nglobal\n")):]
				if first == nil {
					first = body
				} else if !bytes.Equal(body, first) {
					t.Errorf("%s: config differs from the first master's", f.Host)
				}
				secs := parse(f.Data)
				fe := find(secs, "frontend", "apiserver")
				be := find(secs, "backend", "apiservers")
				def := find(secs, "defaults")
				if fe == nil || be == nil || def == nil || find(secs, "global") == nil {
					t.Fatalf("%s: missing section:\n%s", f.Host, f.Data)
				}
				binds := fe.with("bind")
				wantBinds := []string{"bind *:" + strconv.Itoa(tc.port)}
				if p.ControlPlane.Keepalived.VIP.Is6() {
					wantBinds = append(wantBinds, "bind [::]:"+strconv.Itoa(tc.port)+" v6only")
				}
				var gotBinds []string
				for _, b := range binds {
					gotBinds = append(gotBinds, strings.Join(b, " "))
				}
				if strings.Join(gotBinds, "|") != strings.Join(wantBinds, "|") {
					t.Errorf("%s: binds %q, want %q", f.Host, gotBinds, wantBinds)
				}
				if !fe.has("default_backend apiservers") {
					t.Errorf("%s: frontend has no default_backend apiservers", f.Host)
				}
				if !def.has("mode tcp") {
					t.Errorf("%s: defaults not mode tcp (TLS passthrough)", f.Host)
				}
				for _, l := range []string{"option httpchk", "http-check connect ssl",
					"http-check send meth GET uri /healthz", "http-check expect status 200", "balance roundrobin"} {
					if !be.has(l) {
						t.Errorf("%s: backend lacks %q", f.Host, l)
					}
				}
				for _, to := range []string{"client", "server", "tunnel"} {
					ls := def.with("timeout")
					ok := false
					for _, l := range ls {
						if len(l) == 3 && l[1] == to && (strings.HasSuffix(l[2], "h") || strings.HasSuffix(l[2], "m")) {
							ok = true
						}
					}
					if !ok {
						t.Errorf("%s: timeout %s missing or shorter than minutes (watches)", f.Host, to)
					}
				}
				var got []string
				for _, s := range be.with("server") {
					got = append(got, s[1]+" "+s[2])
					rest := " " + strings.Join(s[3:], " ") + " "
					for _, w := range []string{" check ", " verify none ", " inter ", " fall ", " rise "} {
						if !strings.Contains(rest, w) {
							t.Errorf("%s: server %s lacks %q", f.Host, s[1], strings.TrimSpace(w))
						}
					}
				}
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("%s: servers %q, want %q", f.Host, got, want)
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	src := spec(`{vip: "10.0.0.100", interface: "eth0", haproxy: {}}`, three...)
	a, b := files(t, testplan.Compile(t, src)), files(t, testplan.Compile(t, src))
	if len(a) != len(b) {
		t.Fatal("different file counts")
	}
	for i := range a {
		if a[i].Host != b[i].Host || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Errorf("render differs at %s", a[i].Host)
		}
	}
	if err := bundle.New().Add(a...); err != nil {
		t.Fatal(err)
	}
}

func haproxyCheck(t *testing.T, hp string, data []byte) (int, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(hp, "-c", "-f", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func haproxyPath(t *testing.T) string {
	t.Helper()
	hp, err := exec.LookPath("haproxy")
	if err != nil {
		hp = "/usr/sbin/haproxy"
		if _, err := os.Stat(hp); err != nil {
			t.Skip("haproxy not installed")
		}
	}
	return hp
}

// TestHAProxyAccepts runs haproxy -c on every rendered config: exit 0 and
// no warnings.
func TestHAProxyAccepts(t *testing.T) {
	hp := haproxyPath(t)
	for _, src := range []string{
		spec(`{vip: "10.0.0.100", interface: "eth0", haproxy: {}}`, three...),
		spec(`{vip: "10.0.0.100", interface: "eth0", haproxy: {}}`, three[2:]...),
		spec(`{vip: "fd00::100", interface: "eth0", unicast: true, haproxy: port: 9443}`, six...),
	} {
		for _, f := range files(t, testplan.Compile(t, src)) {
			rc, out := haproxyCheck(t, hp, f.Data)
			if rc != 0 || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ALERT]") {
				t.Errorf("haproxy -c %s: exit %d\n%s\n%s", f.Host, rc, out, f.Data)
			}
		}
	}
}

// TestHAProxyRejects proves haproxy -c can fail the test above.
func TestHAProxyRejects(t *testing.T) {
	hp := haproxyPath(t)
	fs := files(t, testplan.Compile(t, spec(`{vip: "10.0.0.100", interface: "eth0", haproxy: {}}`, three...)))
	good := fs[0].Data
	for name, bad := range map[string][]byte{
		"misspelled keyword":            bytes.Replace(good, []byte("balance roundrobin"), []byte("balanse roundrobin"), 1),
		"tls check without verify none": bytes.ReplaceAll(good, []byte(" verify none"), nil),
	} {
		if bytes.Equal(bad, good) {
			t.Fatalf("%s: edit did not apply", name)
		}
		if rc, out := haproxyCheck(t, hp, bad); rc == 0 {
			t.Errorf("%s: haproxy -c exit 0\n%s", name, out)
		}
	}
}

// TestDeadBackendSkipped: a request HAProxy cannot connect to its
// apiserver (refused, or not within a second) is retried on another one at
// once, so no new request fails while the health checks (every second, 2
// failures) take the server out.
func TestDeadBackendSkipped(t *testing.T) {
	fs, err := Files(testplan.Compile(t, spec(`{vip: "10.0.0.100", interface: "eth0", haproxy: port: 8443}`, three...)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(fs[0].Data)
	for _, want := range []string{"    option redispatch 1\n", "    retries 3\n", "    timeout connect 1s\n", " check verify none inter 1s fall 2 rise 2\n"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("haproxy.cfg lacks %q:\n%s", want, cfg)
		}
	}
}
