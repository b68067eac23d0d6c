package compiler

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/hagen/hagen/compiler/model"
)

// initFirst orders the control-plane hosts with the one that ran kubeadm
// init first (Init(), keepalived's MASTER), the rest by name. A new cluster
// inits on the first by name; a running one keeps the host its history
// names while it stays, or else the first one that stays: a host that
// joins a running cluster must never run kubeadm init.
func (c *checker) initFirst(hosts []*model.Host) []*model.Host {
	h := c.history
	if h == nil || len(hosts) == 0 {
		return hosts
	}
	was := map[string]bool{}
	for _, x := range h.ControlPlane {
		was[x.Name] = true
	}
	init := -1
	for i, x := range hosts {
		if x.Name == h.Init {
			init = i
			break
		}
	}
	if init < 0 {
		for i, x := range hosts {
			if was[x.Name] {
				init = i
				break
			}
		}
	}
	if init < 0 {
		var names []string
		for _, x := range h.ControlPlane {
			names = append(names, x.Name)
		}
		c.errorf(p("hosts"), "none of the control-plane hosts of the running cluster (%s) stays: a new control plane joins through a master that stays. Keep at least one, and replace the others over several renders", strings.Join(names, ", "))
		return hosts
	}
	out := []*model.Host{hosts[init]}
	for i, x := range hosts {
		if i != init {
			out = append(out, x)
		}
	}
	return out
}

// membership plans the etcd members' first-start flags and, for a cluster
// with a past, the change of membership: from the last render's, or, when
// this render's membership is the last one's, the change that render made
// (rendered again, so that its steps survive a re-render before they run;
// each is safe to run again).
func (c *checker) membership(pl *model.Plan) {
	e := &pl.Etcd
	h := c.history
	if h == nil || len(h.Members) == 0 {
		// A new cluster: every member bootstraps it.
		ic := model.InitialCluster(e.Members)
		for _, m := range e.Members {
			m.InitialCluster = ic
		}
		e.Joined = append([]*model.Member(nil), e.Members...)
		return
	}
	byName := map[string]*model.Member{}
	for _, m := range e.Members {
		byName[m.Name] = m
	}
	// The members that stay keep the flags of their first start, and
	// their order of addition.
	// The cluster as it runs when the additions start: every member of
	// the last render, those to be removed too (removals come last).
	var kept []*model.Member
	var running []string
	for _, hm := range h.Members {
		running = append(running, hm.Name+"="+hm.PeerURL)
		m, ok := byName[hm.Name]
		if !ok {
			continue
		}
		m.InitialCluster, m.Existing = hm.InitialCluster, hm.Existing
		if m.PeerURL() != hm.PeerURL {
			c.warnf(p("hosts", m.Name, "address"), "etcd member %s was at %s: a running member's peer URL changes only with etcdctl member update. If the cluster runs, update it there before applying this bundle, or remove the member and add it under a new name", m.Name, hm.PeerURL)
		}
		kept = append(kept, m)
	}
	if len(kept) == 0 {
		c.errorf(c.membersAt(pl), "no etcd member of the running cluster (%s) stays: new members are added through one that stays, and take their data from it. Keep at least one, and replace the others over several renders", strings.Join(memberNames(h.Members), ", "))
		return
	}
	// New members are added one at a time, in name order, before the
	// removals: each starts with the cluster as it is then, itself
	// included (what etcdctl member add prints).
	var added []*model.Member
	for _, m := range e.Members {
		if !slices.Contains(kept, m) {
			added = append(added, m)
		}
	}
	for _, m := range added {
		running = append(running, m.Name+"="+m.PeerURL())
		m.InitialCluster, m.Existing = strings.Join(running, ","), true
	}
	e.Joined = append(kept, added...)

	base := &h.Membership
	if sameMembership(base, pl) {
		if h.Before == nil {
			return
		}
		base = h.Before
	}
	if pl.Kubernetes.KubeadmAPI == model.KubeadmV1Alpha1 {
		c.errorf(p("kubernetes", "version"), "kubeadm %s cannot change the membership of a running cluster (every master runs kubeadm init): upgrade the cluster to Kubernetes 1.22 or newer first", pl.Kubernetes.Version)
		return
	}
	e.Change, e.Before = diff(base, pl), base
	if n := len(e.Members); n < 3 && len(e.Change.Removed) > 0 {
		c.warnf(c.membersAt(pl), "this change leaves %d etcd member%s: losing %s loses the cluster's data", n, plural(n), e.Members[0].Name)
	}
}

// diff is the change from membership base to the plan's.
func diff(base *model.Membership, pl *model.Plan) *model.Change {
	change := &model.Change{}
	was := map[string]bool{}
	for _, hm := range base.Members {
		was[hm.Name] = true
	}
	is := map[string]bool{}
	for _, m := range pl.Etcd.Joined {
		is[m.Name] = true
		if !was[m.Name] {
			change.Added = append(change.Added, m)
		} else if change.Anchor == nil {
			change.Anchor = m
		}
	}
	for _, hm := range base.Members {
		if !is[hm.Name] {
			role := model.RoleControlPlane
			if pl.Etcd.Topology == model.TopologyExternal {
				role = model.RoleEtcd
			}
			change.Removed = append(change.Removed, model.Former{Name: hm.Name, PeerURL: hm.PeerURL, Address: peerAddr(hm.PeerURL), Roles: []model.Role{role}})
		}
	}
	wasCP := map[string]bool{}
	for _, x := range base.ControlPlane {
		wasCP[x.Name] = true
	}
	isCP := map[string]bool{}
	for _, x := range pl.ControlPlane.Hosts {
		isCP[x.Name] = true
		if !wasCP[x.Name] {
			change.Joining = append(change.Joining, x)
		}
	}
	for _, x := range base.ControlPlane {
		if !isCP[x.Name] {
			a, _ := netip.ParseAddr(x.Address)
			change.Leaving = append(change.Leaving, model.Former{Name: x.Name, Address: a, Roles: []model.Role{model.RoleControlPlane}})
		}
	}
	return change
}

// sameMembership reports whether the plan has the membership m records:
// the same control-plane hosts and etcd members.
func sameMembership(m *model.Membership, pl *model.Plan) bool {
	if len(m.ControlPlane) != len(pl.ControlPlane.Hosts) || len(m.Members) != len(pl.Etcd.Members) {
		return false
	}
	cp := map[string]bool{}
	for _, x := range pl.ControlPlane.Hosts {
		cp[x.Name] = true
	}
	for _, x := range m.ControlPlane {
		if !cp[x.Name] {
			return false
		}
	}
	for i, hm := range m.Members {
		if pl.Etcd.Joined[i].Name != hm.Name {
			return false
		}
	}
	return true
}

func memberNames(ms []model.HistoryMember) []string {
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return names
}

// membersAt is the field a membership problem points at: the first new
// member, or the hosts.
func (c *checker) membersAt(pl *model.Plan) Path {
	was := map[string]bool{}
	for _, hm := range c.history.Members {
		was[hm.Name] = true
	}
	for _, m := range pl.Etcd.Members {
		if !was[m.Name] {
			return p("hosts", m.Name)
		}
	}
	return p("hosts")
}

// peerAddr is the address of a peer URL.
func peerAddr(u string) netip.Addr {
	pu, err := url.Parse(u)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(pu.Hostname())
	return a
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
