// Package runbook renders the ordered apply steps of a cluster: as data for
// MANIFEST.json (transports follow them) and as RUNBOOK.md (people do).
package runbook

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/etcd"
	"github.com/hagen/hagen/render/kubeadm"
	"github.com/hagen/hagen/render/kubeletetcd"
	"github.com/hagen/hagen/render/lifecycle"
	"github.com/hagen/hagen/render/repoint"
)

// Step names, stable for transports.
const (
	StepCopy          = "copy-files"
	StepEtcd          = "start-etcd"
	StepEtcdHealth    = "check-etcd"
	StepLoadBalancer  = "start-load-balancer"
	StepInit          = "kubeadm-init"
	StepCNI           = "install-cni"
	StepJoinCP        = "join-control-plane"
	StepLBAddMasters  = "add-masters-to-load-balancer"
	StepJoinWorkers   = "join-workers"
	StepRepointWorker = "repoint-workers"
	StepRepointProxy  = "repoint-kube-proxy"
	StepToken         = "refresh-bootstrap-token"
)

// Files whose presence says a once-only step is done on a host: kubeadm
// init writes the admin kubeconfig; a join ends with the kubelet's
// kubeconfig (the TLS bootstrap writes it).
const (
	AdminConf   = kubeadm.AdminConf
	KubeletConf = "/etc/kubernetes/kubelet.conf"
)

// Steps returns the ordered apply steps for p.
func Steps(p *model.Plan) []bundle.Step {
	var steps []bundle.Step
	add := func(s bundle.Step) { steps = append(steps, s) }
	cps := names(p.ControlPlane.Hosts)
	init := p.ControlPlane.Init()
	workers := names(p.HostsWith(model.RoleWorker))
	staticPod := p.Etcd.Run == model.RunStaticPod
	legacy := p.Kubernetes.KubeadmAPI == model.KubeadmV1Alpha1

	add(bundle.Step{
		Name: StepCopy, Hosts: names(p.Hosts),
		Note: "Copy hosts/<host>/ onto <host>:/ as root, keeping modes (e.g. rsync -a --chown=root:root hosts/<host>/ root@<host>:/).",
	})

	// Members this render adds start in the change's own steps, once
	// the cluster has been told of them; the health check is of those
	// that run before it.
	change := p.Etcd.Change
	running := p.Etcd.Members
	if change != nil {
		running = without(running, change.Added)
	}
	startEtcd := startEtcdStep(p, StepEtcd, memberHosts(running))
	startEtcd.Note = "Start every member at about the same time: a new member waits for a quorum of its peers."
	if change != nil {
		startEtcd.Note = "The members that run already: nothing changes on them."
	}
	add(startEtcd)
	add(bundle.Step{Name: StepEtcdHealth, Hosts: memberHosts(running)[:1],
		Check: EtcdHealthCommand(p, running), Note: "Every member must report healthy before the control plane starts."})

	if k := p.ControlPlane.Keepalived; k != nil {
		lb := bundle.Step{Name: StepLoadBalancer, Hosts: cps, Boot: true}
		// reload-or-restart: a running HAProxy reloads without dropping a
		// connection, and keepalived re-reads its configuration keeping
		// the VIP where it is; either starts if it does not run. Running
		// the step again changes nothing a client would notice.
		if k.HAProxy != nil {
			lb.Commands = append(lb.Commands, "systemctl enable haproxy", "systemctl reload-or-restart haproxy")
		}
		lb.Commands = append(lb.Commands, "systemctl enable keepalived", "systemctl reload-or-restart keepalived")
		lb.Note = fmt.Sprintf("The VIP %s comes up on %s (MASTER); the apiserver health check passes once the apiservers run.", k.VIP, init.Name)
		add(lb)
		if change != nil && len(change.Leaving) > 0 {
			add(stopLoadBalancer(p, change))
		}
	} else {
		add(bundle.Step{Name: StepLoadBalancer, Hosts: nil,
			Note: fmt.Sprintf("Point the load balancer %s at %s only, with a TCP or HTTPS /healthz check. kubeadm health-checks through it, so it must not route to masters that do not run an apiserver yet. On a cluster that already runs (the bundle applied again), leave it as it is.", p.ControlPlane.Endpoint, addrs([]*model.Host{init}, p.ControlPlane.Port)[0])})
	}

	initCmds := []string{}
	ignore := []string{}
	if staticPod && p.Member(init.Name) != nil {
		// The standalone kubelet hands over to kubeadm's; the etcd
		// containers keep running meanwhile.
		initCmds = append(initCmds, "systemctl stop kubelet", "rm -f "+kubeletetcd.DropInLink, "systemctl daemon-reload")
		ignore = append(ignore, kubeadm.FileAvailableCheck(etcd.ManifestPath))
	}
	if legacy {
		add(bundle.Step{Name: StepInit, Hosts: cps, Serial: true, Creates: AdminConf,
			Commands: append(initCmds, kubeadmCommand("init", ignore)),
			Note:     "kubeadm 1.9/1.10: every master runs kubeadm init with its own MasterConfiguration, one after the other; they share the CAs hagen placed."})
	} else {
		add(bundle.Step{Name: StepInit, Hosts: []string{init.Name}, Creates: AdminConf,
			Commands: append(initCmds, kubeadmCommand("init", ignore)),
			Check:    "kubectl --kubeconfig " + AdminConf + " get --raw /readyz"})
	}
	add(bundle.Step{Name: StepCNI, Hosts: []string{init.Name},
		Note: fmt.Sprintf("Install the pod network for podSubnet %s with KUBECONFIG=/etc/kubernetes/admin.conf (kubectl apply -f <your CNI's manifest>). Nodes stay NotReady until it runs.", p.Network.PodSubnet)})
	if !legacy && (len(cps) > 1 || len(workers) > 0) {
		add(bundle.Step{Name: StepToken, Hosts: []string{init.Name}, Commands: []string{lifecycle.BootstrapTokenScript},
			Note: fmt.Sprintf("kubeadm init makes the bootstrap token for %s; a host that joins later needs it again. Nothing changes while it is valid.", hours(kubeadm.TokenTTL))})
	}
	if change != nil {
		for _, s := range addMembers(p, change) {
			add(s)
		}
		add(bundle.Step{Name: StepUploadConfig, Hosts: []string{init.Name},
			Commands: []string{"kubeadm init phase upload-config kubeadm --config " + kubeadm.ConfigPath},
			Note:     "The cluster's kubeadm configuration (kube-system/kubeadm-config) gets this render's etcd members, which a master that joins from now on runs with."})
	}
	if !legacy && len(cps) > 1 {
		// Stacked static-pod etcd: the standalone kubelet hands over to
		// kubeadm's on each master that runs a member.
		var cmds, ign []string
		if staticPod && p.Etcd.Topology == model.TopologyStacked {
			cmds = append(cmds, "systemctl stop kubelet", "rm -f "+kubeletetcd.DropInLink, "systemctl daemon-reload")
			ign = []string{kubeadm.FileAvailableCheck(etcd.ManifestPath)}
		}
		add(bundle.Step{Name: StepJoinCP, Hosts: cps[1:], Serial: true, Creates: KubeletConf,
			Commands: append(cmds, kubeadmCommand("join", ign)),
			Note:     "One master at a time: each join adds an apiserver behind the endpoint."})
	}
	if p.ControlPlane.External != nil && len(cps) > 1 {
		add(bundle.Step{Name: StepLBAddMasters, Note: fmt.Sprintf("Add %s to the load balancer %s now that they run apiservers.", strings.Join(addrs(p.ControlPlane.Hosts[1:], p.ControlPlane.Port), ", "), p.ControlPlane.Endpoint)})
	}
	if change != nil {
		for _, s := range removeMembers(p, change) {
			add(s)
		}
	}
	if len(workers) > 0 {
		add(bundle.Step{Name: StepJoinWorkers, Hosts: workers, Creates: KubeletConf, Commands: []string{kubeadmCommand("join", nil)}})
		add(bundle.Step{Name: StepRepointWorker, Hosts: workers, Commands: []string{repoint.KubeletScript},
			Note: "Idempotent. Needed when workers were joined through one master's address (a single-master cluster moving to HA); harmless otherwise."})
	}
	add(bundle.Step{Name: StepRepointProxy, Hosts: []string{init.Name},
		Commands: nil,
		Note:     "From a machine with the bundle and an admin kubeconfig: sh " + repoint.KubeProxyApply + ". Idempotent: kube-proxy restarts only if its ConfigMap changed."})
	return steps
}

func kubeadmCommand(verb string, ignore []string) string {
	cmd := "kubeadm " + verb + " --config " + kubeadm.ConfigPath
	if len(ignore) > 0 {
		cmd += " --ignore-preflight-errors=" + strings.Join(ignore, ",")
	}
	return cmd
}

// EtcdHealthCommand checks members over mutual TLS with the
// healthcheck-client certificate.
func EtcdHealthCommand(p *model.Plan, members []*model.Member) string {
	urls := make([]string, len(members))
	for i, m := range members {
		urls[i] = m.ClientURL()
	}
	args := fmt.Sprintf("--endpoints=%s --cacert=%s --cert=%s --key=%s endpoint health",
		strings.Join(urls, ","), pki.CA(pki.EtcdCA).CertPath(),
		pki.Cert(pki.EtcdHealthcheckClient).CertPath(), pki.Cert(pki.EtcdHealthcheckClient).KeyPath())
	if p.Etcd.Run == model.RunStaticPod {
		// etcdctl ships in the etcd image; the host may not have it.
		return "crictl exec $(crictl ps -q --name etcd) etcdctl " + args
	}
	if !p.Etcd.Version.AtLeast(3, 4) {
		// etcdctl before 3.4 speaks the v2 API unless told otherwise;
		// newer ones default to v3 and warn about the variable.
		return "ETCDCTL_API=3 etcdctl " + args
	}
	return "etcdctl " + args
}

func names(hs []*model.Host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.Name
	}
	return out
}

func memberHosts(ms []*model.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Host.Name
	}
	return out
}

// without is ms less the members in drop.
func without(ms, drop []*model.Member) []*model.Member {
	var out []*model.Member
	for _, m := range ms {
		if !slices.Contains(drop, m) {
			out = append(out, m)
		}
	}
	return out
}

func addrs(hs []*model.Host, port int) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = model.Endpoint{Host: h.Address.String(), Port: port}.String()
	}
	return out
}

func dir(p string) string { return p[:strings.LastIndexByte(p, '/')] }
