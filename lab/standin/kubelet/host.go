package kubelet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// nodeName is the kubelet's node name: --hostname-override or the
// hostname, trimmed and lowercased (component-helpers' GetHostname).
func nodeName(override string, hostname func() (string, error)) (string, error) {
	name := override
	if name == "" {
		h, err := hostname()
		if err != nil {
			return "", fmt.Errorf("couldn't determine hostname: %w", err)
		}
		name = h
	}
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return "", errors.New("empty hostname is invalid")
	}
	return name, nil
}

// parseNodeIPs reads --node-ip: one address, or two of different
// families.
func parseNodeIPs(vals []string) ([]string, error) {
	var ips []string
	for _, v := range vals {
		ip := net.ParseIP(v)
		if ip == nil {
			return nil, fmt.Errorf("failed to parse node IP %q", v)
		}
		ips = append(ips, ip.String())
	}
	if len(ips) > 2 || (len(ips) == 2 && (net.ParseIP(ips[0]).To4() == nil) == (net.ParseIP(ips[1]).To4() == nil)) {
		return nil, fmt.Errorf("bad --node-ip %q: must be one IP, or two of different families", strings.Join(vals, ","))
	}
	return ips, nil
}

// validateNodeIP is the kubelet's check of --node-ip: not loopback, not
// link-local, and assigned to an interface of this host.
func validateNodeIP(ip string, local func() ([]net.Addr, error)) error {
	p := net.ParseIP(ip)
	switch {
	case p.IsLoopback():
		return fmt.Errorf("nodeIP can't be loopback address")
	case p.IsMulticast():
		return fmt.Errorf("nodeIP can't be a multicast address")
	case p.IsLinkLocalUnicast():
		return fmt.Errorf("nodeIP can't be a link-local unicast address")
	case p.IsUnspecified():
		return fmt.Errorf("nodeIP can't be an all zeros address")
	}
	addrs, err := local()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(p) {
			return nil
		}
	}
	return fmt.Errorf("node IP: %q not found in the host's network interfaces", ip)
}

// detectNodeIP is the kubelet's fallback without --node-ip: the node name
// if it is an IP, else what it resolves to, else the address of the
// interface of the default route.
func detectNodeIP(node string) (string, error) {
	if ip := net.ParseIP(node); ip != nil {
		return ip.String(), nil
	}
	if addrs, err := net.LookupIP(node); err == nil {
		for _, ip := range addrs {
			if !ip.IsLoopback() && !ip.IsLinkLocalUnicast() && ip.To4() != nil {
				return ip.String(), nil
			}
		}
	}
	iface, err := defaultRouteInterface()
	if err != nil {
		return "", err
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return "", err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no IPv4 address on %s, the default route's interface", iface)
}

func defaultRouteInterface() (string, error) {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return "", err
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) > 2 && f[1] == "00000000" {
			return f[0], nil
		}
	}
	return "", errors.New("no default route: pass --node-ip")
}

// hostFacts are what the node reports of its machine.
type hostFacts struct {
	CPUs           int
	MemoryBytes    int64
	EphemeralBytes int64
	MachineID      string
	SystemUUID     string
	BootID         string
	KernelVersion  string
	OSImage        string
}

// readHostFacts reads the host as cadvisor would, as far as the node's
// status needs it. A fact it cannot read stays zero.
func readHostFacts(rootDir string) hostFacts {
	f := hostFacts{CPUs: runtime.NumCPU()}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		f.MemoryBytes = memTotal(data)
	}
	var st unix.Statfs_t
	dir := rootDir
	if _, err := os.Stat(dir); err != nil {
		dir = "/"
	}
	if unix.Statfs(dir, &st) == nil {
		f.EphemeralBytes = int64(st.Blocks) * st.Bsize
	}
	read := func(p string) string {
		b, _ := os.ReadFile(p)
		return strings.TrimSpace(string(b))
	}
	f.MachineID = read("/etc/machine-id")
	f.SystemUUID = strings.ToLower(read("/sys/class/dmi/id/product_uuid"))
	f.BootID = read("/proc/sys/kernel/random/boot_id")
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		f.KernelVersion = unix.ByteSliceToString(u.Release[:])
	}
	f.OSImage = "Linux"
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				}
				f.OSImage = v
			}
		}
	}
	return f
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal(meminfo []byte) int64 {
	s := bufio.NewScanner(bytes.NewReader(meminfo))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
