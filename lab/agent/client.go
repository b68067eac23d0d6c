package agent

import (
	"fmt"
	"net"
	"net/rpc"
	"net/rpc/jsonrpc"
	"time"
)

// Client talks to one host's agent.
type Client struct {
	Host string
	sock string
}

// Dial returns a client for the agent listening on sock. Each call opens
// its own connection, so that calls from many goroutines (a drill's probes
// and a long kubeadm join) never wait for each other.
func Dial(host, sock string) *Client { return &Client{Host: host, sock: sock} }

func (c *Client) call(method string, args, reply any) error {
	conn, err := net.DialTimeout("unix", c.sock, 5*time.Second)
	if err != nil {
		return fmt.Errorf("%s: agent: %w", c.Host, err)
	}
	cl := rpc.NewClientWithCodec(jsonrpc.NewClientCodec(conn))
	defer cl.Close()
	if err := cl.Call(Service+"."+method, args, reply); err != nil {
		return fmt.Errorf("%s: %s: %w", c.Host, method, err)
	}
	return nil
}

// Exec runs a command in the host.
func (c *Client) Exec(args ExecArgs) (*ExecReply, error) {
	var r ExecReply
	return &r, c.call("Exec", args, &r)
}

// Sh runs a shell command line in the host, as a RUNBOOK step does.
func (c *Client) Sh(cmd string, timeout time.Duration, env ...string) (*ExecReply, error) {
	return c.Exec(ExecArgs{Argv: []string{"/bin/sh", "-c", cmd}, Timeout: timeout, Env: env})
}

// WriteFile writes one file in the host.
func (c *Client) WriteFile(args FileArgs) error { return c.call("WriteFile", args, &Empty{}) }

// ReadFile reads one file of the host.
func (c *Client) ReadFile(path string) ([]byte, bool, error) {
	var r ReadReply
	err := c.call("ReadFile", ReadArgs{Path: path}, &r)
	return r.Data, r.Exists, err
}

// Systemctl runs a systemctl command line in the host.
func (c *Client) Systemctl(args ...string) (*ExecReply, error) {
	var r ExecReply
	return &r, c.call("Systemctl", SystemctlArgs{Args: args}, &r)
}

// RunContainer starts a container.
func (c *Client) RunContainer(ct Container) (*ContainerStatus, error) {
	var r ContainerStatus
	return &r, c.call("RunContainer", ct, &r)
}

// ListContainers lists the containers that carry every label given.
func (c *Client) ListContainers(labels map[string]string) ([]ContainerStatus, error) {
	var r []ContainerStatus
	return r, c.call("ListContainers", ContainerList{Labels: labels}, &r)
}

// StopContainer stops a container.
func (c *Client) StopContainer(id string, grace time.Duration) error {
	return c.call("StopContainer", StopArgs{ID: id, Grace: grace}, &Empty{})
}

// RemoveContainer forgets an exited container.
func (c *Client) RemoveContainer(id string) error {
	return c.call("RemoveContainer", StopArgs{ID: id}, &Empty{})
}
