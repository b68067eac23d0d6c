package compiler

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hagen/hagen/compiler/model"
)

// checker runs the cross-field checks and derives the plan, collecting every
// problem rather than stopping at the first.
type checker struct {
	file    string
	pos     positions
	history *model.History // nil for a new cluster
	opts    Options
	errs    []Problem
	warns   []Problem
}

func (c *checker) errorf(path Path, format string, args ...any) {
	c.errs = append(c.errs, Problem{Path: path, Pos: c.at(path), Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(path Path, format string, args ...any) {
	c.warns = append(c.warns, Problem{Path: path, Pos: c.at(path), Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) at(path Path) Pos {
	if p := c.pos.of(path); p.File != "" {
		return p
	}
	return Pos{File: c.file}
}

func p(segs ...string) Path { return Path(segs) }

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

const dnsLabelRule = "a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"

func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if !dnsLabel.MatchString(strings.ToLower(l)) {
			return false
		}
	}
	return true
}

func (c *checker) plan(s *spec) *model.Plan {
	pl := &model.Plan{Name: s.Name}
	if !dnsLabel.MatchString(s.Name) {
		c.errorf(p("name"), "%q is not %s", s.Name, dnsLabelRule)
	}
	if c.history != nil && c.opts.Cluster != s.Name {
		// Another cluster's past would plan a nonsense change.
		c.errorf(p("name"), "the spec is cluster %q, but %s is cluster %q's: pass the right --secrets file", s.Name, c.opts.Secrets, c.opts.Cluster)
		c.history = nil
	}
	c.kubernetes(s, pl)
	c.network(s, pl)
	c.hosts(s, pl)
	c.pki(s, pl)
	c.controlPlane(s, pl)
	c.etcd(s, pl)
	c.addresses(s, pl)
	c.zones(pl)
	return pl
}

func (c *checker) kubernetes(s *spec, pl *model.Plan) {
	at := p("kubernetes", "version")
	v, ok := parseVersion(s.Kubernetes.Version)
	if !ok {
		c.errorf(at, "%q is not a version: want MAJOR.MINOR.PATCH, e.g. %q", s.Kubernetes.Version, NewestRelease)
		return
	}
	r, ok, newer := release(v)
	if !ok {
		c.errorf(at, "Kubernetes %s is not supported: supported are %s", v, supportedRanges)
		return
	}
	switch {
	case newer:
		c.warnf(at, "Kubernetes %s is newer than 1.%d, the newest hagen was checked against; emitting %s", v, newestMinor, r.api)
	case !upstreamSupported(v.Minor):
		c.warnf(at, "Kubernetes %s is out of upstream support (supported: %s): hagen renders it, but plan an upgrade", v, supportWindow())
	}
	pl.Kubernetes = model.Kubernetes{Version: v, KubeadmAPI: r.api, ImageRepository: s.Kubernetes.ImageRepository}
	if repo := s.Kubernetes.ImageRepository; repo != "" && (strings.ContainsAny(repo, " \t\n:@") && !strings.Contains(repo, "/") || strings.ContainsAny(repo, " \t\n@")) {
		c.errorf(p("kubernetes", "imageRepository"), "%q is not an image repository (e.g. \"registry.k8s.io\")", repo)
	}
}

// parseCIDR parses a network in CIDR notation, insisting on the network
// address so that "10.32.1.0/12" is not silently read as 10.32.0.0/12.
func (c *checker) parseCIDR(at Path, s string) (netip.Prefix, bool) {
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		c.errorf(at, "%q is not a CIDR (e.g. \"10.32.0.0/12\")", s)
		return pr, false
	}
	if pr.Masked() != pr {
		c.errorf(at, "%q has host bits set: the network is %s", s, pr.Masked())
		return pr, false
	}
	return pr, true
}

func (c *checker) network(s *spec, pl *model.Plan) {
	n := &pl.Network
	n.DNSDomain = s.Network.DNSDomain
	if !isDNSName(n.DNSDomain) {
		c.errorf(p("network", "dnsDomain"), "%q is not a DNS domain", n.DNSDomain)
	}
	pod, podOK := c.parseCIDR(p("network", "podSubnet"), s.Network.PodSubnet)
	svc, svcOK := c.parseCIDR(p("network", "serviceSubnet"), s.Network.ServiceSubnet)
	if svcOK {
		// kubeadm refuses service CIDRs with more than 20 host bits, and
		// needs room for the kubernetes and DNS service IPs.
		hostBits := svc.Addr().BitLen() - svc.Bits()
		switch {
		case hostBits > 20:
			c.errorf(p("network", "serviceSubnet"), "%s is too large: kubeadm allows at most 20 host bits (/%d or longer)", svc, svc.Addr().BitLen()-20)
			svcOK = false
		case hostBits < 4:
			c.errorf(p("network", "serviceSubnet"), "%s is too small: services need at least 16 addresses (/%d or shorter)", svc, svc.Addr().BitLen()-4)
			svcOK = false
		}
	}
	if podOK && svcOK {
		if pod.Addr().Is4() != svc.Addr().Is4() {
			c.errorf(p("network", "serviceSubnet"), "%s and network.podSubnet %s are of different IP families; hagen builds single-stack clusters", svc, pod)
		}
		if pod.Overlaps(svc) {
			// Blame the field the user wrote: serviceSubnet may be the default.
			if _, given := c.pos[p("network", "serviceSubnet").String()]; given {
				c.errorf(p("network", "serviceSubnet"), "%s overlaps network.podSubnet %s", svc, pod)
			} else {
				c.errorf(p("network", "podSubnet"), "%s overlaps network.serviceSubnet %s (the default; set another one or move the pod network)", pod, svc)
			}
		}
	}
	if podOK {
		n.PodSubnet = pod
	}
	if svcOK {
		n.ServiceSubnet = svc
		n.KubernetesServiceIP = svc.Addr().Next()
	}
}

func (c *checker) hosts(s *spec, pl *model.Plan) {
	names := make([]string, 0, len(s.Hosts))
	for name := range s.Hosts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		hs := s.Hosts[name]
		at := p("hosts", name)
		if !dnsLabel.MatchString(name) {
			c.errorf(at, "host name %q is not %s", name, dnsLabelRule)
		}
		h := &model.Host{Name: name, Zone: hs.Zone}
		h.Address, h.Prefix = c.parseHostAddress(at.Child("address"), hs.Address)
		seen := map[model.Role]bool{}
		for i, r := range hs.Roles {
			if seen[model.Role(r)] {
				c.errorf(at.Child("roles", strconv.Itoa(i)), "role %q is listed twice", r)
				continue
			}
			seen[model.Role(r)] = true
			h.Roles = append(h.Roles, model.Role(r))
		}
		switch {
		case len(hs.Roles) == 0:
			c.errorf(at.Child("roles"), "a host needs a role: \"control-plane\", \"worker\" or \"etcd\"")
		case seen[model.RoleControlPlane] && seen[model.RoleWorker]:
			c.errorf(at.Child("roles"), "a host is either control-plane or worker; set controlPlane.schedulable: true to run workloads on control-plane hosts")
		case seen[model.RoleEtcd] && len(seen) > 1:
			c.errorf(at.Child("roles"), "role \"etcd\" is for dedicated etcd hosts and cannot be combined; for etcd on the control-plane hosts use etcd.topology \"stacked\"")
		}
		if hs.Zone != "" && !dnsLabel.MatchString(hs.Zone) && !isDNSName(hs.Zone) {
			c.errorf(at.Child("zone"), "%q is not a zone name (letters, digits, '-', '.')", hs.Zone)
		}
		pl.Hosts = append(pl.Hosts, h)
	}
	if len(pl.HostsWith(model.RoleControlPlane)) == 0 {
		c.errorf(p("hosts"), "no host has role \"control-plane\": a cluster needs at least one")
	}
}

// parseHostAddress accepts "10.0.0.10" or "10.0.0.10/24" (IPv4 or IPv6).
func (c *checker) parseHostAddress(at Path, s string) (netip.Addr, netip.Prefix) {
	var addr netip.Addr
	var prefix netip.Prefix
	if strings.Contains(s, "/") {
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			c.errorf(at, "%q is not an IP address with prefix length (e.g. \"10.0.0.10/24\")", s)
			return addr, prefix
		}
		addr, prefix = pr.Addr(), pr.Masked()
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			c.errorf(at, "%q is not an IP address", s)
			return addr, prefix
		}
		addr = a
	}
	switch {
	case addr.Zone() != "":
		c.errorf(at, "%q carries an IPv6 zone: use a global or unique-local address", s)
	case addr.Is4In6():
		c.errorf(at, "%q is an IPv4-mapped IPv6 address: write it as %s", s, addr.Unmap())
	case addr.IsUnspecified() || addr.IsMulticast() || addr.IsLinkLocalUnicast():
		c.errorf(at, "%s cannot be a host address", addr)
	case addr.IsLoopback():
		c.warnf(at, "%s is a loopback address: fine for a test on one machine, unreachable from other hosts", addr)
	}
	if prefix.IsValid() && addr.Is4() && prefix.Bits() < 31 {
		if addr == prefix.Addr() || addr == lastAddr(prefix) {
			c.errorf(at, "%s is the network or broadcast address of %s", addr, prefix)
		}
	}
	return addr, prefix
}

func lastAddr(pr netip.Prefix) netip.Addr {
	b := pr.Addr().AsSlice()
	for i := pr.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (c *checker) pki(s *spec, pl *model.Plan) {
	pl.PKI.KeyAlgorithm = model.KeyAlgorithm(s.PKI.KeyAlgorithm)
	ca := c.duration(p("pki", "caValidity"), s.PKI.CAValidity)
	cert := c.duration(p("pki", "certValidity"), s.PKI.CertValidity)
	if ca > 0 && cert > 0 && cert > ca {
		c.errorf(p("pki", "certValidity"), "%s outlives pki.caValidity %s: a certificate cannot be valid longer than its CA", s.PKI.CertValidity, s.PKI.CAValidity)
	}
	pl.PKI.CAValidity, pl.PKI.CertValidity = ca, cert
	c.kubeadmKeys(pl)
}

// kubeadmKeys checks pki.keyAlgorithm against what kubeadm can do with it.
// kubeadm issues certificates of its own on the masters (the apiserver's,
// apiserver-kubelet-client, front-proxy-client, the kubeconfigs' client
// certificates), and only v1beta4's encryptionAlgorithm tells it the key
// type: kubeadm 1.22-1.30 read v1beta3, which converts to RSA-2048
// (cmd/kubeadm/app/apis/kubeadm/v1beta3/conversion.go), and kubeadm
// 1.9/1.10 generate RSA-2048 and load only RSA keys, the CAs' and the
// service account's included (phases/certs/pkiutil in v1.10.13:
// TryLoadKeyFromDisk, "isn't in RSA format"). The problem is reported at
// pki.keyAlgorithm where the user wrote it, else at kubernetes.version.
func (c *checker) kubeadmKeys(pl *model.Plan) {
	alg, api, v := pl.PKI.KeyAlgorithm, pl.Kubernetes.KubeadmAPI, pl.Kubernetes.Version
	if alg == model.RSA2048 || api == "" || api == model.KubeadmV1Beta4 {
		return
	}
	at := p("pki", "keyAlgorithm")
	if _, given := c.pos[at.String()]; !given {
		at = p("kubernetes", "version")
	}
	ecdsa := strings.HasPrefix(string(alg), "ECDSA")
	switch {
	case api == model.KubeadmV1Alpha1 && ecdsa:
		c.errorf(at, "%s: kubeadm %d.%d loads only RSA keys, and hagen's CAs and service-account key would be %s; use RSA-2048 (or RSA-3072, RSA-4096) or Kubernetes 1.31 or newer", alg, v.Major, v.Minor, alg)
	default:
		c.warnf(at, "%s: kubeadm %d.%d (%s) cannot be told a key type, so the certificates it issues (apiserver, apiserver-kubelet-client, front-proxy-client, the kubeconfigs' client certificates) are RSA-2048; hagen's CAs and etcd certificates are %s. Kubernetes 1.31 or newer (v1beta4's encryptionAlgorithm) keeps one key type throughout", alg, v.Major, v.Minor, api, alg)
	}
}

func (c *checker) duration(at Path, s string) time.Duration {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		c.errorf(at, "%q is not a duration: use hours, e.g. \"8760h\" for a year", s)
		return 0
	case d < time.Hour:
		c.errorf(at, "%s is too short: at least \"1h\"", s)
		return 0
	}
	return d
}

func (c *checker) controlPlane(s *spec, pl *model.Plan) {
	cp := &pl.ControlPlane
	cp.Port = s.ControlPlane.Port
	cp.Schedulable = s.ControlPlane.Schedulable
	cp.Hosts = c.initFirst(pl.HostsWith(model.RoleControlPlane))
	lb := s.ControlPlane.LoadBalancer
	at := p("controlPlane", "loadBalancer")
	switch {
	case lb.Keepalived != nil && lb.External != nil:
		c.errorf(at, "give exactly one of keepalived and external, not both")
	case lb.Keepalived == nil && lb.External == nil:
		c.errorf(at, "give exactly one of keepalived (a virtual IP on the control-plane hosts) and external (a load balancer's endpoint)")
	case lb.External != nil:
		c.external(at.Child("external", "endpoint"), lb.External.Endpoint, pl)
	default:
		c.keepalived(at.Child("keepalived"), s, pl)
	}
	if len(cp.Hosts) == 1 {
		c.warnf(p("hosts", cp.Hosts[0].Name, "roles"), "one control-plane host is not highly available: add two more")
	}
}

func (c *checker) external(at Path, endpoint string, pl *model.Plan) {
	host, portStr, err := net.SplitHostPort(endpoint)
	if err != nil {
		c.errorf(at, "%q is not host:port (e.g. \"k8s-api.example.com:6443\"; IPv6 as \"[2001:db8::1]:6443\")", endpoint)
		return
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		c.errorf(at, "port %q of %q is not in 1..65535", portStr, endpoint)
		return
	}
	if a, err := netip.ParseAddr(host); err == nil {
		for _, h := range pl.Hosts {
			if h.Address == a {
				c.warnf(at, "%s is the address of host %s, not of a load balancer: the control plane is not highly available", a, h.Name)
			}
		}
	} else if !isDNSName(host) {
		c.errorf(at, "%q is neither an IP address nor a DNS name", host)
		return
	}
	pl.ControlPlane.External = &model.External{Endpoint: model.Endpoint{Host: host, Port: port}}
	pl.ControlPlane.Endpoint = pl.ControlPlane.External.Endpoint
}

var ifName = regexp.MustCompile(`^[A-Za-z0-9_.:@-]{1,15}$`)

func (c *checker) keepalived(at Path, s *spec, pl *model.Plan) {
	ks := s.ControlPlane.LoadBalancer.Keepalived
	k := &model.Keepalived{Interface: ks.Interface, RouterID: ks.RouterID, Unicast: ks.Unicast}
	if !ifName.MatchString(ks.Interface) {
		c.errorf(at.Child("interface"), "%q is not a network interface name (at most 15 characters, no '/' or spaces)", ks.Interface)
	}
	vip, err := netip.ParseAddr(ks.VIP)
	if err != nil {
		c.errorf(at.Child("vip"), "%q is not an IP address (the VIP takes no prefix length)", ks.VIP)
		return
	}
	k.VIP = vip
	var outside []string
	for _, h := range pl.ControlPlane.Hosts {
		hat := p("hosts", h.Name, "address")
		switch {
		case !h.Address.IsValid():
			// already reported
		case !h.Prefix.IsValid():
			c.errorf(hat, "%s needs a prefix length (e.g. \"%s/24\"): keepalived puts the VIP %s on this host's subnet", h.Address, h.Address, vip)
		case !h.Prefix.Contains(vip):
			outside = append(outside, fmt.Sprintf("%s (%s)", h.Name, h.Prefix))
		case vip.Is4() && h.Prefix.Bits() < 31 && (vip == h.Prefix.Addr() || vip == lastAddr(h.Prefix)):
			c.errorf(at.Child("vip"), "%s is the network or broadcast address of %s", vip, h.Prefix)
		}
	}
	if len(outside) > 0 {
		c.errorf(at.Child("vip"), "%s is outside the subnet of control-plane host %s: every master must be able to carry the VIP", vip, strings.Join(outside, ", "))
	}
	port := pl.ControlPlane.Port
	if ks.HAProxy != nil {
		k.HAProxy = &model.HAProxy{Port: ks.HAProxy.Port}
		if ks.HAProxy.Port == pl.ControlPlane.Port {
			c.errorf(at.Child("haproxy", "port"), "%d is controlPlane.port: HAProxy runs beside the apiserver on every master and needs a port of its own (e.g. 8443)", ks.HAProxy.Port)
		}
		port = ks.HAProxy.Port
		if pl.Kubernetes.KubeadmAPI == model.KubeadmV1Alpha1 {
			// kubeadm 1.9/1.10 builds the masters' kubeconfigs from
			// api.controlPlaneEndpoint and api.bindPort: they would bypass
			// HAProxy while the workers dial its port.
			c.errorf(at.Child("haproxy"), "kubeadm %s cannot point the masters at HAProxy's port (it reuses the apiserver's bind port); drop haproxy or use Kubernetes 1.22 or newer", pl.Kubernetes.Version)
		}
	}
	// VRRP priorities: the init host is MASTER; BACKUPs fall by one so that
	// failover order is fixed and no two peers tie.
	if n := len(pl.ControlPlane.Hosts); n > 100 {
		c.errorf(p("hosts"), "%d control-plane hosts: keepalived priorities allow at most 100", n)
	}
	for i, h := range pl.ControlPlane.Hosts {
		peer := model.KeepalivedPeer{Host: h, State: "BACKUP", Priority: 101 - i}
		if i == 0 {
			peer.State = "MASTER"
		} else {
			peer.Priority = 100 - (i - 1)
		}
		k.Peers = append(k.Peers, peer)
	}
	pl.ControlPlane.Keepalived = k
	pl.ControlPlane.Endpoint = model.Endpoint{Host: vip.String(), Port: port}
}

func (c *checker) etcd(s *spec, pl *model.Plan) {
	e := &pl.Etcd
	e.Topology, e.Run, e.Discovery = s.Etcd.Topology, s.Etcd.Run, s.Etcd.Discovery
	e.DataDir = s.Etcd.DataDir
	c.absPath(p("etcd", "dataDir"), e.DataDir)

	vat := p("etcd", "version")
	if s.Etcd.Version == "" {
		if r, ok, _ := release(pl.Kubernetes.Version); ok {
			e.Version, _ = parseVersion(r.etcd)
		}
	} else if v, ok := parseVersion(s.Etcd.Version); !ok {
		c.errorf(vat, "%q is not a version: want MAJOR.MINOR.PATCH, e.g. \"3.6.5\"", s.Etcd.Version)
	} else if err := checkEtcdVersion(v); err != nil {
		c.errorf(vat, "%v", err)
	} else {
		e.Version = v
		k := pl.Kubernetes.Version
		if r, ok, _ := release(k); ok && olderThan(v, mustVersion(r.minEtcd)) {
			c.errorf(vat, "etcd %s is older than %s, the oldest etcd kubeadm %d.%d accepts (its ExternalEtcdVersion preflight check fails): use %s or newer (the default for Kubernetes %d.%d is %s)",
				v, trimImageSuffix(r.minEtcd), k.Major, k.Minor, trimImageSuffix(r.minEtcd), k.Major, k.Minor, r.etcd)
		}
	}

	if e.Discovery != "" {
		at := p("etcd", "discovery")
		u, err := url.Parse(e.Discovery)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			c.errorf(at, "%q is not an http(s) discovery URL", e.Discovery)
		case e.Version.AtLeast(3, 6):
			c.errorf(at, "etcd %s cannot bootstrap through a discovery URL: 3.6 dropped the v2 store that v2 discovery needs. Drop etcd.discovery (hagen then writes a static initial cluster) or pin etcd.version below 3.6", e.Version)
		}
	}

	role := model.RoleControlPlane
	if e.Topology == model.TopologyExternal {
		role = model.RoleEtcd
	}
	for _, h := range pl.Hosts {
		if h.Has(model.RoleEtcd) && e.Topology != model.TopologyExternal {
			c.errorf(p("hosts", h.Name, "roles"), "role \"etcd\" needs etcd.topology \"external\"; with \"stacked\" etcd runs on the control-plane hosts")
		}
		hs := s.Hosts[h.Name]
		if !h.Has(role) {
			if hs.Etcd != nil {
				c.errorf(p("hosts", h.Name, "etcd"), "host %s is not an etcd member (topology %q): remove etcd", h.Name, e.Topology)
			}
			continue
		}
		m := &model.Member{Host: h, Name: h.Name, DataDir: e.DataDir}
		if hs.Etcd != nil && hs.Etcd.DataDir != "" {
			m.DataDir = hs.Etcd.DataDir
			c.absPath(p("hosts", h.Name, "etcd", "dataDir"), m.DataDir)
		}
		e.Members = append(e.Members, m)
	}
	c.membership(pl)
	n := len(e.Members)
	switch {
	case n == 0 && e.Topology == model.TopologyExternal:
		c.errorf(p("etcd", "topology"), "topology \"external\" needs hosts with role \"etcd\"; none has it")
	case n > 0 && n%2 == 0:
		// A warning, not an error: an even membership is a step on the
		// way (growing 3 to 5 one render at a time), and runs.
		at := p("etcd", "topology")
		if _, given := c.pos[at.String()]; !given {
			at = p("hosts")
		}
		c.warnf(at, "%d etcd members: use an odd number (%d tolerates no more failures than %d and needs a larger quorum)", n, n, n-1)
	case n > 0 && n < 3:
		c.warnf(p("hosts", e.Members[0].Name), "one etcd member is not highly available: losing %s loses the cluster's data; use 3 or 5", e.Members[0].Name)
	}
}

func (c *checker) absPath(at Path, s string) {
	if !path.IsAbs(s) || path.Clean(s) != s || s == "/" {
		c.errorf(at, "%q is not a clean absolute directory (e.g. \"/var/lib/etcd\")", s)
	}
}

// addresses checks that no address is used twice, the VIP included, and
// that no host sits inside the pod or service network.
func (c *checker) addresses(s *spec, pl *model.Plan) {
	type owner struct {
		path Path
		name string
	}
	used := map[netip.Addr]owner{}
	claim := func(a netip.Addr, at Path, name string) {
		if !a.IsValid() {
			return
		}
		if prev, dup := used[a]; dup {
			c.errorf(at, "%s is already used by %s at %s", a, prev.name, c.at(prev.path))
			return
		}
		used[a] = owner{at, name}
	}
	if k := pl.ControlPlane.Keepalived; k != nil {
		claim(k.VIP, p("controlPlane", "loadBalancer", "keepalived", "vip"), "the keepalived VIP")
	}
	// Claim in file order so the second use is the one reported.
	hosts := append([]*model.Host(nil), pl.Hosts...)
	sort.SliceStable(hosts, func(i, j int) bool {
		a, b := c.at(p("hosts", hosts[i].Name)), c.at(p("hosts", hosts[j].Name))
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	for _, h := range hosts {
		claim(h.Address, p("hosts", h.Name, "address"), "hosts."+h.Name)
	}

	nets := []struct {
		name string
		pr   netip.Prefix
	}{{"network.podSubnet", pl.Network.PodSubnet}, {"network.serviceSubnet", pl.Network.ServiceSubnet}}
	for _, n := range nets {
		if !n.pr.IsValid() {
			continue
		}
		for _, h := range hosts {
			at := p("hosts", h.Name, "address")
			switch {
			case h.Prefix.IsValid() && h.Prefix.Overlaps(n.pr):
				c.errorf(at, "subnet %s overlaps %s %s", h.Prefix, n.name, n.pr)
			case h.Address.IsValid() && n.pr.Contains(h.Address):
				c.errorf(at, "%s lies inside %s %s", h.Address, n.name, n.pr)
			}
		}
		if k := pl.ControlPlane.Keepalived; k != nil && n.pr.Contains(k.VIP) {
			c.errorf(p("controlPlane", "loadBalancer", "keepalived", "vip"), "%s lies inside %s %s", k.VIP, n.name, n.pr)
		}
	}
}

// zones checks failure domains: all control-plane hosts name one or none,
// and no zone holds a majority of etcd members.
func (c *checker) zones(pl *model.Plan) {
	var with, without []*model.Host
	for _, h := range pl.ControlPlane.Hosts {
		if h.Zone != "" {
			with = append(with, h)
		} else {
			without = append(without, h)
		}
	}
	if len(with) > 0 && len(without) > 0 {
		for _, h := range without {
			c.errorf(p("hosts", h.Name), "control-plane host %s has no zone, but %s has %q: give a zone on every control-plane host or on none", h.Name, with[0].Name, with[0].Zone)
		}
		return
	}
	members := pl.Etcd.Members
	if len(members) < 3 {
		return
	}
	count := map[string]int{}
	for _, m := range members {
		if m.Host.Zone != "" {
			count[m.Host.Zone]++
		}
	}
	zones := make([]string, 0, len(count))
	for z := range count {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	for _, z := range zones {
		if count[z]*2 > len(members) {
			var first string
			for _, m := range members {
				if m.Host.Zone == z {
					first = m.Name
					break
				}
			}
			c.warnf(p("hosts", first, "zone"), "zone %q holds %d of %d etcd members: losing that zone loses quorum", z, count[z], len(members))
		}
	}
}
