package runbook

import (
	"fmt"
	"strings"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/etcd"
	"github.com/hagen/hagen/render/kubeletetcd"
	"github.com/hagen/hagen/render/lifecycle"
)

// Steps of a change of membership. Those for one member or host carry its
// name: add-etcd-member-m3, remove-node-m0.
const (
	StepUploadConfig     = "upload-kubeadm-config"
	StepEtcdServers      = "update-etcd-servers"
	StepStopLoadBalancer = "stop-load-balancer"
	StepLBRemoveMasters  = "remove-masters-from-load-balancer"
	StepMembership       = "check-etcd-membership"

	stepAddMember     = "add-etcd-member-"
	stepStartMember   = "start-etcd-member-"
	stepPromoteMember = "promote-etcd-member-"
	stepRemoveNode    = "remove-node-"
	stepRemoveMember  = "remove-etcd-member-"
	stepRetire        = "retire-"
)

// startEtcdStep starts etcd on hosts: the unit, or the standalone kubelet
// that runs the static pod.
func startEtcdStep(p *model.Plan, name string, hosts []string) bundle.Step {
	s := bundle.Step{Name: name, Hosts: hosts}
	if p.Etcd.Run == model.RunStaticPod {
		s.Commands = []string{
			"mkdir -p " + dir(kubeletetcd.DropInLink),
			"ln -sf " + kubeletetcd.DropIn + " " + kubeletetcd.DropInLink,
			"systemctl daemon-reload",
			"systemctl enable kubelet",
			"systemctl restart kubelet",
		}
		// Done once: the standalone kubelet then keeps etcd running. On a
		// stacked master kubeadm's kubelet takes over at init or join
		// (and the link goes), so there a kubelet.conf means done.
		s.Creates = kubeletetcd.DropInLink
		if p.Etcd.Topology == model.TopologyStacked {
			s.Creates = KubeletConf
		}
	} else {
		s.Commands = []string{"systemctl daemon-reload", "systemctl enable etcd", "systemctl start --no-block etcd"}
	}
	return s
}

// quorum is the number of voting members a cluster of n needs up.
func quorum(n int) int { return n/2 + 1 }

// addMembers adds each new member through the anchor, one at a time: told
// to the cluster, started, caught up and promoted before the next.
func addMembers(p *model.Plan, c *model.Change) []bundle.Step {
	var steps []bundle.Step
	anchor := []string{c.Anchor.Host.Name}
	n := len(p.Etcd.Members) - len(c.Added) + len(c.Removed) // members before the change
	learners := lifecycle.Learners(p)
	for _, m := range c.Added {
		note := fmt.Sprintf("%s joins as a learner: it does not vote, so the quorum stays %d of %d while it catches up.", m.Name, quorum(n), n)
		if !learners {
			note = fmt.Sprintf("etcd %s has no learners: from here until %s runs, the cluster counts %d members of which %d run, and needs %d. Losing another member now stops etcd: start %s right away (the next step).",
				p.Etcd.Version, m.Name, n+1, n, quorum(n+1), m.Name)
		}
		steps = append(steps, bundle.Step{Name: stepAddMember + m.Name, Hosts: anchor,
			Commands: []string{lifecycle.EtcdMemberScript + " add " + m.Name}, Note: note})
		start := startEtcdStep(p, stepStartMember+m.Name, []string{m.Host.Name})
		start.Note = fmt.Sprintf("%s's first start joins the running cluster (--initial-cluster-state existing).", m.Name)
		steps = append(steps, start)
		n++
		what := "Waits until %s has caught up with the leader, makes it a voter, and checks its health: the cluster has %d voting members now, quorum %d."
		if !learners {
			what = "Waits until %s runs and is healthy: the cluster has %d members now, quorum %d."
		}
		steps = append(steps, bundle.Step{Name: stepPromoteMember + m.Name, Hosts: anchor,
			Commands: []string{lifecycle.EtcdMemberScript + " promote " + m.Name},
			Note:     fmt.Sprintf(what, m.Name, n, quorum(n))})
	}
	return steps
}

// stopLoadBalancer takes leaving masters out of the VIP's rotation first:
// the VIP moves to a master that stays while the leaving ones still serve.
func stopLoadBalancer(p *model.Plan, c *model.Change) bundle.Step {
	units := "keepalived"
	if p.ControlPlane.Keepalived.HAProxy != nil {
		units = "keepalived haproxy"
	}
	return bundle.Step{Name: StepStopLoadBalancer, Hosts: formerNames(c.Leaving), Optional: true,
		Commands: []string{"systemctl disable --now " + units},
		Note:     "On the masters that leave, if they still answer: the VIP moves to a master that stays (a few seconds without the endpoint if it was here)."}
}

// removeMembers points the apiservers at the new members, then takes the
// leaving masters and members out, one at a time, and retires their hosts.
func removeMembers(p *model.Plan, c *model.Change) []bundle.Step {
	var steps []bundle.Step
	init := p.ControlPlane.Init().Name
	if len(c.Added)+len(c.Removed) > 0 {
		var stay []string
		for _, h := range p.ControlPlane.Hosts {
			if !hostIn(h, c.Joining) {
				stay = append(stay, h.Name)
			}
		}
		if len(stay) > 0 {
			steps = append(steps, bundle.Step{Name: StepEtcdServers, Hosts: stay, Serial: true,
				Commands: []string{lifecycle.APIServerEtcdScript},
				Note:     fmt.Sprintf("Each apiserver restarts with the etcd members %s, one master at a time; the script waits until the new one is ready. Masters that joined in this render have them already.", strings.Join(memberNames(p.Etcd.Members), ", "))})
		}
	}
	if p.ControlPlane.External != nil && len(c.Leaving) > 0 {
		steps = append(steps, bundle.Step{Name: StepLBRemoveMasters,
			Note: fmt.Sprintf("Take %s out of the load balancer %s now, before they go.", strings.Join(formerAddrs(c.Leaving, p.ControlPlane.Port), ", "), p.ControlPlane.Endpoint)})
	}
	for _, l := range c.Leaving {
		steps = append(steps, bundle.Step{Name: stepRemoveNode + l.Name, Hosts: []string{init},
			Commands: []string{fmt.Sprintf("if kubectl --kubeconfig %[1]s get node %[2]s >/dev/null 2>&1; then kubectl --kubeconfig %[1]s drain %[2]s --ignore-daemonsets --delete-emptydir-data --force --timeout=120s || echo 'drain incomplete: deleting the node anyway'; kubectl --kubeconfig %[1]s delete node %[2]s --ignore-not-found && echo 'changed: node %[2]s deleted'; fi", AdminConf, l.Name)},
			Note:     fmt.Sprintf("%s's pods move to the other nodes, and its Node goes.", l.Name)})
	}
	n := len(p.Etcd.Members) + len(c.Removed)
	for _, r := range c.Removed {
		steps = append(steps, bundle.Step{Name: stepRemoveMember + r.Name, Hosts: []string{c.Anchor.Host.Name},
			Commands: []string{lifecycle.EtcdMemberScript + " remove " + r.Name + " " + r.PeerURL},
			Note:     fmt.Sprintf("The quorum goes from %d of %d to %d of %d. The removed member stops by itself.", quorum(n), n, quorum(n-1), n-1)})
		n--
	}
	for _, f := range Formers(c) {
		steps = append(steps, retire(p, c, f))
	}
	steps = append(steps, bundle.Step{Name: StepMembership, Hosts: []string{c.Anchor.Host.Name},
		Check: EtcdHealthCommand(p, p.Etcd.Members), Note: "Every member of this render is healthy."})
	return steps
}

// retire clears a host that leaves: etcd stopped and its data moved
// aside (a removed member's data can never start again), kubeadm's state
// reset. The host may be gone: the step is optional.
func retire(p *model.Plan, c *model.Change, f model.Former) bundle.Step {
	var cmds []string
	if formerIn(f.Name, c.Removed) {
		if p.Etcd.Run == model.RunStaticPod {
			cmds = append(cmds, "rm -f "+etcd.ManifestPath+" "+kubeletetcd.DropInLink, "systemctl daemon-reload")
			if !formerIn(f.Name, c.Leaving) {
				cmds = append(cmds, "systemctl disable --now kubelet")
			}
		} else {
			cmds = append(cmds, "systemctl disable --now etcd")
		}
		d := p.Etcd.DataDir
		cmds = append(cmds, fmt.Sprintf("if [ -d %[1]s ]; then rm -rf %[1]s.removed && mv %[1]s %[1]s.removed && echo 'changed: moved %[1]s to %[1]s.removed'; fi", d))
	}
	if formerIn(f.Name, c.Leaving) {
		cmds = append(cmds, "kubeadm reset -f")
	}
	return bundle.Step{Name: stepRetire + f.Name, Hosts: []string{f.Name}, Optional: true, Commands: cmds,
		Note: fmt.Sprintf("On %s (%s), if it still answers. It is no longer in the spec: wipe or reuse the machine afterwards.", f.Name, f.Address)}
}

// Formers are the hosts a change drops: leaving masters and removed etcd
// members, each once, in that order.
func Formers(c *model.Change) []model.Former {
	out := append([]model.Former(nil), c.Leaving...)
	for _, r := range c.Removed {
		if !formerIn(r.Name, out) {
			out = append(out, r)
		}
	}
	return out
}

func formerIn(name string, fs []model.Former) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

func hostIn(h *model.Host, hs []*model.Host) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

func formerNames(fs []model.Former) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

func formerAddrs(fs []model.Former, port int) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = model.Endpoint{Host: f.Address.String(), Port: port}.String()
	}
	return out
}

func memberNames(ms []*model.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// DescribeChange says in words what the plan's change of membership does,
// one line per effect; nothing for a plan without one.
func DescribeChange(p *model.Plan) []string {
	c := p.Etcd.Change
	if c.Empty() {
		return nil
	}
	var out []string
	how := "learner, then voter"
	if !lifecycle.Learners(p) {
		how = fmt.Sprintf("a voter at once: etcd %s has no learners", p.Etcd.Version)
	}
	for _, m := range c.Added {
		out = append(out, fmt.Sprintf("adds etcd member %s (%s)", m.Name, how))
	}
	for _, r := range c.Removed {
		out = append(out, fmt.Sprintf("removes etcd member %s", r.Name))
	}
	if len(c.Added)+len(c.Removed) > 0 {
		kept := memberNames(without(p.Etcd.Members, c.Added))
		verb := "keeps"
		if len(kept) > 1 {
			verb = "keep"
		}
		out = append(out, fmt.Sprintf("%s %s running", strings.Join(kept, ", "), verb))
		before := len(p.Etcd.Members) - len(c.Added) + len(c.Removed)
		after := len(p.Etcd.Members)
		out = append(out, fmt.Sprintf("etcd goes from %d member%s (quorum %d) to %d (quorum %d), one member at a time, additions first", before, plural(before), quorum(before), after, quorum(after)))
	}
	for _, h := range c.Joining {
		out = append(out, fmt.Sprintf("joins %s to the control plane", h.Name))
	}
	for _, l := range c.Leaving {
		out = append(out, fmt.Sprintf("takes %s out of the control plane (drained, its Node deleted, kubeadm reset)", l.Name))
	}
	if len(c.Added)+len(c.Removed) > 0 {
		var stay []string
		for _, h := range p.ControlPlane.Hosts {
			if !hostIn(h, c.Joining) {
				stay = append(stay, h.Name)
			}
		}
		if len(stay) > 0 {
			out = append(out, fmt.Sprintf("apiservers' etcd endpoints change on %s, one master at a time", strings.Join(stay, ", ")))
		}
	}
	if len(c.Joining)+len(c.Leaving) > 0 {
		if k := p.ControlPlane.Keepalived; k != nil {
			what := "keepalived"
			if k.HAProxy != nil {
				what = "keepalived and HAProxy"
			}
			out = append(out, fmt.Sprintf("%s on %s reload with the new masters", what, strings.Join(names(p.ControlPlane.Hosts), ", ")))
		} else {
			out = append(out, fmt.Sprintf("the load balancer %s's pool changes: that step is yours", p.ControlPlane.Endpoint))
		}
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
