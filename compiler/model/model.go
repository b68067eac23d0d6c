// Package model is the validated, derived cluster plan that the renderers
// read: plain Go data, no CUE, so that nothing downstream of the compiler
// depends on how the spec was written.
package model

import (
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Role is what a host does in the cluster.
type Role string

const (
	RoleControlPlane Role = "control-plane"
	RoleWorker       Role = "worker"
	RoleEtcd         Role = "etcd"
)

// Etcd topologies and run modes, as spelled in the spec.
const (
	TopologyStacked  = "stacked"
	TopologyExternal = "external"
	RunSystemd       = "systemd"
	RunStaticPod     = "static-pod"
)

// kubeadm configuration API versions hagen emits.
const (
	KubeadmV1Beta4  = "kubeadm.k8s.io/v1beta4"
	KubeadmV1Beta3  = "kubeadm.k8s.io/v1beta3"
	KubeadmV1Alpha1 = "kubeadm.k8s.io/v1alpha1"
)

// Well-known ports.
const (
	EtcdClientPort  = 2379
	EtcdPeerPort    = 2380
	EtcdMetricsPort = 2381
)

// Plan is everything hagen knows about one cluster after compilation: the
// spec with defaults applied, and what follows from it.
type Plan struct {
	Name         string
	Kubernetes   Kubernetes
	Network      Network
	ControlPlane ControlPlane
	Etcd         Etcd
	PKI          PKI
	// Hosts sorted by name.
	Hosts []*Host
}

// Version is a Kubernetes or etcd release, major.minor.patch.
type Version struct {
	Major, Minor, Patch int
	// Pre is a pre-release suffix without its dash ("rc.1"), if any.
	Pre string
}

func (v Version) String() string {
	s := strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) + "." + strconv.Itoa(v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || v.Major == major && v.Minor >= minor
}

type Kubernetes struct {
	Version         Version
	ImageRepository string // empty: kubeadm's default
	// KubeadmAPI is the kubeadm configuration apiVersion for Version.
	KubeadmAPI string
}

type Network struct {
	PodSubnet     netip.Prefix
	ServiceSubnet netip.Prefix
	DNSDomain     string
	// KubernetesServiceIP is the first address of ServiceSubnet: the
	// cluster IP of the "kubernetes" service, a SAN of the apiserver cert.
	KubernetesServiceIP netip.Addr
}

type ControlPlane struct {
	// Port is the apiserver's bind port on every control-plane host.
	Port        int
	Schedulable bool
	// Exactly one of Keepalived and External is set.
	Keepalived *Keepalived
	External   *External
	// Endpoint is what every client dials: the VIP and apiserver port,
	// the VIP and HAProxy's port, or the external load balancer.
	Endpoint Endpoint
	// Hosts are the control-plane hosts sorted by name; Hosts[0] runs
	// kubeadm init, the rest join.
	Hosts []*Host
}

// Init is the control-plane host that runs kubeadm init.
func (c ControlPlane) Init() *Host { return c.Hosts[0] }

// Endpoint is a host:port that clients dial.
type Endpoint struct {
	Host string // an IP address or a DNS name
	Port int
}

func (e Endpoint) String() string {
	return joinHostPort(e.Host, e.Port)
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// IsIP reports whether the endpoint's host is an IP address, not a name.
func (e Endpoint) IsIP() bool {
	_, err := netip.ParseAddr(e.Host)
	return err == nil
}

type Keepalived struct {
	VIP       netip.Addr
	Interface string
	RouterID  int
	Unicast   bool
	// HAProxy is set when HAProxy runs on every control-plane host.
	HAProxy *HAProxy
	// Peers are the control-plane hosts in VRRP order: Peers[0] is the
	// MASTER, the rest are BACKUPs with distinct, falling priorities.
	Peers []KeepalivedPeer
}

type HAProxy struct {
	// Port is the frontend port on every master (and so on the VIP).
	Port int
}

// KeepalivedPeer is one control-plane host's VRRP settings.
type KeepalivedPeer struct {
	Host     *Host
	State    string // MASTER or BACKUP
	Priority int
}

type External struct {
	Endpoint Endpoint
}

type Etcd struct {
	Topology  string
	Run       string
	Version   Version
	DataDir   string // the default; each Member has its own
	Discovery string // a discovery URL, or empty for a static initial cluster
	// Members sorted by name: the control-plane hosts (stacked) or the
	// hosts with role etcd (external).
	Members []*Member
	// Joined are the same members in the order they joined the cluster:
	// those that bootstrapped it, then each added one.
	Joined []*Member
	// Change is how this render changes a running cluster's membership:
	// nil for a new cluster or an unchanged one.
	Change *Change
	// Before is the membership Change starts from, remembered so that the
	// next render of the same spec renders the same change.
	Before *Membership
}

// Change is a change of membership since the last render: etcd members
// added and removed, and control-plane hosts joining and leaving. It is
// carried out one member at a time, additions first (each as a learner
// where etcd has them, promoted once caught up), removals last, so that a
// quorum of the old or the new membership is there throughout.
type Change struct {
	// Added are the new etcd members, in the order they are added.
	Added []*Member
	// Removed are the etcd members that go, in the order they are removed.
	Removed []Former
	// Joining are the new control-plane hosts; Leaving those that go.
	Joining []*Host
	Leaving []Former
	// Anchor is the member the additions and removals are made through:
	// one that stays.
	Anchor *Member
}

// Former is a host or etcd member of the last render that this one drops:
// the spec no longer says where it is, the history does.
type Former struct {
	Name    string
	Address netip.Addr
	// Roles are the host's roles in the last render.
	Roles []Role
	// PeerURL is an etcd member's.
	PeerURL string
}

// Empty reports whether the change changes nothing.
func (c *Change) Empty() bool {
	return c == nil || len(c.Added)+len(c.Removed)+len(c.Joining)+len(c.Leaving) == 0
}

// History is what a render remembers of the cluster's past, in the
// secrets file: which host ran kubeadm init, the membership of the last
// render (each etcd member with the flags of its first start) and, when
// that render changed the membership, the membership before it, so that a
// render of the same spec renders the same transition again until a new
// change replaces it: a bundle rendered twice before it is applied keeps
// its steps.
type History struct {
	Init string `json:"init"`
	Membership
	Before *Membership `json:"before,omitempty"`
}

// Membership is the control-plane hosts and the etcd members of a render.
type Membership struct {
	ControlPlane []HistoryHost   `json:"controlPlane"`
	Members      []HistoryMember `json:"etcdMembers"`
}

// HistoryHost is a control-plane host of a render.
type HistoryHost struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// HistoryMember is an etcd member of a render, in order of addition.
type HistoryMember struct {
	Name           string `json:"name"`
	PeerURL        string `json:"peerURL"`
	InitialCluster string `json:"initialCluster"`
	Existing       bool   `json:"existing,omitempty"`
}

// History is what this plan leaves for the next render to remember.
func (p *Plan) History() *History {
	h := &History{Init: p.ControlPlane.Init().Name, Before: p.Etcd.Before}
	for _, c := range p.ControlPlane.Hosts {
		h.ControlPlane = append(h.ControlPlane, HistoryHost{Name: c.Name, Address: c.Address.String()})
	}
	for _, m := range p.Etcd.Joined {
		h.Members = append(h.Members, HistoryMember{Name: m.Name, PeerURL: m.PeerURL(), InitialCluster: m.InitialCluster, Existing: m.Existing})
	}
	return h
}

// Member is one etcd member.
type Member struct {
	Host    *Host
	Name    string
	DataDir string
	// InitialCluster is the member's --initial-cluster, which etcd reads
	// on its first start only: the bootstrap cluster for the members that
	// bootstrapped it, and for a member added later the members there
	// were when it was added, itself included (what etcdctl member add
	// prints).
	InitialCluster string
	// Existing: the member joins a running cluster
	// (--initial-cluster-state existing) rather than bootstrapping one.
	Existing bool
}

// PeerURL is where the other members reach this one.
func (m *Member) PeerURL() string {
	return "https://" + joinHostPort(m.Host.Address.String(), EtcdPeerPort)
}

// ClientURL is where clients (kube-apiserver, etcdctl) reach this member.
func (m *Member) ClientURL() string {
	return "https://" + joinHostPort(m.Host.Address.String(), EtcdClientPort)
}

// InitialCluster is etcd's --initial-cluster value of a cluster of these
// members: name=peerURL for each, in the order given.
func InitialCluster(members []*Member) string {
	s := ""
	for i, m := range members {
		if i > 0 {
			s += ","
		}
		s += m.Name + "=" + m.PeerURL()
	}
	return s
}

// ClientURLs lists every member's client URL, in member order.
func (e Etcd) ClientURLs() []string {
	urls := make([]string, len(e.Members))
	for i, m := range e.Members {
		urls[i] = m.ClientURL()
	}
	return urls
}

// KeyAlgorithm names a private key type and size as the spec spells it.
type KeyAlgorithm string

const (
	RSA2048   KeyAlgorithm = "RSA-2048"
	RSA3072   KeyAlgorithm = "RSA-3072"
	RSA4096   KeyAlgorithm = "RSA-4096"
	ECDSAP256 KeyAlgorithm = "ECDSA-P256"
	ECDSAP384 KeyAlgorithm = "ECDSA-P384"
)

type PKI struct {
	KeyAlgorithm KeyAlgorithm
	CAValidity   time.Duration
	CertValidity time.Duration
}

// Host is one machine.
type Host struct {
	Name    string
	Address netip.Addr
	// Prefix is the address's network when the spec gave a prefix length
	// ("10.0.0.10/24"); invalid otherwise.
	Prefix netip.Prefix
	Roles  []Role
	Zone   string
}

// Has reports whether the host has role r.
func (h *Host) Has(r Role) bool {
	for _, x := range h.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// HostsWith returns the plan's hosts that have role r, sorted by name.
func (p *Plan) HostsWith(r Role) []*Host {
	var hs []*Host
	for _, h := range p.Hosts {
		if h.Has(r) {
			hs = append(hs, h)
		}
	}
	return hs
}

// Host returns the host named name, or nil.
func (p *Plan) Host(name string) *Host {
	for _, h := range p.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Member returns the etcd member on host name, or nil.
func (p *Plan) Member(name string) *Member {
	for _, m := range p.Etcd.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}
