// Package agent is what runs as PID 1 of every lab host: it gives the host
// its own filesystem (overlays of the machine's /etc, /var, /usr and /opt,
// a /root of its own, a fresh /run) and hostname, supervises its processes, and answers the
// lab, the systemctl and crictl stand-ins and the kubelet stand-in over a
// unix socket. Because it is PID 1 of the host's PID namespace, ending it
// ends every process the host ran: a halted machine, and a cleanup that
// cannot leave a stray process behind.
//
// The socket speaks net/rpc (JSON codec); this file is its vocabulary.
package agent

import "time"

// Service is the RPC service name.
const Service = "Agent"

// HostSocket is where the agent's socket appears inside every host, for the
// stand-ins that run there (systemctl, crictl, the kubelet).
const HostSocket = "/run/hagen-lab/agent.sock"

// ExecArgs runs a command inside the host, as a child of the agent.
type ExecArgs struct {
	Argv []string
	// Env is added to the host's base environment (PATH and HOME).
	Env   []string
	Dir   string
	Stdin []byte
	// Timeout ends the command's process group with SIGKILL; 0 means the
	// lab's default.
	Timeout time.Duration
}

// ExecReply is a finished command.
type ExecReply struct {
	Stdout, Stderr []byte
	// Code is the exit status, or 128+signal for a signalled process, or
	// -1 if it was killed for its timeout.
	Code     int
	TimedOut bool
}

// FileArgs writes one file, creating its parent directories (0755, root).
type FileArgs struct {
	Path string
	Data []byte
	Mode uint32 // permission bits
	// Owner and Group are user and group names; "" is root.
	Owner, Group string
	// Symlink, if set, makes Path a symbolic link to it instead.
	Symlink string
}

// ReadArgs reads one file.
type ReadArgs struct{ Path string }

// ReadReply is a file's bytes, and whether it exists.
type ReadReply struct {
	Data   []byte
	Exists bool
}

// SystemctlArgs is a systemctl command line without the program name.
type SystemctlArgs struct{ Args []string }

// Container is one process the kubelet stand-in runs for a pod, as a
// container runtime would: it outlives the kubelet, and dies with the host.
type Container struct {
	ID     string
	Labels map[string]string
	Argv   []string
	Env    []string
	// Mounts bind a host path at another path for this container alone
	// (a mount namespace of its own); most static pods need none, their
	// host paths being mounted where they are.
	Mounts []Mount
	// Log is where its stdout and stderr go, in the lab's state directory.
	Log string
}

// Mount is one bind mount of a container.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// ContainerStatus is a container as the runtime sees it.
type ContainerStatus struct {
	Container
	PID      int
	Running  bool
	ExitCode int
	Started  time.Time
	Finished time.Time
}

// ContainerList lists the containers whose labels include every given one.
type ContainerList struct{ Labels map[string]string }

// StopArgs stops a container: SIGTERM to its process group, SIGKILL after
// Grace.
type StopArgs struct {
	ID    string
	Grace time.Duration
}

// Empty is an argument or reply with nothing in it.
type Empty struct{}
