package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/render/runbook"
)

const vetHelp = `Validate a spec (CUE, YAML or JSON, by extension) and print the plan hagen
derived from it: hosts by role, the control-plane endpoint, the etcd members
and the kubeadm API. Nothing is written. Problems are printed with the field
and its file:line:col; the exit status is 1 if there is any.

With a secrets file (default secrets.yaml beside the spec) that remembers
the cluster's last render, vet says what a change of membership will do:
the etcd members added and removed, masters joining and leaving.

Example:

    hagen vet examples/stacked-keepalived.cue
`

func vetCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "vet",
		Usage:       "validate a spec and print the derived plan",
		UsageText:   "hagen vet SPEC",
		Description: vetHelp,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: flagSecrets, Usage: "the secrets `FILE` whose history a change of membership is planned from (default: secrets.yaml beside the spec)"},
		},
		Action: func(c *ucli.Context) error {
			cs, err := compileSpec(c)
			if err != nil {
				return err
			}
			printWarnings(c.App.ErrWriter, cs.res.Warnings)
			return writeSummary(c.App.Writer, cs.res.Plan)
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
	members := "members"
	if len(e.Members) == 1 {
		members = "member"
	}
	fmt.Fprintf(w, "\netcd %s (%d %s, %s, run by %s, %s)\n", e.Version, len(e.Members), members, e.Topology, e.Run, bootstrap)
	for _, m := range e.Joined {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s", m.Name, m.PeerURL(), zoneOf(m.Host), m.DataDir)
		if m.Existing {
			fmt.Fprintf(w, "\tadded to the running cluster")
		}
		fmt.Fprintln(w)
	}
	if change := runbook.DescribeChange(pl); len(change) > 0 {
		fmt.Fprintf(w, "\nchange of membership (the RUNBOOK's steps carry it out)\n")
		for _, l := range change {
			fmt.Fprintf(w, "  %s\n", l)
		}
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
