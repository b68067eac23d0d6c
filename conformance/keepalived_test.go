package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler/model"
)

const (
	keepalivedConf   = "/etc/keepalived/keepalived.conf"
	keepalivedScript = "/etc/keepalived/check_apiserver.sh"
)

var (
	ifaceOnce sync.Once
	ifaceName string
	ifaceErr  error
)

// testInterface is an existing, up, multicast-capable, non-loopback
// interface: keepalived -t refuses a configuration whose interface does
// not exist, and the bundle names the production hosts' interface.
func testInterface(t testing.TB) string {
	t.Helper()
	ifaceOnce.Do(func() {
		ifs, err := net.Interfaces()
		if err != nil {
			ifaceErr = err
			return
		}
		for _, i := range ifs {
			if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagMulticast != 0 && i.Flags&net.FlagLoopback == 0 {
				ifaceName = i.Name
				return
			}
		}
		ifaceErr = fmt.Errorf("no up, multicast-capable, non-loopback interface for keepalived -t (and this kernel offers no dummy interfaces)")
	})
	if ifaceErr != nil {
		t.Fatal(ifaceErr)
	}
	return ifaceName
}

var interfaceLine = regexp.MustCompile(`(?m)^(\s*interface\s+)\S+`)

// checkKeepalived: `keepalived -t` accepts conf. The check script path is
// mapped to a root-owned 0755 copy of script (keepalived with
// enable_script_security refuses, and -t reports, an insecure script) and
// every interface to iface.
func checkKeepalived(keepalived, iface string, conf, script []byte) error {
	dir, err := os.MkdirTemp(scratch, "keepalived-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	scriptPath := filepath.Join(dir, "check_apiserver.sh")
	if err := os.WriteFile(scriptPath, script, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(scriptPath, 0o755); err != nil { // umask
		return err
	}
	if !bytes.Contains(conf, []byte(keepalivedScript)) {
		return fmt.Errorf("keepalived.conf does not run %s", keepalivedScript)
	}
	conf = bytes.ReplaceAll(conf, []byte(keepalivedScript), []byte(scriptPath))
	conf = interfaceLine.ReplaceAll(conf, []byte("${1}"+iface))
	confPath := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(confPath, conf, 0o600); err != nil {
		return err
	}
	out, err := run(time.Minute, dir, nil, keepalived, "-t", "-f", confPath)
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		return fmt.Errorf("keepalived -t passed but complained:\n%s", indent(out))
	}
	return nil
}

// vrrpInstance is what the cross-host check reads from keepalived.conf.
type vrrpInstance struct {
	host       string
	name       string
	state      string
	vrid       string
	priority   int
	authPass   string
	vips       []string
	srcIP      string
	peers      []string
	weight     int // of the tracked script
	trackCount int
}

// parseKeepalived reads the one vrrp_instance of a hagen keepalived.conf,
// with its tracked script's weight.
func parseKeepalived(host string, conf []byte) (*vrrpInstance, error) {
	in := &vrrpInstance{host: host}
	var stack []string
	instances := 0
	weights := map[string]int{}
	var tracked []string
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexAny(line, "#!"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if line == "}" {
			if len(stack) == 0 {
				return nil, fmt.Errorf("%s: unbalanced }", host)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		f := strings.Fields(line)
		block := ""
		if len(stack) > 0 {
			block = stack[len(stack)-1]
		}
		outer := ""
		if len(stack) > 1 {
			outer = stack[len(stack)-2]
		}
		if f[len(f)-1] == "{" {
			name := f[0]
			if name == "vrrp_instance" {
				instances++
				in.name = f[1]
			}
			if name == "vrrp_script" {
				name = "vrrp_script " + f[1]
			}
			stack = append(stack, name)
			continue
		}
		switch {
		case block == "vrrp_instance":
			switch f[0] {
			case "state":
				in.state = f[1]
			case "virtual_router_id":
				in.vrid = f[1]
			case "priority":
				in.priority, _ = strconv.Atoi(f[1])
			case "unicast_src_ip":
				in.srcIP = f[1]
			}
		case block == "authentication" && outer == "vrrp_instance" && f[0] == "auth_pass":
			in.authPass = f[1]
		case block == "virtual_ipaddress":
			in.vips = append(in.vips, f[0])
		case block == "unicast_peer":
			in.peers = append(in.peers, f[0])
		case block == "track_script":
			tracked = append(tracked, f[0])
		case strings.HasPrefix(block, "vrrp_script ") && f[0] == "weight":
			weights[strings.TrimPrefix(block, "vrrp_script ")], _ = strconv.Atoi(f[1])
		}
	}
	if instances != 1 {
		return nil, fmt.Errorf("%s: %d vrrp_instance blocks, want 1", host, instances)
	}
	for _, s := range tracked {
		in.weight += weights[s]
		in.trackCount++
	}
	return in, nil
}

// checkKeepalivedPeers: the keepalived.conf files of one VIP agree. Same
// virtual_router_id, VIP and password; exactly one MASTER, holding the
// highest priority; distinct priorities; a failing health check drops any
// peer below every healthy one (so the VIP moves); unicast peers list each
// other.
func checkKeepalivedPeers(confs map[string][]byte) error {
	var ins []*vrrpInstance
	for _, host := range sortedKeys(confs) {
		in, err := parseKeepalived(host, confs[host])
		if err != nil {
			return err
		}
		ins = append(ins, in)
	}
	if len(ins) == 0 {
		return fmt.Errorf("no keepalived.conf")
	}
	var problems []string
	addf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	ref := ins[0]
	masters := 0
	prios := map[int]string{}
	for _, in := range ins {
		if in.vrid != ref.vrid {
			addf("%s: virtual_router_id %s, %s has %s", in.host, in.vrid, ref.host, ref.vrid)
		}
		if in.name != ref.name {
			addf("%s: vrrp_instance %s, %s has %s", in.host, in.name, ref.host, ref.name)
		}
		if !slices.Equal(in.vips, ref.vips) || len(in.vips) == 0 {
			addf("%s: virtual_ipaddress %v, %s has %v", in.host, in.vips, ref.host, ref.vips)
		}
		if in.authPass != ref.authPass {
			addf("%s: auth_pass differs from %s's", in.host, ref.host)
		}
		if len(in.authPass) > 8 {
			addf("%s: auth_pass longer than 8 characters: keepalived truncates it", in.host)
		}
		switch in.state {
		case "MASTER":
			masters++
		case "BACKUP":
		default:
			addf("%s: state %q", in.host, in.state)
		}
		if other, dup := prios[in.priority]; dup {
			addf("%s and %s share priority %d", in.host, other, in.priority)
		}
		prios[in.priority] = in.host
		if in.priority < 1 || in.priority > 254 {
			addf("%s: priority %d outside 1..254", in.host, in.priority)
		}
		if in.trackCount == 0 || in.weight >= 0 {
			addf("%s: no tracked health check with a negative weight", in.host)
		}
	}
	if masters != 1 {
		addf("%d MASTERs, want exactly 1", masters)
	}
	for _, in := range ins {
		for _, other := range ins {
			if other != in && in.priority+in.weight >= other.priority {
				addf("%s failing its check (priority %d%+d) does not fall below healthy %s (%d)", in.host, in.priority, in.weight, other.host, other.priority)
			}
			if in.state == "MASTER" && other.priority > in.priority {
				addf("MASTER %s has priority %d below %s's %d", in.host, in.priority, other.host, other.priority)
			}
		}
	}
	if ref.srcIP != "" || len(ref.peers) > 0 {
		for _, in := range ins {
			var want []string
			for _, other := range ins {
				if other != in {
					want = append(want, other.srcIP)
				}
			}
			got := slices.Clone(in.peers)
			sort.Strings(got)
			sort.Strings(want)
			if in.srcIP == "" || !slices.Equal(got, want) {
				addf("%s: unicast_src_ip %q, unicast_peer %v, want the other peers %v", in.host, in.srcIP, in.peers, want)
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("keepalived peers disagree:\n    %s", strings.Join(problems, "\n    "))
	}
	return nil
}

func TestKeepalived(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		ka := f.plan.ControlPlane.Keepalived
		files := f.files(keepalivedConf)
		if ka == nil {
			if len(files) > 0 {
				t.Errorf("no keepalived in the spec, yet %d keepalived.conf files", len(files))
			}
			return
		}
		keepalived := tool(t, "keepalived")
		iface := testInterface(t)
		confs := map[string][]byte{}
		for _, h := range f.plan.ControlPlane.Hosts {
			conf, ok := f.hostFile(h.Name, keepalivedConf)
			if !ok {
				t.Errorf("%s: no %s", h.Name, keepalivedConf)
				continue
			}
			script, ok := f.hostFile(h.Name, keepalivedScript)
			if !ok {
				t.Errorf("%s: no %s", h.Name, keepalivedScript)
				continue
			}
			confs[h.Name] = conf
			if err := checkKeepalived(keepalived, iface, conf, script); err != nil {
				t.Errorf("%s: %v", h.Name, err)
			}
		}
		if len(files) != len(f.plan.ControlPlane.Hosts) {
			t.Errorf("%d keepalived.conf files, want one per control-plane host (%d)", len(files), len(f.plan.ControlPlane.Hosts))
		}
		if err := checkKeepalivedPeers(confs); err != nil {
			t.Error(err)
		}
		for _, h := range f.plan.HostsWith(model.RoleWorker) {
			if _, ok := f.hostFile(h.Name, keepalivedConf); ok {
				t.Errorf("worker %s got a keepalived.conf", h.Name)
			}
		}
	})
}
