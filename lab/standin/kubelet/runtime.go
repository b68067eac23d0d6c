package kubelet

import (
	"time"

	"github.com/hagen/hagen/lab/agent"
)

// Runtime is the container runtime the stand-in drives: the host's agent
// (*agent.Client) in the lab, a fake in the tests. Containers belong to
// the runtime, not to the kubelet: they outlive it, as with containerd.
type Runtime interface {
	RunContainer(agent.Container) (*agent.ContainerStatus, error)
	// ListContainers lists the containers carrying every given label; an
	// empty set lists them all.
	ListContainers(labels map[string]string) ([]agent.ContainerStatus, error)
	// StopContainer ends a container (SIGTERM, SIGKILL after grace) and
	// forgets it.
	StopContainer(id string, grace time.Duration) error
	// RemoveContainer forgets an exited container.
	RemoveContainer(id string) error
}

var _ Runtime = (*agent.Client)(nil)
