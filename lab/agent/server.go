package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"net/rpc/jsonrpc"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"
)

// BaseEnv is the environment every command and service of a host starts
// from: a root shell's on Debian, nothing of the lab's own.
var BaseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"LANG=C.UTF-8",
}

// DefaultTimeout bounds a command that names no timeout of its own.
const DefaultTimeout = 10 * time.Minute

// Agent is the RPC receiver.
type Agent struct {
	cfg     Config
	procs   *procs
	systemd *systemd
	runtime *runtime
}

// Exec runs a command in the host and returns its output and status.
func (a *Agent) Exec(args ExecArgs, reply *ExecReply) error {
	r, err := a.procs.run(args, BaseEnv, DefaultTimeout)
	if err != nil {
		return err
	}
	*reply = *r
	return nil
}

// WriteFile writes (or links) one file, as a transport lays the bundle.
func (a *Agent) WriteFile(args FileArgs, _ *Empty) error {
	if !filepath.IsAbs(args.Path) {
		return fmt.Errorf("%s is not absolute", args.Path)
	}
	if err := os.MkdirAll(filepath.Dir(args.Path), 0o755); err != nil {
		return err
	}
	if args.Symlink != "" {
		_ = os.Remove(args.Path)
		return os.Symlink(args.Symlink, args.Path)
	}
	uid, gid, err := ids(args.Owner, args.Group)
	if err != nil {
		return err
	}
	mode := os.FileMode(args.Mode).Perm()
	// Write beside, then rename: a reader never sees half a file, and a
	// running process that has the old one open keeps it.
	tmp, err := os.CreateTemp(filepath.Dir(args.Path), "."+filepath.Base(args.Path)+".lab-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(args.Data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chown(uid, gid); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), args.Path)
}

// ReadFile reads one file of the host.
func (a *Agent) ReadFile(args ReadArgs, reply *ReadReply) error {
	data, err := os.ReadFile(args.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	reply.Data, reply.Exists = data, true
	return nil
}

// Systemctl is the systemctl stand-in's entry: it runs the command line
// against the host's units and answers as systemctl would.
func (a *Agent) Systemctl(args SystemctlArgs, reply *ExecReply) error {
	*reply = a.systemd.command(args.Args)
	return nil
}

// RunContainer starts a container.
func (a *Agent) RunContainer(c Container, reply *ContainerStatus) error {
	st, err := a.runtime.run(c)
	if err != nil {
		return err
	}
	*reply = st
	return nil
}

// ListContainers lists containers, running and exited.
func (a *Agent) ListContainers(args ContainerList, reply *[]ContainerStatus) error {
	*reply = a.runtime.list(args.Labels)
	return nil
}

// StopContainer stops a container and forgets it.
func (a *Agent) StopContainer(args StopArgs, _ *Empty) error {
	return a.runtime.stop(args.ID, args.Grace)
}

// RemoveContainer forgets an exited container.
func (a *Agent) RemoveContainer(args StopArgs, _ *Empty) error {
	return a.runtime.remove(args.ID)
}

// ids resolves user and group names in the host's /etc/passwd and
// /etc/group (the overlay's, so users a package added are known).
func ids(owner, group string) (int, int, error) {
	uid, gid := 0, 0
	if owner != "" && owner != "root" {
		u, err := user.Lookup(owner)
		if err != nil {
			return 0, 0, err
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if group != "" && group != "root" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, err
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid, nil
}

// Main is the agent's entry point: `hagen-lab agent CONFIG-JSON`, started
// by the lab as PID 1 of the host's namespaces. It returns only on failure.
func Main(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: hagen-lab agent CONFIG-JSON")
		return 2
	}
	var cfg Config
	if err := json.Unmarshal([]byte(args[0]), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 2
	}
	if err := serve(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "agent %s: %v\n", cfg.Host, err)
		return 1
	}
	return 0
}

func serve(cfg Config) error {
	if os.Getpid() != 1 {
		return errors.New("the agent must run as PID 1 of a PID namespace of its own")
	}
	if err := boot(cfg); err != nil {
		return err
	}
	a := &Agent{cfg: cfg, procs: newProcs()}
	a.runtime = newRuntime(a.procs, cfg)
	a.systemd = newSystemd(a.procs, cfg)
	srv := rpc.NewServer()
	if err := srv.RegisterName(Service, a); err != nil {
		return err
	}
	sock := Socket(cfg.State)
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return err
	}
	// As on a machine coming up: runtime directories, then the units
	// enabled for boot.
	createRuntimeDirs()
	if !cfg.Installing {
		go a.systemd.bootUp()
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go srv.ServeCodec(jsonrpc.NewServerCodec(c))
	}
}
