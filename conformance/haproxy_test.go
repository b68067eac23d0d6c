package conformance

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const haproxyCfg = "/etc/haproxy/haproxy.cfg"

// checkHAProxy: `haproxy -c` accepts cfg without a warning or alert.
func checkHAProxy(haproxy string, cfg []byte) error {
	dir, err := os.MkdirTemp(scratch, "haproxy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		return err
	}
	out, err := run(time.Minute, dir, nil, haproxy, "-c", "-f", path)
	if err != nil {
		return err
	}
	if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ALERT]") {
		return fmt.Errorf("haproxy -c passed with warnings:\n%s", indent(out))
	}
	return nil
}

var (
	haproxyServer = regexp.MustCompile(`(?m)^\s*server\s+\S+\s+(\S+)\s.*\bcheck\b`)
	haproxyBind   = regexp.MustCompile(`(?m)^\s*bind\s+(\S+)`)
)

// checkHAProxyBackends: the frontend listens on port (only) and the backends are
// exactly want (host:port), each health-checked.
func checkHAProxyBackends(cfg []byte, port int, want []string) error {
	var got []string
	for _, m := range haproxyServer.FindAllSubmatch(cfg, -1) {
		host, p, err := net.SplitHostPort(string(m[1]))
		if err != nil {
			return fmt.Errorf("server address %s: %v", m[1], err)
		}
		got = append(got, net.JoinHostPort(host, p))
	}
	sort.Strings(got)
	want = slices.Clone(want)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("checked backends %v, want the control-plane apiservers %v", got, want)
	}
	binds := haproxyBind.FindAllSubmatch(cfg, -1)
	if len(binds) == 0 {
		return fmt.Errorf("no bind line, want the frontend on port %d", port)
	}
	for _, b := range binds {
		if !strings.HasSuffix(string(b[1]), ":"+strconv.Itoa(port)) {
			return fmt.Errorf("bind %s, want port %d", b[1], port)
		}
	}
	return nil
}

func TestHAProxy(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		ka := f.plan.ControlPlane.Keepalived
		files := f.files(haproxyCfg)
		if ka == nil || ka.HAProxy == nil {
			if len(files) > 0 {
				t.Errorf("no haproxy in the spec, yet %d haproxy.cfg files", len(files))
			}
			return
		}
		haproxy := tool(t, "haproxy")
		var want []string
		for _, h := range f.plan.ControlPlane.Hosts {
			want = append(want, net.JoinHostPort(h.Address.String(), strconv.Itoa(f.plan.ControlPlane.Port)))
		}
		if len(files) != len(f.plan.ControlPlane.Hosts) {
			t.Errorf("%d haproxy.cfg files, want one per control-plane host", len(files))
		}
		for _, h := range f.plan.ControlPlane.Hosts {
			cfg, ok := f.hostFile(h.Name, haproxyCfg)
			if !ok {
				t.Errorf("%s: no %s", h.Name, haproxyCfg)
				continue
			}
			if err := checkHAProxy(haproxy, cfg); err != nil {
				t.Errorf("%s: %v", h.Name, err)
			}
			if err := checkHAProxyBackends(cfg, ka.HAProxy.Port, want); err != nil {
				t.Errorf("%s: %v", h.Name, err)
			}
		}
		if got := f.plan.ControlPlane.Endpoint.Port; got != ka.HAProxy.Port {
			t.Errorf("controlPlaneEndpoint port %d, want HAProxy's %d", got, ka.HAProxy.Port)
		}
	})
}
