package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// procs starts and reaps every process of the host. As PID 1 the agent
// inherits every orphan, so one loop waits for any child (wait4(-1)) and
// hands each exit status to whoever started that process; os/exec, which
// waits for its own children, is never used here.
type procs struct {
	mu      sync.Mutex
	waiting map[int]chan unix.WaitStatus
	// early holds statuses of processes that exited before start
	// registered them.
	early map[int]unix.WaitStatus
}

func newProcs() *procs {
	p := &procs{waiting: map[int]chan unix.WaitStatus{}, early: map[int]unix.WaitStatus{}}
	go p.reap()
	return p
}

func (p *procs) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err != nil {
			// ECHILD: nothing to wait for yet; EINTR: try again.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if ch, ok := p.waiting[pid]; ok {
			delete(p.waiting, pid)
			ch <- ws
		} else {
			// An orphan reparented to PID 1 (nobody waits for it), or a
			// child whose start has not registered it yet.
			p.early[pid] = ws
			if len(p.early) > 4096 {
				for k := range p.early {
					delete(p.early, k)
					break
				}
			}
		}
		p.mu.Unlock()
	}
}

// spec is a process to start.
type spec struct {
	argv []string
	env  []string
	dir  string
	// stdin, stdout, stderr: nil means /dev/null.
	stdin, stdout, stderr *os.File
	// cloneflags, e.g. CLONE_NEWNS for a container with mounts of its own.
	cloneflags uintptr
}

// start starts s in a process group of its own (so that it and every
// process it forks can be signalled at once) and returns its PID and the
// channel its exit status arrives on.
func (p *procs) start(s spec) (int, <-chan unix.WaitStatus, error) {
	if len(s.argv) == 0 {
		return 0, nil, errors.New("empty command")
	}
	path, err := lookPath(s.argv[0], s.env)
	if err != nil {
		return 0, nil, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, nil, err
	}
	defer null.Close()
	fd := func(f *os.File) uintptr {
		if f == nil {
			return null.Fd()
		}
		return f.Fd()
	}
	attr := &syscall.ProcAttr{
		Dir:   s.dir,
		Env:   s.env,
		Files: []uintptr{fd(s.stdin), fd(s.stdout), fd(s.stderr)},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Cloneflags: s.cloneflags},
	}
	ch := make(chan unix.WaitStatus, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	pid, err := syscall.ForkExec(path, s.argv, attr)
	if err != nil {
		return 0, nil, fmt.Errorf("starting %s: %w", s.argv[0], err)
	}
	if ws, ok := p.early[pid]; ok {
		delete(p.early, pid)
		ch <- ws
	} else {
		p.waiting[pid] = ch
	}
	return pid, ch, nil
}

// exitCode is a wait status as a shell reports it: the exit status, or
// 128 + the signal.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// killGroup signals a process group, ignoring one that is already gone.
func killGroup(pgid int, sig unix.Signal) {
	if pgid > 1 {
		_ = unix.Kill(-pgid, sig)
	}
}

// run runs a command to its end, collecting its output.
func (p *procs) run(args ExecArgs, env []string, defaultTimeout time.Duration) (*ExecReply, error) {
	timeout := args.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	var inR *os.File
	if len(args.Stdin) > 0 {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		inR = r
		go func() {
			_, _ = w.Write(args.Stdin)
			w.Close()
		}()
	}
	pid, done, err := p.start(spec{argv: args.Argv, env: append(env, args.Env...), dir: args.Dir, stdin: inR, stdout: outW, stderr: errW})
	outW.Close()
	errW.Close()
	if inR != nil {
		inR.Close()
	}
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	var wg sync.WaitGroup
	for _, c := range []struct {
		r *os.File
		b *bytes.Buffer
	}{{outR, &stdout}, {errR, &stderr}} {
		wg.Go(func() {
			_, _ = io.Copy(limitWriter{c.b, 4 << 20}, c.r)
		})
	}
	reply := &ExecReply{}
	var ws unix.WaitStatus
	select {
	case ws = <-done:
	case <-time.After(timeout):
		killGroup(pid, unix.SIGKILL)
		ws = <-done
		reply.TimedOut = true
	}
	// A background child may still hold the pipes: give it a moment,
	// then stop reading.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(2 * time.Second):
		outR.Close()
		errR.Close()
		<-finished
	}
	outR.Close()
	errR.Close()
	reply.Stdout, reply.Stderr = stdout.Bytes(), stderr.Bytes()
	reply.Code = exitCode(ws)
	if reply.TimedOut {
		reply.Code = -1
	}
	return reply, nil
}

// limitWriter keeps the first n bytes and drops the rest.
type limitWriter struct {
	b *bytes.Buffer
	n int
}

func (w limitWriter) Write(p []byte) (int, error) {
	if room := w.n - w.b.Len(); room > 0 {
		w.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// lookPath finds a command in the PATH of env.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}
