package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/compiler/model"
)

const vetHelp = `Validate a spec (CUE, YAML or JSON, by extension) and print the plan hagen
derived from it: hosts by role, the control-plane endpoint, the etcd members
and the kubeadm API. Nothing is written. Problems are printed with the field
and its file:line:col; the exit status is 1 if there is any.

Example:

    hagen vet examples/stacked-keepalived.cue
`

func vetCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "vet",
		Usage:       "validate a spec and print the derived plan",
		UsageText:   "hagen vet SPEC",
		Description: vetHelp,
		Action: func(c *ucli.Context) error {
			_, res, err := compileSpec(c)
			if err != nil {
				return err
			}
			return writeSummary(c.App.Writer, res.Plan)
		},
	}
}

// maxListed bounds how many workers the summary names one by one.
const maxListed = 10

func writeSummary(out io.Writer, pl *model.Plan) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	cp := pl.ControlPlane
	fmt.Fprintf(w, "cluster\t%s\n", pl.Name)
	fmt.Fprintf(w, "kubernetes\t%s (kubeadm config %s)\n", pl.Kubernetes.Version, pl.Kubernetes.KubeadmAPI)
	fmt.Fprintf(w, "endpoint\t%s (%s)\n", cp.Endpoint, describeLB(cp))
	fmt.Fprintf(w, "network\tpods %s, services %s, dns %s\n", pl.Network.PodSubnet, pl.Network.ServiceSubnet, pl.Network.DNSDomain)
	fmt.Fprintf(w, "pki\t%s, CA valid %s, certs %s\n", pl.PKI.KeyAlgorithm, days(pl.PKI.CAValidity), days(pl.PKI.CertValidity))
	sched := "tainted"
	if cp.Schedulable {
		sched = "schedulable"
	}
	fmt.Fprintf(w, "\ncontrol plane (%d, apiserver :%d, %s)\n", len(cp.Hosts), cp.Port, sched)
	for i, h := range cp.Hosts {
		var notes []string
		if i == 0 {
			notes = append(notes, "kubeadm init")
		} else {
			notes = append(notes, "kubeadm join")
		}
		if k := cp.Keepalived; k != nil {
			notes = append(notes, fmt.Sprintf("keepalived %s %d", k.Peers[i].State, k.Peers[i].Priority))
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", h.Name, h.Address, zoneOf(h), strings.Join(notes, ", "))
	}
	workers := pl.HostsWith(model.RoleWorker)
	fmt.Fprintf(w, "\nworkers (%d)\n", len(workers))
	for i, h := range workers {
		if i == maxListed {
			fmt.Fprintf(w, "  ... and %d more\n", len(workers)-maxListed)
			break
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\n", h.Name, h.Address, zoneOf(h))
	}
	e := pl.Etcd
	bootstrap := "static initial cluster"
	if e.Discovery != "" {
		bootstrap = "discovery " + e.Discovery
	}
	fmt.Fprintf(w, "\netcd %s (%d members, %s, run by %s, %s)\n", e.Version, len(e.Members), e.Topology, e.Run, bootstrap)
	for _, m := range e.Members {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", m.Name, m.PeerURL(), zoneOf(m.Host), m.DataDir)
	}
	return w.Flush()
}

func zoneOf(h *model.Host) string {
	if h.Zone == "" {
		return "-"
	}
	return "zone " + h.Zone
}

func describeLB(cp model.ControlPlane) string {
	if cp.External != nil {
		return "external load balancer"
	}
	k := cp.Keepalived
	mode := "multicast"
	if k.Unicast {
		mode = "unicast"
	}
	s := fmt.Sprintf("keepalived VIP on %s, router id %d, %s", k.Interface, k.RouterID, mode)
	if k.HAProxy != nil {
		s += fmt.Sprintf(", HAProxy :%d -> apiservers :%d", k.HAProxy.Port, cp.Port)
	}
	return s
}

// days renders a validity period the way operators think of it.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return fmt.Sprintf("%dh", d/time.Hour)
}
