// Package machine makes a lab host what the RUNBOOK's "Before you start"
// asks for: a Debian machine with keepalived, HAProxy and curl (the
// machine's own packages, seen through the host's overlay), kubeadm,
// kubectl and the kubelet of the bundle's Kubernetes version, and etcd and
// etcdctl of its etcd version in /usr/local/bin. Where the lab has no real
// program it installs its stand-in, and this package is the one place
// that says which: the kubelet, systemctl and crictl are hagen-lab itself,
// kubeadm is wrapped to add the preflight ignores of lab/standin.
package machine

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/host"
	"github.com/hagen/hagen/lab/standin/kubelet"
	hb "github.com/hagen/hagen/render/bundle"
)

// Kit is the binaries of one bundle's versions, built from the module
// proxy by tools/build.sh into the lab's --bin directory.
type Kit struct {
	Kubeadm, Kubectl                string
	APIServer, ControllerManager    string
	Scheduler, Proxy, Etcd, Etcdctl string
	KubernetesVersion, EtcdVersion  string
	KubernetesMinor, EtcdMinor      string
}

// KitFor finds the binaries for a bundle's software in bin. A missing one
// stops the lab (it cannot run), naming the build that makes it.
func KitFor(bin string, sw hb.Software) (*Kit, error) {
	k8s, err := minorOf(sw.Kubernetes)
	if err != nil {
		return nil, fmt.Errorf("kubernetes %q: %w", sw.Kubernetes, err)
	}
	etcd, err := minorOf(sw.Etcd)
	if err != nil {
		return nil, fmt.Errorf("etcd %q: %w", sw.Etcd, err)
	}
	// The hosts link to the binaries: a relative --bin would dangle.
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, err
	}
	k := &Kit{KubernetesVersion: sw.Kubernetes, EtcdVersion: sw.Etcd, KubernetesMinor: k8s, EtcdMinor: etcd}
	for _, b := range []struct {
		dst  *string
		name string
	}{
		{&k.Kubeadm, "kubeadm-" + k8s},
		{&k.Kubectl, "kubectl-" + k8s},
		{&k.APIServer, "kube-apiserver-" + k8s},
		{&k.ControllerManager, "kube-controller-manager-" + k8s},
		{&k.Scheduler, "kube-scheduler-" + k8s},
		{&k.Proxy, "kube-proxy-" + k8s},
		{&k.Etcd, "etcd-" + etcd},
		{&k.Etcdctl, "etcdctl-" + etcd},
	} {
		p := filepath.Join(bin, b.name)
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("the lab needs %s for this bundle (Kubernetes %s, etcd %s) and %s has none: run `tools/build.sh lab` (or make lab)", b.name, sw.Kubernetes, sw.Etcd, bin)
		}
		*b.dst = p
	}
	return k, nil
}

// minorOf is "1.37" of "1.37.2" (or "3.7" of "3.7.0").
func minorOf(v string) (string, error) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return "", fmt.Errorf("not MAJOR.MINOR.PATCH")
	}
	return parts[0] + "." + parts[1], nil
}

// Paths the lab's stand-ins use inside a host.
const (
	// RealKubeadm is the real kubeadm that the /usr/bin/kubeadm shim runs.
	RealKubeadm = "/usr/lib/hagen-lab/kubeadm"
	// PlayPython is the Python the lab's Ansible runs modules with
	// (ansible_python_interpreter): /usr/bin/python3 in a session that
	// yields the CPU (playPython).
	PlayPython = "/usr/lib/hagen-lab/python3"
	imagesDir  = "/usr/lib/hagen-lab/images"
)

// The kubelet package's files, as pkgs.k8s.io's deb installs them
// (kubernetes/release: cmd/krel/templates/latest/kubelet/kubelet.service,
// kubeadm/10-kubeadm.conf with /etc/sysconfig/kubelet made
// /etc/default/kubelet, kubelet.env).
const (
	kubeletService = `[Unit]
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
`
	kubeadmDropIn = `# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`
	kubeletDefaults = "KUBELET_EXTRA_ARGS=\n"
)

// playPython runs a module at the lowest priority a session can have.
// Every host and the workstation share the lab machine's cores, and the
// kernel gives each session (sshd makes one per command) an equal share
// (sched_autogroup), whatever its processes' nice: six modules at once
// would weigh six times the whole cluster, which all runs in the lab's
// one session, and starve it as machines of their own never are. With
// the session's autogroup at nice 19, a module gets what the cluster
// leaves.
const playPython = `#!/bin/sh
# hagen-lab: Ansible's modules yield to the control plane (see lab/machine).
echo 19 > /proc/self/autogroup 2>/dev/null
exec /usr/bin/python3 "$@"
`

// wantsDir holds the units a machine starts at boot.
const wantsDir = "/etc/systemd/system/multi-user.target.wants"

// Enabled are the units a freshly installed machine starts at boot:
// Debian enables the services of the packages it installs (keepalived
// waits for its configuration: ConditionFileNotEmpty), and the kubelet
// package enables the kubelet, which restarts every 10s until kubeadm has
// configured it. Whatever else the machine itself has enabled (its etcd
// package's unit, a database) is not part of a fresh node.
var Enabled = []string{"kubelet.service", "keepalived.service", "haproxy.service"}

// Install prepares h. names maps every lab host name (and an external load
// balancer's DNS name) to its address, for /etc/hosts.
func Install(h *host.Host, k *Kit, self string, names map[string]netip.Addr) error {
	a := h.Agent
	links := []struct{ path, target string }{
		{"/usr/bin/kubeadm", self},
		{RealKubeadm, k.Kubeadm},
		{"/usr/bin/kubectl", k.Kubectl},
		{"/usr/bin/kubelet", self},
		{"/usr/bin/systemctl", self},
		{"/usr/bin/crictl", self},
		{"/usr/local/bin/etcd", k.Etcd},
		{"/usr/local/bin/etcdctl", k.Etcdctl},
	}
	for _, l := range links {
		if err := a.WriteFile(agent.FileArgs{Path: l.path, Symlink: l.target}); err != nil {
			return err
		}
	}
	files := []agent.FileArgs{
		{Path: "/usr/lib/systemd/system/kubelet.service", Data: []byte(kubeletService), Mode: 0o644},
		{Path: "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", Data: []byte(kubeadmDropIn), Mode: 0o644},
		{Path: "/etc/default/kubelet", Data: []byte(kubeletDefaults), Mode: 0o644},
		{Path: PlayPython, Data: []byte(playPython), Mode: 0o755},
		{Path: "/etc/kubernetes/manifests/.kubelet-keep", Mode: 0o644},
		{Path: "/var/lib/kubelet/.kubelet-keep", Mode: 0o644},
		{Path: "/etc/hosts", Data: HostsFile(names), Mode: 0o644},
		// No name server: every name the cluster uses is in /etc/hosts,
		// and a lookup of any other fails at once instead of leaving the
		// host.
		{Path: "/etc/resolv.conf", Data: []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), Mode: 0o644},
	}
	for _, f := range files {
		if err := a.WriteFile(f); err != nil {
			return err
		}
	}
	images, err := k.images(h)
	if err != nil {
		return err
	}
	// The kubelet stand-in reads it: image names to binaries.
	if err := a.WriteFile(agent.FileArgs{Path: kubelet.ImagesFile, Data: images, Mode: 0o644}); err != nil {
		return err
	}
	// Boot-time units: exactly those of a fresh node.
	r, err := a.Sh("rm -f "+wantsDir+"/*", 0)
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("%s: clearing %s: %s", h.Name, wantsDir, r.Stderr)
	}
	for _, u := range Enabled {
		if err := a.WriteFile(agent.FileArgs{Path: wantsDir + "/" + u, Symlink: unitPath(u)}); err != nil {
			return err
		}
	}
	return nil
}

// SSH makes h reachable over SSH as root, as a freshly installed Debian
// server with openssh-server is, for a transport that logs in (Ansible):
// Debian's ssh.service enabled, a host key of its own (the machine's
// packages were installed once, for every host; a real machine generates
// its keys at installation), and the operator's key authorized for root.
// It returns the host's public key, for the operator's known_hosts.
func SSH(h *host.Host, operatorKey []byte) (hostKey []byte, err error) {
	a := h.Agent
	const key = "/etc/ssh/ssh_host_ed25519_key"
	r, err := a.Sh("install -d -m 0700 /root/.ssh && rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub && ssh-keygen -q -t ed25519 -N '' -C root@"+h.Name+" -f "+key, time.Minute)
	if err != nil {
		return nil, err
	}
	if r.Code != 0 {
		return nil, fmt.Errorf("%s: ssh-keygen: %s", h.Name, r.Stderr)
	}
	files := []agent.FileArgs{
		// The one host key it has (sshd would look for RSA and ECDSA
		// keys too, and complain).
		{Path: "/etc/ssh/sshd_config.d/host-key.conf", Data: []byte("HostKey " + key + "\n"), Mode: 0o644},
		{Path: "/root/.ssh/authorized_keys", Data: operatorKey, Mode: 0o600},
		{Path: wantsDir + "/ssh.service", Symlink: "/lib/systemd/system/ssh.service"},
	}
	for _, f := range files {
		if err := a.WriteFile(f); err != nil {
			return nil, err
		}
	}
	pub, ok, err := a.ReadFile(key + ".pub")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: ssh-keygen wrote no %s.pub", h.Name, key)
	}
	return pub, nil
}

func unitPath(u string) string {
	if u == "kubelet.service" {
		return "/usr/lib/systemd/system/" + u
	}
	return "/lib/systemd/system/" + u
}

// images writes the image map: each image the bundle's Kubernetes and etcd
// versions run, under every repository a bundle may name, to a directory
// of the lab binaries that image would carry.
func (k *Kit) images(h *host.Host) ([]byte, error) {
	type image struct {
		name, tag string
		bins      map[string]string
	}
	list := []image{
		{"kube-apiserver", "v" + k.KubernetesVersion, map[string]string{"kube-apiserver": k.APIServer}},
		{"kube-controller-manager", "v" + k.KubernetesVersion, map[string]string{"kube-controller-manager": k.ControllerManager}},
		{"kube-scheduler", "v" + k.KubernetesVersion, map[string]string{"kube-scheduler": k.Scheduler}},
		{"kube-proxy", "v" + k.KubernetesVersion, map[string]string{"kube-proxy": k.Proxy}},
		{"etcd", k.EtcdVersion + "-0", map[string]string{"etcd": k.Etcd, "etcdctl": k.Etcdctl}},
	}
	m := map[string]string{}
	for _, img := range list {
		dir := filepath.Join(imagesDir, img.name+"-"+img.tag)
		for name, target := range img.bins {
			if err := h.Agent.WriteFile(agent.FileArgs{Path: filepath.Join(dir, name), Symlink: target}); err != nil {
				return nil, err
			}
		}
		for _, repo := range []string{"registry.k8s.io", "k8s.gcr.io"} {
			m[repo+"/"+img.name+":"+img.tag] = dir
		}
	}
	return json.MarshalIndent(m, "", "  ")
}

// HostsFile is /etc/hosts with every name the lab's machines resolve.
func HostsFile(names map[string]netip.Addr) []byte {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	keys := make([]string, 0, len(names))
	for n := range names {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	for _, n := range keys {
		fmt.Fprintf(&b, "%s\t%s\n", names[n], n)
	}
	return []byte(b.String())
}
