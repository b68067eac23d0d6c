package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hagen/hagen/lab/standin/unit"
)

// systemd is the host's service manager stand-in: it loads units as
// systemd 252 does (lab/standin/unit), keeps what it loaded until
// daemon-reload (so a RUNBOOK that forgets daemon-reload runs the old
// unit, as on a machine), starts their processes with the environment and
// command line systemd would give them, waits for READY=1 from Type=notify
// services, restarts them by their Restart= policy and start limits, and
// stops them by KillMode. What it does not emulate (cgroups, sandboxing,
// User=) it leaves out, and the unit's Ignored list says so.
//
// A unit's processes form a process group: KillMode=control-group ends
// the group, where systemd ends the unit's cgroup.
type systemd struct {
	procs   *procs
	journal string // one log per unit
	mu      sync.Mutex
	units   map[string]*service
}

// service is one unit's state.
type service struct {
	name     string
	def      *unit.Unit // as loaded; nil until first needed or after daemon-reload
	state    string     // inactive, activating, active, deactivating, failed
	sub      string     // dead, start, running, auto-restart, exited, ...
	result   string     // success, exit-code, signal, timeout, start-limit-hit, ...
	since    time.Time
	mainPID  int
	exited   chan struct{} // closed when the main process is gone
	starts   []time.Time   // for the start limit
	restart  *time.Timer
	stopping bool
	ready    chan struct{} // closed on READY=1 (Type=notify)
}

// searchPath is where the unit files live, for enable.
var searchPath = []string{"/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}

// unitEnv is the environment systemd gives services (systemd.exec(5)).
var unitEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}

func newSystemd(p *procs, cfg Config) *systemd {
	return &systemd{procs: p, journal: filepath.Join(cfg.State, "journal"), units: map[string]*service{}}
}

// svc returns the unit's state, creating it inactive.
func (s *systemd) svc(name string) *service {
	sv, ok := s.units[name]
	if !ok {
		sv = &service{name: name, state: "inactive", sub: "dead"}
		s.units[name] = sv
	}
	return sv
}

// load returns the unit's definition: the one loaded last, or the file
// now if none was (systemd loads a unit on first reference).
func (s *systemd) load(sv *service) (*unit.Unit, error) {
	if sv.def != nil {
		return sv.def, nil
	}
	u, err := unit.Load("/", sv.name)
	if err != nil {
		return nil, err
	}
	sv.def = u
	return u, nil
}

// unitName adds ".service" to a bare name, as systemctl does.
func unitName(n string) string {
	if strings.Contains(n, ".") {
		return n
	}
	return n + ".service"
}

// command runs one systemctl command line.
func (s *systemd) command(args []string) ExecReply {
	var out, errb bytes.Buffer
	code := s.dispatch(args, &out, &errb)
	return ExecReply{Stdout: out.Bytes(), Stderr: errb.Bytes(), Code: code}
}

func (s *systemd) dispatch(args []string, out, errb *bytes.Buffer) int {
	var verb string
	var names []string
	noBlock, now, quiet := false, false, false
	var q query
	for i := 0; i < len(args); i++ {
		a := args[i]
		// value is the argument of an option written "--opt=V", "--opt V"
		// or "-o V".
		value := func() (string, bool) {
			if _, v, ok := strings.Cut(a, "="); ok {
				return v, true
			}
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			fmt.Fprintf(errb, "systemctl (hagen-lab): option %s needs a value\n", a)
			return "", false
		}
		switch {
		case a == "--no-block":
			noBlock = true
		case a == "--now":
			now = true
		case a == "-q" || a == "--quiet":
			quiet = true
		case a == "-a" || a == "--all":
			q.all = true
		case a == "--value":
			q.valueOnly = true
		case a == "--no-legend":
			q.noLegend = true
		case a == "--no-pager" || a == "--full" || a == "-l" || a == "--system" || a == "--plain":
		case a == "-t" || a == "--type" || strings.HasPrefix(a, "--type="):
			v, ok := value()
			if !ok {
				return 1
			}
			q.types = append(q.types, strings.Split(v, ",")...)
		case a == "-p" || a == "--property" || strings.HasPrefix(a, "--property="):
			v, ok := value()
			if !ok {
				return 1
			}
			q.props = append(q.props, strings.Split(v, ",")...)
		case strings.HasPrefix(a, "-"):
			fmt.Fprintf(errb, "systemctl (hagen-lab): option %s is not supported by the lab's systemd stand-in\n", a)
			return 1
		case verb == "":
			verb = a
		case verb == "list-units" || verb == "list-unit-files":
			names = append(names, a) // patterns, as written
		default:
			names = append(names, unitName(a))
		}
	}
	switch verb {
	case "daemon-reload":
		s.mu.Lock()
		for _, sv := range s.units {
			sv.def = nil
		}
		s.mu.Unlock()
		return 0
	case "enable", "disable":
		code := 0
		for _, n := range names {
			if c := s.enable(n, verb == "enable", errb); c != 0 {
				code = c
			}
		}
		if code == 0 && now {
			for _, n := range names {
				if verb == "enable" {
					code = max(code, s.start(n, !noBlock, errb))
				} else {
					code = max(code, s.stop(n))
				}
			}
		}
		return code
	case "start", "restart", "try-restart", "reload-or-restart", "try-reload-or-restart", "stop", "reload":
		code := 0
		for _, n := range names {
			var c int
			switch verb {
			case "start":
				c = s.start(n, !noBlock, errb)
			case "stop":
				c = s.stop(n)
			case "try-restart":
				if s.isActive(n) {
					s.stop(n)
					c = s.start(n, !noBlock, errb)
				}
			case "reload":
				c = s.reload(n, errb)
			case "reload-or-restart", "try-reload-or-restart":
				switch {
				case s.stateOf(n) == "active" && s.canReload(n):
					c = s.reload(n, errb)
				case s.isActive(n) || verb == "reload-or-restart":
					s.stop(n)
					c = s.start(n, !noBlock, errb)
				}
			default: // restart
				s.stop(n)
				c = s.start(n, !noBlock, errb)
			}
			code = max(code, c)
		}
		return code
	case "is-active":
		code := 3
		for _, n := range names {
			st := s.stateOf(n)
			if !quiet {
				fmt.Fprintln(out, st)
			}
			if st == "active" {
				code = 0
			}
		}
		return code
	case "is-failed":
		code := 1
		for _, n := range names {
			st := s.stateOf(n)
			if !quiet {
				fmt.Fprintln(out, st)
			}
			if st == "failed" {
				code = 0
			}
		}
		return code
	case "is-enabled":
		code := 1
		for _, n := range names {
			st, err := s.enabledState(n)
			if err != nil {
				fmt.Fprintf(errb, "Failed to get unit file state for %s: No such file or directory\n", n)
				continue
			}
			if !quiet {
				fmt.Fprintln(out, st)
			}
			if st == "enabled" || st == "static" || st == "alias" {
				code = 0
			}
		}
		return code
	case "status":
		return s.status(names, out, errb)
	case "show":
		return s.show(names, q, out, errb)
	case "list-units":
		return s.listUnits(names, q, out, errb)
	case "list-unit-files":
		return s.listUnitFiles(names, q, out, errb)
	case "reset-failed":
		s.mu.Lock()
		for _, n := range names {
			if sv := s.units[n]; sv != nil && sv.state == "failed" {
				sv.state, sv.sub, sv.starts = "inactive", "dead", nil
			}
		}
		s.mu.Unlock()
		return 0
	}
	fmt.Fprintf(errb, "systemctl (hagen-lab): %q is not a command the lab's systemd stand-in knows\n", verb)
	return 1
}

// enable links the unit into the .wants directory of every target its
// [Install] section names, as systemctl enable does (and says so).
func (s *systemd) enable(name string, on bool, errb *bytes.Buffer) int {
	u, err := unit.Load("/", name)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(errb, "Failed to %s unit: Unit file %s does not exist.\n", map[bool]string{true: "enable", false: "disable"}[on], name)
		return 1
	}
	if err != nil {
		fmt.Fprintf(errb, "Failed to load %s: %v\n", name, err)
		return 1
	}
	targets := append(append([]string(nil), u.WantedBy...), u.RequiredBy...)
	if len(targets) == 0 && on {
		fmt.Fprintf(errb, "The unit files have no installation config (WantedBy=, RequiredBy=, ...).\n")
		return 0
	}
	for _, t := range targets {
		kind := ".wants"
		if slices.Contains(u.RequiredBy, t) {
			kind = ".requires"
		}
		link := filepath.Join("/etc/systemd/system", t+kind, name)
		if on {
			if _, err := os.Lstat(link); err == nil {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				fmt.Fprintln(errb, err)
				return 1
			}
			if err := os.Symlink(u.Path, link); err != nil {
				fmt.Fprintln(errb, err)
				return 1
			}
			fmt.Fprintf(errb, "Created symlink %s → %s.\n", link, u.Path)
		} else if err := os.Remove(link); err == nil {
			fmt.Fprintf(errb, "Removed \"%s\".\n", link)
		}
	}
	return 0
}

func (s *systemd) enabledState(name string) (string, error) {
	u, err := unit.Load("/", name)
	if err != nil {
		return "", err
	}
	if u.Masked {
		return "masked", nil
	}
	for _, t := range append(append([]string(nil), u.WantedBy...), u.RequiredBy...) {
		for _, kind := range []string{".wants", ".requires"} {
			if _, err := os.Lstat(filepath.Join("/etc/systemd/system", t+kind, name)); err == nil {
				return "enabled", nil
			}
		}
	}
	if len(u.WantedBy)+len(u.RequiredBy) == 0 {
		return "static", nil
	}
	return "disabled", nil
}

func (s *systemd) stateOf(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv, ok := s.units[name]; ok {
		return sv.state
	}
	if _, err := unit.Load("/", name); errors.Is(err, fs.ErrNotExist) {
		return "inactive"
	}
	return "inactive"
}

func (s *systemd) isActive(name string) bool {
	st := s.stateOf(name)
	return st == "active" || st == "activating"
}

// start starts a unit, waiting (unless --no-block) until it is up: for
// Type=notify until READY=1, for the rest until its process runs.
func (s *systemd) start(name string, block bool, errb *bytes.Buffer) int {
	s.mu.Lock()
	sv := s.svc(name)
	if sv.state == "active" || sv.state == "activating" && sv.sub != "auto-restart" {
		ready := sv.ready
		s.mu.Unlock()
		if block && ready != nil {
			<-ready
		}
		return 0
	}
	if sv.restart != nil {
		sv.restart.Stop()
		sv.restart = nil
	}
	u, err := s.load(sv)
	if errors.Is(err, fs.ErrNotExist) {
		s.mu.Unlock()
		fmt.Fprintf(errb, "Failed to start %s: Unit %s not found.\n", name, name)
		return 5
	}
	if err != nil {
		s.mu.Unlock()
		fmt.Fprintf(errb, "Failed to start %s: %v\n", name, err)
		return 1
	}
	if u.Masked {
		s.mu.Unlock()
		fmt.Fprintf(errb, "Failed to start %s: Unit %s is masked.\n", name, name)
		return 1
	}
	code := s.launch(sv, u)
	ready := sv.ready
	failed := sv.state == "failed"
	s.mu.Unlock()
	if failed {
		fmt.Fprintf(errb, "Job for %s failed because %s.\nSee \"systemctl status %s\" and \"journalctl -xeu %s\" for details.\n", name, sv.why(), name, name)
		return 1
	}
	if code != 0 || !block || ready == nil {
		return code
	}
	timeout := u.TimeoutStartSec
	var timer <-chan time.Time
	if timeout > 0 && timeout < unit.Infinity {
		timer = time.After(timeout)
	}
	select {
	case <-ready:
		return 0
	case <-sv.exited:
		fmt.Fprintf(errb, "Job for %s failed because the control process exited with error code.\nSee \"systemctl status %s\" and \"journalctl -xeu %s\" for details.\n", name, name, name)
		return 1
	case <-timer:
		s.mu.Lock()
		sv.result = "timeout"
		s.mu.Unlock()
		s.stop(name)
		s.mu.Lock()
		sv.state, sv.sub = "failed", "failed"
		s.mu.Unlock()
		fmt.Fprintf(errb, "Job for %s failed because a timeout was exceeded.\n", name)
		return 1
	}
}

func (sv *service) why() string {
	switch sv.result {
	case "start-limit-hit":
		return "start of the service was attempted too often"
	case "exit-code":
		return "the control process exited with error code"
	}
	return "of " + sv.result
}

// launch runs a unit's ExecStartPre commands and starts its main process.
// The caller holds s.mu.
func (s *systemd) launch(sv *service, u *unit.Unit) int {
	now := time.Now()
	limit, burst := u.StartLimitInterval, u.StartLimitBurst
	var recent []time.Time
	for _, t := range sv.starts {
		if limit > 0 && now.Sub(t) < limit {
			recent = append(recent, t)
		}
	}
	if limit > 0 && burst > 0 && len(recent) >= burst {
		sv.state, sv.sub, sv.result, sv.since = "failed", "failed", "start-limit-hit", now
		return 1
	}
	sv.starts = append(recent, now)
	sv.stopping = false
	if ok, failed, err := u.CheckConditions("/"); err != nil || !ok {
		if failed != nil && failed.Assert() || err != nil {
			sv.state, sv.sub, sv.result, sv.since = "failed", "failed", "assert", now
			return 1
		}
		// A failed condition skips the start quietly: the unit stays
		// inactive, and systemctl start still succeeds.
		sv.state, sv.sub, sv.since = "inactive", "dead", now
		return 0
	}
	env, err := u.Env("/", unitEnv)
	if err != nil {
		s.logf(sv.name, "Failed to load environment files: %v", err)
		sv.state, sv.sub, sv.result, sv.since = "failed", "failed", "resources", now
		return 1
	}
	if err := makeRuntimeDirs(u); err != nil {
		s.logf(sv.name, "Failed to set up runtime directory: %v", err)
		sv.state, sv.sub, sv.result, sv.since = "failed", "failed", "resources", now
		return 1
	}
	logf, err := s.openLog(sv.name)
	if err != nil {
		return 1
	}
	defer logf.Close()
	for _, c := range u.ExecStartPre {
		argv := c.Argv(env)
		r, err := s.procs.run(ExecArgs{Argv: argv, Dir: workDir(u)}, env, 90*time.Second)
		if err == nil {
			logf.Write(r.Stdout)
			logf.Write(r.Stderr)
		}
		if (err != nil || r.Code != 0) && !c.IgnoreFailure {
			sv.state, sv.sub, sv.result, sv.since = "failed", "failed", "exit-code", now
			return 1
		}
	}
	if len(u.ExecStart) == 0 {
		sv.state, sv.sub, sv.since = "active", "exited", now
		return 0
	}
	c := u.ExecStart[0]
	argv := c.Argv(env)
	var notify *net.UnixConn
	var notifyPath string
	if u.Type == "notify" {
		notifyPath = filepath.Join("/run/hagen-lab/notify", fmt.Sprintf("%s.%d", sv.name, now.UnixNano()))
		if err := os.MkdirAll(filepath.Dir(notifyPath), 0o755); err != nil {
			return 1
		}
		notify, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
		if err != nil {
			s.logf(sv.name, "notify socket: %v", err)
			return 1
		}
		env = append(env, "NOTIFY_SOCKET="+notifyPath)
	}
	pid, done, err := s.procs.start(spec{argv: argv, env: env, dir: workDir(u), stdout: logf, stderr: logf})
	if err != nil {
		s.logf(sv.name, "Failed to start: %v", err)
		if notify != nil {
			notify.Close()
			os.Remove(notifyPath)
		}
		sv.state, sv.sub, sv.result, sv.since = "failed", "failed", "exit-code", now
		return 1
	}
	if u.LimitNOFILE != nil {
		_ = unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: u.LimitNOFILE.Soft, Max: u.LimitNOFILE.Hard}, nil)
	}
	if u.Nice != nil {
		_ = unix.Setpriority(unix.PRIO_PROCESS, pid, *u.Nice)
	}
	sv.mainPID, sv.exited, sv.since, sv.result = pid, make(chan struct{}), now, "success"
	if notify != nil {
		sv.state, sv.sub, sv.ready = "activating", "start", make(chan struct{})
		go s.readNotify(sv, notify, notifyPath, sv.ready)
	} else {
		sv.state, sv.sub, sv.ready = "active", "running", nil
	}
	go s.watch(sv, u, pid, done, sv.exited)
	return 0
}

// readNotify marks the unit active on READY=1 (sd_notify(3)).
func (s *systemd) readNotify(sv *service, c *net.UnixConn, path string, ready chan struct{}) {
	defer os.Remove(path)
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line != "READY=1" {
				continue
			}
			s.mu.Lock()
			if sv.ready == ready && sv.state == "activating" {
				sv.state, sv.sub = "active", "running"
				close(ready)
			}
			s.mu.Unlock()
			return
		}
	}
}

// watch waits for a unit's main process and applies its Restart= policy.
func (s *systemd) watch(sv *service, u *unit.Unit, pid int, done <-chan unix.WaitStatus, exited chan struct{}) {
	ws := <-done
	// The rest of the unit's process group goes with its main process,
	// as with KillMode=control-group when the service exits.
	killGroup(pid, unix.SIGKILL)
	s.mu.Lock()
	defer s.mu.Unlock()
	close(exited)
	if sv.mainPID != pid {
		return
	}
	sv.mainPID = 0
	clean := cleanExit(u, ws)
	s.logf(sv.name, "Main process exited, code=%s", describe(ws))
	if sv.ready != nil {
		select {
		case <-sv.ready:
		default:
			close(sv.ready) // waiters learn it ended by exited
		}
	}
	if sv.stopping {
		sv.state, sv.sub, sv.since = "inactive", "dead", time.Now()
		removeRuntimeDirs(u)
		return
	}
	if clean {
		sv.result = "success"
	} else if ws.Signaled() {
		sv.result = "signal"
	} else {
		sv.result = "exit-code"
	}
	if restarts(u.Restart, clean, ws) {
		sv.state, sv.sub, sv.since = "activating", "auto-restart", time.Now()
		sv.restart = time.AfterFunc(u.RestartSec, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if sv.sub != "auto-restart" {
				return
			}
			sv.restart = nil
			def, err := s.load(sv)
			if err != nil {
				sv.state, sv.sub = "failed", "failed"
				return
			}
			s.launch(sv, def)
		})
		return
	}
	if clean {
		sv.state, sv.sub = "inactive", "dead"
	} else {
		sv.state, sv.sub = "failed", "failed"
	}
	sv.since = time.Now()
	removeRuntimeDirs(u)
}

// makeRuntimeDirs makes the unit's RuntimeDirectory= under /run with its
// mode, as systemd does before the unit's first command.
func makeRuntimeDirs(u *unit.Unit) error {
	for _, d := range u.RuntimeDirectory {
		p := filepath.Join("/run", d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, os.FileMode(u.RuntimeDirectoryMode)); err != nil {
			return err
		}
	}
	return nil
}

// removeRuntimeDirs removes them when the unit has stopped
// (RuntimeDirectoryPreserve=no).
func removeRuntimeDirs(u *unit.Unit) {
	for _, d := range u.RuntimeDirectory {
		_ = os.RemoveAll(filepath.Join("/run", d))
	}
}

func cleanExit(u *unit.Unit, ws unix.WaitStatus) bool {
	if ws.Exited() {
		return ws.ExitStatus() == 0 || slices.Contains(u.SuccessExitStatus, ws.ExitStatus())
	}
	if ws.Signaled() {
		sig := syscall.Signal(ws.Signal())
		return slices.Contains([]syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE}, sig) ||
			slices.Contains(u.SuccessSignals, sig)
	}
	return false
}

// restarts applies Restart= (systemd.service(5), the table under it).
func restarts(policy string, clean bool, ws unix.WaitStatus) bool {
	switch policy {
	case "always":
		return true
	case "on-success":
		return clean
	case "on-failure":
		return !clean
	case "on-abnormal":
		return ws.Signaled() && !clean
	case "on-abort":
		return ws.Signaled() && !clean
	}
	return false
}

func describe(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed, signal=" + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exited, status=%d", ws.ExitStatus())
}

// stop stops a unit by its KillMode and waits for it, within
// TimeoutStopSec (then SIGKILL).
func (s *systemd) stop(name string) int {
	s.mu.Lock()
	sv, ok := s.units[name]
	if !ok {
		s.mu.Unlock()
		return 0
	}
	if sv.restart != nil {
		sv.restart.Stop()
		sv.restart = nil
	}
	if sv.mainPID == 0 {
		if sv.state != "failed" {
			sv.state, sv.sub = "inactive", "dead"
		}
		s.mu.Unlock()
		return 0
	}
	sv.stopping = true
	sv.state, sv.sub = "deactivating", "stop-sigterm"
	pid, exited := sv.mainPID, sv.exited
	u := sv.def
	s.mu.Unlock()
	sig, mode, timeout := unix.SIGTERM, "control-group", 90*time.Second
	if u != nil {
		sig, mode = unix.Signal(u.KillSignal), u.KillMode
		if u.TimeoutStopSec > 0 && u.TimeoutStopSec < unit.Infinity {
			timeout = u.TimeoutStopSec
		}
	}
	switch mode {
	case "process", "mixed":
		_ = unix.Kill(pid, sig)
	case "none":
	default:
		killGroup(pid, sig)
	}
	select {
	case <-exited:
	case <-time.After(timeout):
		killGroup(pid, unix.SIGKILL)
		<-exited
	}
	return 0
}

// canReload reports whether a unit has ExecReload= commands.
func (s *systemd) canReload(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.load(s.svc(name))
	return err == nil && len(u.ExecReload) > 0
}

// reload runs a running unit's ExecReload= commands, with $MAINPID, as
// systemd does; the unit keeps its main process.
func (s *systemd) reload(name string, errb *bytes.Buffer) int {
	s.mu.Lock()
	sv := s.svc(name)
	u, err := s.load(sv)
	pid := sv.mainPID
	active := sv.state == "active"
	s.mu.Unlock()
	switch {
	case err != nil:
		fmt.Fprintf(errb, "Failed to reload %s: %v\n", name, err)
		return 5
	case !active:
		fmt.Fprintf(errb, "%s is not active, cannot reload.\n", name)
		return 1
	case len(u.ExecReload) == 0:
		fmt.Fprintf(errb, "Failed to reload %s: Job type reload is not applicable for unit %s.\n", name, name)
		return 1
	}
	env, err := u.Env("/", append(append([]string(nil), unitEnv...), fmt.Sprintf("MAINPID=%d", pid)))
	if err != nil {
		fmt.Fprintf(errb, "Failed to reload %s: %v\n", name, err)
		return 1
	}
	logf, err := s.openLog(name)
	if err != nil {
		return 1
	}
	defer logf.Close()
	for _, c := range u.ExecReload {
		r, err := s.procs.run(ExecArgs{Argv: c.Argv(env), Dir: workDir(u)}, env, 90*time.Second)
		if err == nil {
			logf.Write(r.Stdout)
			logf.Write(r.Stderr)
		}
		if (err != nil || r.Code != 0) && !c.IgnoreFailure {
			fmt.Fprintf(errb, "Job for %s failed because the control process exited with error code.\n", name)
			return 1
		}
	}
	s.logf(name, "Reloaded.")
	return 0
}

// status prints what systemctl status prints, enough for kubeadm (which
// looks for "Loaded: not-found") and for people.
func (s *systemd) status(names []string, out, errb *bytes.Buffer) int {
	code := 0
	for _, n := range names {
		u, err := unit.Load("/", n)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(errb, "Unit %s could not be found.\n", n)
			code = max(code, 4)
			continue
		}
		if err != nil {
			fmt.Fprintf(errb, "Failed to load %s: %v\n", n, err)
			code = max(code, 1)
			continue
		}
		enabled, _ := s.enabledState(n)
		s.mu.Lock()
		sv := s.svc(n)
		state, sub, since, pid := sv.state, sv.sub, sv.since, sv.mainPID
		s.mu.Unlock()
		fmt.Fprintf(out, "● %s - %s\n", n, u.Description)
		fmt.Fprintf(out, "     Loaded: loaded (%s; %s)\n", u.Path, enabled)
		if len(u.DropIns) > 0 {
			fmt.Fprintf(out, "    Drop-In: %s\n", strings.Join(u.DropIns, ", "))
		}
		fmt.Fprintf(out, "     Active: %s (%s)", state, sub)
		if !since.IsZero() {
			fmt.Fprintf(out, " since %s", since.Format(time.DateTime))
		}
		fmt.Fprintln(out)
		if pid > 0 {
			fmt.Fprintf(out, "   Main PID: %d\n", pid)
		}
		if state != "active" {
			code = max(code, 3)
		}
	}
	return code
}

// bootUp starts every unit enabled for multi-user.target, as a machine
// does when it comes up.
func (s *systemd) bootUp() {
	entries, err := os.ReadDir("/etc/systemd/system/multi-user.target.wants")
	if err != nil {
		return
	}
	for _, e := range entries {
		var errb bytes.Buffer
		if code := s.start(e.Name(), false, &errb); code != 0 {
			s.logf(e.Name(), "boot: %s", strings.TrimSpace(errb.String()))
		}
	}
}

// units reports every unit's state, for the lab's reports.
func (s *systemd) snapshot() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for n, sv := range s.units {
		out[n] = sv.state + "/" + sv.sub
	}
	return out
}

func workDir(u *unit.Unit) string {
	if u.WorkingDirectory == "" || u.WorkingDirectory == "~" {
		return "/"
	}
	return u.WorkingDirectory
}

func (s *systemd) openLog(name string) (*os.File, error) {
	if err := os.MkdirAll(s.journal, 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(s.journal, name+".log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// logf writes a line of the manager's own to the unit's log, as systemd
// writes to the journal.
func (s *systemd) logf(name, format string, args ...any) {
	f, err := s.openLog(name)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s systemd[1]: %s: %s\n", time.Now().Format(time.StampMilli), name, fmt.Sprintf(format, args...))
}
