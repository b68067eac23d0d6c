package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runtime is the host's container runtime stand-in: it runs the processes
// the kubelet stand-in asks for, keeps them running when the kubelet
// restarts (as containerd does), and tells the kubelet and crictl what
// runs. There are no images and no isolation beyond an optional mount
// namespace: a container is a process of the host.
type runtime struct {
	procs *procs
	dir   string // container logs
	mu    sync.Mutex
	cs    map[string]*container
}

type container struct {
	st   ContainerStatus
	done chan struct{}
}

func newRuntime(p *procs, cfg Config) *runtime {
	return &runtime{procs: p, dir: filepath.Join(cfg.State, "containers"), cs: map[string]*container{}}
}

func (r *runtime) run(c Container) (ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.cs[c.ID]; ok {
		if old.st.Running {
			return ContainerStatus{}, fmt.Errorf("container %s is running", c.ID)
		}
		delete(r.cs, c.ID)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return ContainerStatus{}, err
	}
	c.Log = filepath.Join(r.dir, c.ID+".log")
	log, err := os.OpenFile(c.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return ContainerStatus{}, err
	}
	defer log.Close()
	s := spec{argv: c.Argv, env: c.Env, dir: "/", stdout: log, stderr: log}
	if len(c.Mounts) > 0 {
		self, err := os.Executable()
		if err != nil {
			return ContainerStatus{}, err
		}
		m, err := json.Marshal(c.Mounts)
		if err != nil {
			return ContainerStatus{}, err
		}
		s.argv = append([]string{self, "container-init", string(m), "--"}, c.Argv...)
		s.cloneflags = syscall.CLONE_NEWNS
	}
	pid, done, err := r.procs.start(s)
	if err != nil {
		return ContainerStatus{}, err
	}
	ct := &container{st: ContainerStatus{Container: c, PID: pid, Running: true, Started: time.Now()}, done: make(chan struct{})}
	r.cs[c.ID] = ct
	go func() {
		ws := <-done
		r.mu.Lock()
		ct.st.Running, ct.st.ExitCode, ct.st.Finished = false, exitCode(ws), time.Now()
		r.mu.Unlock()
		// The container's other processes, if any, go with it.
		killGroup(pid, unix.SIGKILL)
		close(ct.done)
	}()
	return ct.st, nil
}

func (r *runtime) list(labels map[string]string) []ContainerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Never nil: net/rpc's JSON codec takes a null result for an error.
	out := []ContainerStatus{}
	for _, id := range slices.Sorted(maps.Keys(r.cs)) {
		st := r.cs[id].st
		match := true
		for k, v := range labels {
			if st.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, st)
		}
	}
	return out
}

func (r *runtime) stop(id string, grace time.Duration) error {
	r.mu.Lock()
	ct, ok := r.cs[id]
	r.mu.Unlock()
	if !ok {
		return nil // already gone: stopping is idempotent
	}
	if ct.st.Running {
		killGroup(ct.st.PID, unix.SIGTERM)
		select {
		case <-ct.done:
		case <-time.After(grace):
			killGroup(ct.st.PID, unix.SIGKILL)
			<-ct.done
		}
	}
	r.mu.Lock()
	delete(r.cs, id)
	r.mu.Unlock()
	return nil
}

func (r *runtime) remove(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ct, ok := r.cs[id]; ok && ct.st.Running {
		return fmt.Errorf("container %s is running", id)
	}
	delete(r.cs, id)
	return nil
}

// ContainerInit is `hagen-lab container-init MOUNTS-JSON -- ARGV...`: in
// the container's fresh mount namespace it binds each mount, then becomes
// the container's command.
func ContainerInit(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: hagen-lab container-init MOUNTS-JSON -- ARGV...")
		return 2
	}
	var mounts []Mount
	if err := json.Unmarshal([]byte(args[0]), &mounts); err != nil {
		fmt.Fprintln(os.Stderr, "container-init:", err)
		return 2
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintln(os.Stderr, "container-init:", err)
		return 1
	}
	for _, m := range mounts {
		if err := bind(m); err != nil {
			fmt.Fprintf(os.Stderr, "container-init: %s on %s: %v\n", m.Source, m.Target, err)
			return 1
		}
	}
	argv := args[2:]
	path, err := lookPath(argv[0], os.Environ())
	if err != nil {
		fmt.Fprintln(os.Stderr, "container-init:", err)
		return 127
	}
	err = unix.Exec(path, argv, os.Environ())
	fmt.Fprintln(os.Stderr, "container-init:", err)
	return 126
}

func bind(m Mount) error {
	st, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	if st.IsDir() {
		err = os.MkdirAll(m.Target, 0o755)
	} else if _, e := os.Stat(m.Target); os.IsNotExist(e) {
		if err = os.MkdirAll(filepath.Dir(m.Target), 0o755); err == nil {
			var f *os.File
			if f, err = os.Create(m.Target); err == nil {
				f.Close()
			}
		}
	}
	if err != nil {
		return err
	}
	if err := unix.Mount(m.Source, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		return unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, "")
	}
	return nil
}
