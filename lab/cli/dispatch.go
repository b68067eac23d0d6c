// Package cli is hagen-lab's command line: the lab's flags, exit codes and
// report, and the dispatch to the roles the same binary plays inside the
// lab's hosts.
package cli

import (
	"io"
	"path/filepath"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/machine"
	"github.com/hagen/hagen/lab/standin"
	"github.com/hagen/hagen/lab/standin/kubelet"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a check failed: the bundle is wrong
	exitUsage  = 2
	exitLab    = 3 // the lab itself could not run
)

// Main runs hagen-lab with its full argv (argv[0] picks the role) and
// returns the exit status.
func Main(argv []string, stdout, stderr io.Writer) int {
	switch filepath.Base(argv[0]) {
	case "systemctl":
		return standin.Systemctl(argv[1:], stdout, stderr)
	case "crictl":
		return standin.Crictl(argv[1:], stdout, stderr)
	case "kubeadm":
		return standin.KubeadmShim(machine.RealKubeadm, argv[1:])
	case "kubelet":
		return kubelet.Main(argv[1:])
	}
	if len(argv) > 1 {
		switch argv[1] {
		case "agent":
			return agent.Main(argv[2:])
		case "container-init":
			return agent.ContainerInit(argv[2:])
		}
	}
	return run(argv[1:], stdout, stderr)
}
