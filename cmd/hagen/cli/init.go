package cli

import (
	"fmt"
	"strings"

	"github.com/hagen/hagen/compiler"
	ucli "github.com/urfave/cli/v2"
)

const initHelp = `Print a commented starter spec on stdout. It passes 'hagen vet' as it is;
edit the names, addresses and interface to match your machines.

Example:

    hagen init --masters 3 --workers 5 --lb haproxy > cluster.cue
    hagen vet cluster.cue
`

func initCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "init",
		Usage:       "print a commented starter spec",
		UsageText:   "hagen init [--masters N] [--workers N] [--lb keepalived|haproxy|external] [--etcd stacked|external]",
		Description: initHelp,
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: flagMasters, Value: 3, Usage: "control-plane hosts"},
			&ucli.IntFlag{Name: flagWorkers, Value: 3, Usage: "worker hosts"},
			&ucli.StringFlag{Name: flagLB, Value: "keepalived", Usage: "load balancer: keepalived, haproxy (keepalived VIP + HAProxy) or external"},
			&ucli.StringFlag{Name: flagEtcd, Value: "stacked", Usage: "etcd topology: stacked (on the masters) or external (3 dedicated hosts)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usagef("init takes no arguments; it writes the spec to stdout")
			}
			o := starter{masters: c.Int(flagMasters), workers: c.Int(flagWorkers), lb: c.String(flagLB), etcd: c.String(flagEtcd)}
			if err := o.check(); err != nil {
				return err
			}
			_, err := fmt.Fprint(c.App.Writer, o.spec())
			return err
		},
	}
}

type starter struct {
	masters, workers int
	lb, etcd         string
}

// Starter addresses live in 10.0.0.0/16; pods and services keep clear of it.
const maxStarterHosts = 250 * 250

func (o starter) check() error {
	switch {
	case o.masters < 1 || o.masters > 99:
		return usagef("--masters %d: want 1 to 99", o.masters)
	case o.workers < 0 || o.workers > maxStarterHosts:
		return usagef("--workers %d: want 0 to %d", o.workers, maxStarterHosts)
	case o.lb != "keepalived" && o.lb != "haproxy" && o.lb != "external":
		return usagef("--lb %q: want keepalived, haproxy or external", o.lb)
	case o.etcd != "stacked" && o.etcd != "external":
		return usagef("--etcd %q: want stacked or external", o.etcd)
	case o.etcd == "stacked" && o.masters%2 == 0:
		return usagef("--masters %d with stacked etcd: etcd needs an odd number of members (use %d or %d, or --etcd external)", o.masters, o.masters-1, o.masters+1)
	}
	return nil
}

func (o starter) spec() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("// A hagen cluster spec: edit it, then\n//\n//     hagen vet cluster.cue\n//     hagen render cluster.cue -o out/\n//\n")
	w("// `hagen schema` prints every field with its default.\n\n")
	w("// The cluster's name: a DNS label.\nname: \"example\"\n\n")
	w("// The Kubernetes version (required: it never changes behind your back).\n// It selects the kubeadm configuration API and the etcd version.\nkubernetes: version: %q\n\n", compiler.NewestRelease)
	w("network: {\n\t// The pod network your CNI uses; it must not overlap the hosts' or\n\t// the service network (default 10.96.0.0/12).\n\tpodSubnet: \"10.32.0.0/12\"\n}\n\n")
	w("controlPlane: loadBalancer: ")
	switch o.lb {
	case "external":
		w("{\n\t// A cloud or hardware load balancer in front of the apiservers (:6443).\n\t// Point it at the first master only until the others have joined.\n\texternal: endpoint: \"k8s-api.example.com:6443\"\n}\n\n")
	default:
		w("keepalived: {\n\t// The virtual IP clients dial; it must sit in every master's subnet.\n\tvip:       \"10.0.0.100\"\n\tinterface: \"eth0\"\n\t// VRRP router id: the same on every master, unique on the LAN.\n\trouterID: 51\n")
		if o.lb == "haproxy" {
			w("\t// HAProxy on every master spreads the VIP's traffic over all apiservers.\n\thaproxy: port: 8443\n")
		}
		w("}\n\n")
	}
	w("etcd: {\n\t// stacked: a member on every master; external: dedicated hosts.\n\ttopology: %q\n\t// systemd or static-pod.\n\trun: \"systemd\"\n}\n\n", o.etcd)
	w("pki: {\n\t// RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384.\n\tkeyAlgorithm: \"RSA-2048\"\n\tcaValidity:   \"87600h\" // 10 years\n\tcertValidity: \"8760h\"  // 1 year: re-render to renew\n}\n\n")
	w("// The machines, by hostname. Masters carry a prefix length so the VIP's\n// subnet can be checked; add zone: \"...\" to spread them over failure domains.\nhosts: {\n")
	for i := 0; i < o.masters; i++ {
		w("\tmaster%d: {address: \"10.0.0.%d/16\", roles: [\"control-plane\"]}\n", i, 10+i)
	}
	if o.etcd == "external" {
		for i := 0; i < 3; i++ {
			w("\tetcd%d: {address: \"10.0.1.%d\", roles: [\"etcd\"]}\n", i, 10+i)
		}
	}
	for i := 0; i < o.workers; i++ {
		w("\tworker%d: {address: \"10.0.%d.%d\", roles: [\"worker\"]}\n", i, 2+i/250, 1+i%250)
	}
	w("}\n")
	return b.String()
}
