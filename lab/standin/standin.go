// Package standin holds the lab's small stand-ins for host programs it
// cannot run for real, each a thin client of the host's agent, and the one
// list of kubeadm preflight checks the lab ignores, each with its reason.
// (The kubelet stand-in is lab/standin/kubelet; unit files are read by
// lab/standin/unit.)
package standin

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/hagen/hagen/lab/agent"
)

// PreflightIgnore is one kubeadm preflight check the lab cannot pass,
// however right the bundle is.
type PreflightIgnore struct {
	Check  string
	Reason string
}

// PreflightIgnores are the only additions the lab makes to the RUNBOOK's
// kubeadm commands. Any other preflight error fails the run: a bundle that
// leaves kubeadm a check to trip fails here as it would on a machine.
var PreflightIgnores = []PreflightIgnore{
	{"CRI", "no container runtime: the lab's kubelet stand-in runs static pods as processes through the host's agent"},
	{"ContainerRuntimeVersion", "no container runtime to ask for its version"},
	{"ImagePull", "no images: static pods run binaries built from the module proxy at the image's version"},
	{"KubeletVersion", "the kubelet is the lab's stand-in, which is no Kubernetes release"},
	{"SystemVerification", "the kernel and cgroup checks read the container runtime's setup, which the lab has not"},
}

// KubeadmShim is /usr/bin/kubeadm in a lab host: the real kubeadm
// (RealKubeadm) with the lab's preflight ignores added to the commands
// that run preflight checks. Flags repeat in kubeadm, so the RUNBOOK's own
// --ignore-preflight-errors stay as they are.
func KubeadmShim(real string, args []string) int {
	argv := append([]string{real}, args...)
	if runsPreflight(args) {
		names := make([]string, len(PreflightIgnores))
		for i, p := range PreflightIgnores {
			names[i] = p.Check
		}
		argv = append(argv, "--ignore-preflight-errors="+strings.Join(names, ","))
	}
	err := syscall.Exec(real, argv, os.Environ())
	fmt.Fprintf(os.Stderr, "kubeadm (hagen-lab shim): %s: %v\n", real, err)
	return 127
}

// runsPreflight reports whether a kubeadm command line runs preflight
// checks: init and join, whole or their preflight phase.
func runsPreflight(args []string) bool {
	var words []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			words = append(words, a)
		}
	}
	if len(words) == 0 || (words[0] != "init" && words[0] != "join") {
		return false
	}
	// Flag values are words too (--config FILE): only "phase" as the
	// second word makes this a single phase.
	if len(words) >= 2 && words[1] == "phase" {
		return len(words) >= 3 && words[2] == "preflight"
	}
	return true
}

// Systemctl is /usr/bin/systemctl in a lab host: the agent's systemd
// stand-in runs the command line.
func Systemctl(args []string, stdout, stderr io.Writer) int {
	r, err := agent.Dial("systemctl", agent.HostSocket).Systemctl(args...)
	if err != nil {
		fmt.Fprintln(stderr, "systemctl (hagen-lab):", err)
		return 1
	}
	stdout.Write(r.Stdout)
	stderr.Write(r.Stderr)
	return r.Code
}

// Crictl is /usr/bin/crictl in a lab host, for the commands a RUNBOOK
// uses: `crictl ps [-q] [--name NAME]` lists running containers, `crictl
// exec [-i] [-t] ID CMD...` runs a command "in" one: in the host, with the
// container's image binaries first in PATH (etcdctl of the etcd image).
func Crictl(args []string, stdout, stderr io.Writer) int {
	a := agent.Dial("crictl", agent.HostSocket)
	if len(args) == 0 {
		fmt.Fprintln(stderr, "crictl (hagen-lab): usage: crictl ps [-q] [--name NAME] | crictl exec ID CMD...")
		return 1
	}
	switch args[0] {
	case "ps":
		quiet, name := false, ""
		for i := 1; i < len(args); i++ {
			switch a := args[i]; {
			case a == "-q" || a == "--quiet":
				quiet = true
			case a == "--name" && i+1 < len(args):
				i++
				name = args[i]
			case strings.HasPrefix(a, "--name="):
				name = strings.TrimPrefix(a, "--name=")
			default:
				fmt.Fprintf(stderr, "crictl (hagen-lab): ps: unsupported argument %q\n", a)
				return 1
			}
		}
		cs, err := a.ListContainers(nil)
		if err != nil {
			fmt.Fprintln(stderr, "crictl (hagen-lab):", err)
			return 1
		}
		if !quiet {
			fmt.Fprintln(stdout, "CONTAINER\tNAME\tSTATE\tPOD")
		}
		for _, c := range cs {
			cname := c.Labels["io.kubernetes.container.name"]
			if !c.Running || name != "" && !strings.Contains(cname, name) {
				continue
			}
			if quiet {
				fmt.Fprintln(stdout, c.ID)
			} else {
				fmt.Fprintf(stdout, "%s\t%s\tRunning\t%s\n", c.ID, cname, c.Labels["io.kubernetes.pod.name"])
			}
		}
		return 0
	case "exec":
		rest := args[1:]
		for len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
			rest = rest[1:] // -i, -t, -it: there is no terminal to attach
		}
		if len(rest) < 2 {
			fmt.Fprintln(stderr, "crictl (hagen-lab): exec needs a container ID and a command")
			return 1
		}
		cs, err := a.ListContainers(nil)
		if err != nil {
			fmt.Fprintln(stderr, "crictl (hagen-lab):", err)
			return 1
		}
		for _, c := range cs {
			if c.ID != rest[0] || !c.Running {
				continue
			}
			r, err := a.Exec(agent.ExecArgs{Argv: rest[1:], Env: c.Env, Timeout: 5 * time.Minute})
			if err != nil {
				fmt.Fprintln(stderr, "crictl (hagen-lab):", err)
				return 1
			}
			stdout.Write(r.Stdout)
			stderr.Write(r.Stderr)
			return r.Code
		}
		fmt.Fprintf(stderr, "crictl (hagen-lab): no running container %q\n", rest[0])
		return 1
	}
	fmt.Fprintf(stderr, "crictl (hagen-lab): %q is not a command the lab's crictl knows (ps, exec)\n", args[0])
	return 1
}
