package runbook

import (
	"fmt"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/etcd"
	"github.com/hagen/hagen/render/kubeadm"
	"github.com/hagen/hagen/render/kubeletetcd"
	"github.com/hagen/hagen/render/lifecycle"
)

// ReplacePrefix names a host's replacement procedure: replace-<host>.
const ReplacePrefix = "replace-"

// Procedures are the steps an operator runs on demand rather than in
// order: for every master and etcd member, its replacement after a failure
// (a new machine, or the old one with its disk wiped) under the same name
// and address, without a change of the spec. A host is left out when no
// other master or member would remain to carry it out.
func Procedures(p *model.Plan) map[string][]bundle.Step {
	if p.Kubernetes.KubeadmAPI == model.KubeadmV1Alpha1 {
		return nil
	}
	out := map[string][]bundle.Step{}
	for _, h := range p.Hosts {
		if steps := replace(p, h); steps != nil {
			out[ReplacePrefix+h.Name] = steps
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// replace is host h's replacement, or nil.
func replace(p *model.Plan, h *model.Host) []bundle.Step {
	master := h.Has(model.RoleControlPlane)
	member := p.Member(h.Name)
	if !master && member == nil {
		return nil
	}
	var otherMaster, otherMember string
	for _, x := range p.ControlPlane.Hosts {
		if x != h && otherMaster == "" {
			otherMaster = x.Name
		}
	}
	for _, m := range p.Etcd.Joined {
		if m.Host != h && otherMember == "" {
			otherMember = m.Host.Name
		}
	}
	if master && otherMaster == "" || member != nil && otherMember == "" {
		return nil
	}
	steps := []bundle.Step{{Name: StepCopy, Hosts: []string{h.Name},
		Note: fmt.Sprintf("The replacement machine has %s's address %s and is set up as \"Before you start\" says. Copy hosts/%s/ onto it; do not start anything yet.", h.Name, h.Address, h.Name)}}
	if master {
		steps = append(steps, bundle.Step{Name: stepRemoveNode + h.Name, Hosts: []string{otherMaster},
			Commands: []string{fmt.Sprintf("kubectl --kubeconfig %s delete node %s --ignore-not-found", AdminConf, h.Name)},
			Note:     fmt.Sprintf("The failed %s's Node goes; its pods are scheduled elsewhere. The new machine registers it again when it joins.", h.Name)})
	}
	if member != nil {
		steps = append(steps,
			bundle.Step{Name: "readd-etcd-member-" + h.Name, Hosts: []string{otherMember},
				Commands: []string{lifecycle.EtcdMemberScript + " readd " + h.Name},
				Note:     fmt.Sprintf("Removes the failed member %s and adds it again%s; nothing happens if %s is healthy.", h.Name, learnerWords(p), h.Name)},
			bundle.Step{Name: "rejoin-etcd-" + h.Name, Hosts: []string{h.Name},
				Commands: []string{lifecycle.EtcdRejoinScript},
				Note:     fmt.Sprintf("Starts %s's member with an empty data directory, joining the running cluster. It does nothing where %s holds data.", h.Name, member.DataDir)},
			bundle.Step{Name: stepPromoteMember + h.Name, Hosts: []string{otherMember},
				Commands: []string{lifecycle.EtcdMemberScript + " promote " + h.Name},
				Check:    EtcdHealthCommand(p, p.Etcd.Members)},
		)
	}
	if !master {
		return steps
	}
	if k := p.ControlPlane.Keepalived; k != nil {
		var cmds []string
		if k.HAProxy != nil {
			cmds = append(cmds, "systemctl enable haproxy", "systemctl reload-or-restart haproxy")
		}
		cmds = append(cmds, "systemctl enable keepalived", "systemctl reload-or-restart keepalived")
		steps = append(steps, bundle.Step{Name: StepLoadBalancer, Hosts: []string{h.Name}, Commands: cmds, Boot: true})
	}
	steps = append(steps, bundle.Step{Name: StepToken, Hosts: []string{otherMaster}, Commands: []string{lifecycle.BootstrapTokenScript}})
	var cmds, ignore []string
	if p.Etcd.Run == model.RunStaticPod && member != nil {
		cmds = append(cmds, "systemctl stop kubelet", "rm -f "+kubeletetcd.DropInLink, "systemctl daemon-reload")
		ignore = []string{kubeadm.FileAvailableCheck(etcd.ManifestPath)}
	}
	config := kubeadm.ConfigPath
	if h == p.ControlPlane.Init() {
		config = kubeadm.RejoinConfigPath
	}
	join := "kubeadm join --config " + config
	if len(ignore) > 0 {
		join += " --ignore-preflight-errors=" + ignore[0]
	}
	steps = append(steps, bundle.Step{Name: StepJoinCP, Hosts: []string{h.Name}, Creates: KubeletConf,
		Commands: append(cmds, join),
		Check:    "kubectl --kubeconfig " + AdminConf + " get --raw /readyz"})
	if p.ControlPlane.External != nil {
		steps = append(steps, bundle.Step{Name: StepLBAddMasters,
			Note: fmt.Sprintf("Put %s back into the load balancer %s if it left the pool.", model.Endpoint{Host: h.Address.String(), Port: p.ControlPlane.Port}, p.ControlPlane.Endpoint)})
	}
	return steps
}

func learnerWords(p *model.Plan) string {
	if lifecycle.Learners(p) {
		return " as a learner"
	}
	return ""
}
