package cluster

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hagen/hagen/lab/agent"
	"github.com/hagen/hagen/lab/host"
	"github.com/hagen/hagen/lab/machine"
)

// sshKeys are the operator's key pair and the host keys it trusts.
type sshKeys struct {
	private, public []byte
	// hostKeys are each bundle host's public host key, by host name.
	hostKeys map[string][]byte
}

// OperatorKey is where the operator's workstation keeps its SSH key; its
// known_hosts names every bundle host by address.
const (
	OperatorKey        = "/root/.ssh/id_ed25519"
	operatorKnownHosts = "/root/.ssh/known_hosts"
)

// newSSHKeys makes the operator's key pair with ssh-keygen, in the lab's
// state directory (a tmpfs the lab removes).
func newSSHKeys(state string) (*sshKeys, error) {
	dir, err := os.MkdirTemp(state, "ssh-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@"+OperatorName, "-f", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen for the operator's key: %v: %s (tools/apt.sh installs openssh-client)", err, out)
	}
	priv, err := os.ReadFile(key)
	if err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		return nil, err
	}
	return &sshKeys{private: priv, public: pub, hostKeys: map[string][]byte{}}, nil
}

// installSSH makes a bundle host reachable over SSH (machine.SSH), and
// gives the operator's workstation its key.
func (c *Cluster) installSSH(h *host.Host) error {
	if c.ssh == nil {
		return nil
	}
	if h == c.Operator {
		return h.Agent.WriteFile(agent.FileArgs{Path: OperatorKey, Data: c.ssh.private, Mode: 0o600})
	}
	if _, ok := c.Bundle.Host(h.Name); !ok {
		return nil // the lab's load balancer
	}
	pub, err := machine.SSH(h, c.ssh.public)
	if err != nil {
		return err
	}
	c.ssh.hostKeys[h.Name] = pub
	return nil
}

// writeKnownHosts writes the operator's known_hosts: every bundle host's
// key under its name and address, so that ssh checks every host it logs
// in to (StrictHostKeyChecking, as on a workstation that knows its
// fleet).
func (c *Cluster) writeKnownHosts() error {
	if c.ssh == nil {
		return nil
	}
	var b bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(c.ssh.hostKeys)) {
		addr, ok := c.Names[name]
		if !ok {
			continue
		}
		f := strings.Fields(string(c.ssh.hostKeys[name]))
		if len(f) < 2 {
			return fmt.Errorf("%s: host key %q is not a public key line", name, c.ssh.hostKeys[name])
		}
		fmt.Fprintf(&b, "%s,%s %s %s\n", name, addr, f[0], f[1])
	}
	return c.Operator.Agent.WriteFile(agent.FileArgs{Path: operatorKnownHosts, Data: b.Bytes(), Mode: 0o644})
}
