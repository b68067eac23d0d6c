package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler/model"
)

const (
	etcdUnit       = "/etc/systemd/system/etcd.service"
	kubeletDropIn  = "/etc/kubernetes/hagen/kubelet-etcd.conf"
	dropInLinkName = "20-hagen-etcd.conf" // where the RUNBOOK links kubeletDropIn
)

// unitFile is a parsed systemd unit: section -> key -> assignments in order.
type unitFile map[string]map[string][]string

// parseUnit reads systemd's ini syntax (comments, line continuations).
func parseUnit(data []byte) (unitFile, error) {
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cont string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: %q is not key=value in a section", n, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	return u, sc.Err()
}

// effective applies systemd's list semantics: an empty assignment resets.
func effective(values []string) []string {
	var out []string
	for _, v := range values {
		if v == "" {
			out = nil
			continue
		}
		out = append(out, v)
	}
	return out
}

// mergeUnits merges a unit and its drop-ins (in the order given, which
// must be systemd's: lexical by file name).
func mergeUnits(units ...unitFile) unitFile {
	out := unitFile{}
	for _, u := range units {
		for sec, kv := range u {
			if out[sec] == nil {
				out[sec] = map[string][]string{}
			}
			for k, vs := range kv {
				out[sec][k] = append(out[sec][k], vs...)
			}
		}
	}
	return out
}

// execPath is the program of an ExecStart value, without systemd's
// prefixes (@, -, :, +, !).
func execPath(execStart string) string {
	f := strings.Fields(execStart)
	if len(f) == 0 {
		return ""
	}
	return strings.TrimLeft(f[0], "@-:+!")
}

// checkSystemdVerify: `systemd-analyze verify` accepts unit (a path
// relative to the unit directory built from files) without a single
// complaint: no unknown key, no bad value, every ExecStart executable.
// stubs maps programs the units run but this machine lacks to stand-ins:
// they appear only inside a private mount namespace (an overlay over their
// directory), so the host stays untouched.
func checkSystemdVerify(systemdAnalyze string, files map[string][]byte, unit string, stubs map[string]string) error {
	dir, err := os.MkdirTemp(scratch, "systemd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	unitDir := filepath.Join(dir, "units")
	for rel, data := range files {
		p := filepath.Join(unitDir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	overlaid := map[string]bool{}
	for _, prog := range sortedKeys(stubs) {
		if isExecutable(prog) {
			continue
		}
		d := filepath.Dir(prog)
		if !overlaid[d] {
			up, work := filepath.Join(dir, "overlay", fmt.Sprint(len(overlaid)), "up"), filepath.Join(dir, "overlay", fmt.Sprint(len(overlaid)), "work")
			if err := os.MkdirAll(up, 0o755); err != nil {
				return err
			}
			if err := os.MkdirAll(work, 0o755); err != nil {
				return err
			}
			if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
				return fmt.Errorf("cannot stand in for %s: %s is not a directory here", prog, d)
			}
			fmt.Fprintf(&script, "mount -t overlay overlay -o %s %s\n", shq("lowerdir="+d+",upperdir="+up+",workdir="+work), shq(d))
			overlaid[d] = true
		}
		fmt.Fprintf(&script, "ln -sf %s %s\n", shq(stubs[prog]), shq(prog))
	}
	// The trailing colon keeps the system's unit path (targets, etc.).
	fmt.Fprintf(&script, "SYSTEMD_UNIT_PATH=%s: exec %s verify %s\n", shq(unitDir), shq(systemdAnalyze), shq(filepath.Join(unitDir, unit)))
	out, err := run(2*time.Minute, dir, nil, "unshare", "-m", "--propagation", "private", "sh", "-c", script.String())
	if err != nil {
		return err
	}
	if strings.TrimSpace(out) != "" {
		return fmt.Errorf("systemd-analyze verify %s complained:\n%s", unit, indent(out))
	}
	return nil
}

// kubeletService is kubelet.service and kubeadm's drop-in as the Kubernetes
// deb and rpm packages install them (kubernetes/release).
var kubeletService = map[string][]byte{
	"kubelet.service": []byte(`[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`),
	"kubelet.service.d/10-kubeadm.conf": []byte(`# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`),
}

// checkKubeletDropIn: hagen's drop-in, linked where the RUNBOOK links it
// next to kubeadm's own, passes systemd-analyze verify, and wins: the
// kubelet's effective ExecStart is the drop-in's, which reads the
// KubeletConfiguration the bundle ships.
func checkKubeletDropIn(systemdAnalyze string, dropIn []byte, configPath string) error {
	files := map[string][]byte{"kubelet.service.d/" + dropInLinkName: dropIn}
	names := []string{}
	for k, v := range kubeletService {
		files[k] = v
	}
	for k := range files {
		if strings.HasPrefix(k, "kubelet.service.d/") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	units := []unitFile{}
	for _, n := range append([]string{"kubelet.service"}, names...) {
		u, err := parseUnit(files[n])
		if err != nil {
			return fmt.Errorf("%s: %v", n, err)
		}
		units = append(units, u)
	}
	exec := effective(mergeUnits(units...)["Service"]["ExecStart"])
	if len(exec) != 1 {
		return fmt.Errorf("kubelet.service with the drop-ins has %d ExecStart lines, want 1: %q", len(exec), exec)
	}
	if !strings.Contains(exec[0], "--config="+configPath) {
		return fmt.Errorf("the kubelet's effective ExecStart is %q: it does not read %s", exec[0], configPath)
	}
	stubs := map[string]string{execPath(exec[0]): "/bin/true"}
	return checkSystemdVerify(systemdAnalyze, files, "kubelet.service", stubs)
}

// etcdBinaryFor is the etcd binary the suite runs for an etcd version.
func etcdBinaryFor(t testing.TB, v model.Version) string {
	t.Helper()
	switch {
	case v.Major == 3 && v.Minor == 6:
		return toolAt(t, filepath.Join(os.Getenv(toolsEnv), "etcd-3.6"))
	default:
		return toolAt(t, "/usr/bin/etcd") // Debian's etcd 3.4; systemd-analyze only needs an executable
	}
}

func TestSystemdUnits(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		sa := tool(t, "systemd-analyze")
		tool(t, "unshare")
		units := f.files(etcdUnit)
		dropIns := f.files(kubeletDropIn)
		switch f.plan.Etcd.Run {
		case model.RunSystemd:
			if len(units) != len(f.plan.Etcd.Members) {
				t.Errorf("%d etcd.service files, want one per member (%d)", len(units), len(f.plan.Etcd.Members))
			}
		case model.RunStaticPod:
			if len(dropIns) != len(f.plan.Etcd.Members) {
				t.Errorf("%d kubelet drop-ins, want one per member (%d)", len(dropIns), len(f.plan.Etcd.Members))
			}
		}
		etcd := etcdBinaryFor(t, f.plan.Etcd.Version)
		for _, file := range units {
			u, err := parseUnit(file.Data)
			if err != nil {
				t.Errorf("%s: %v", file.BundlePath(), err)
				continue
			}
			stubs := map[string]string{}
			for _, e := range effective(u["Service"]["ExecStart"]) {
				stubs[execPath(e)] = etcd
			}
			if err := checkSystemdVerify(sa, map[string][]byte{"etcd.service": file.Data}, "etcd.service", stubs); err != nil {
				t.Errorf("%s: %v", file.BundlePath(), err)
			}
		}
		for _, file := range dropIns {
			cfg := strings.TrimSuffix(file.Path, ".conf") + ".yaml"
			if _, ok := f.hostFile(file.Host, cfg); !ok {
				t.Errorf("%s: %s is missing", file.BundlePath(), cfg)
			}
			if err := checkKubeletDropIn(sa, file.Data, cfg); err != nil {
				t.Errorf("%s: %v", file.BundlePath(), err)
			}
		}
	})
}
