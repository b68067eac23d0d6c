package unit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Unit is a service unit as systemd 252 sees it after loading its file and
// drop-ins: every default applied, every list reset or extended as the
// files say.
type Unit struct {
	// Name is the unit's own name: the name asked for, or, when that name
	// is an alias (a link to another unit in the search path), the name it
	// leads to. It is what %n expands to.
	Name string
	// Aliases are the unit's other names: links to it in the search path.
	// Their drop-ins apply too.
	Aliases []string
	// Path is the unit file as found in the search path (before following
	// links), e.g. /lib/systemd/system/haproxy.service.
	Path string
	// DropIns are the drop-ins applied, in the order applied, as found.
	// A masked drop-in (empty, or a link to /dev/null) is not listed.
	DropIns []string
	// Masked is set when the unit file is a link to /dev/null or empty:
	// systemd refuses to start the unit, and nothing else is read.
	Masked bool

	// [Unit]
	Description   string
	Documentation []string
	// Dependencies, deduplicated, in the order first written. An empty
	// assignment does not clear them (systemd.unit(5)).
	After, Before, Wants, Requires []string
	// Conditions holds Condition*= and Assert*= in the order written.
	Conditions []Condition
	// StartLimitInterval and StartLimitBurst: more than Burst starts within
	// Interval make systemd refuse further starts. Defaults 10s and 5.
	StartLimitInterval time.Duration
	StartLimitBurst    int

	// [Service]

	// Type is simple, exec, forking, oneshot, dbus, notify or idle. Unset,
	// it is simple, or oneshot for a unit with no ExecStart=.
	Type string
	// The command lists. An empty assignment clears a list, so a drop-in
	// replaces ExecStart= by writing "ExecStart=" and then its own.
	ExecCondition, ExecStartPre, ExecStart, ExecStartPost []Command
	ExecReload, ExecStop, ExecStopPost                    []Command
	// Restart is no (the default), always, on-success, on-failure,
	// on-abnormal, on-abort or on-watchdog.
	Restart    string
	RestartSec time.Duration // 100ms by default
	// TimeoutStartSec and TimeoutStopSec are Infinity for no timeout; 90s
	// by default, and no start timeout for Type=oneshot.
	TimeoutStartSec, TimeoutStopSec time.Duration
	RemainAfterExit                 bool
	// KillMode is control-group (the default), mixed, process or none.
	KillMode   string
	KillSignal syscall.Signal // SIGTERM by default
	// SuccessExitStatus and SuccessSignals are what counts as a clean exit
	// besides status 0 and, except for Type=oneshot, SIGHUP, SIGINT,
	// SIGTERM and SIGPIPE.
	SuccessExitStatus []int
	SuccessSignals    []syscall.Signal
	LimitNOFILE       *Rlimit // nil: the manager's default
	// Nice is the processes' scheduling priority, -20 to 19; nil: the
	// manager's (0).
	Nice *int
	// WorkingDirectory is "" for the manager's (/) and "~" for the home of
	// User=; MissingOK is set when it was written with "-".
	WorkingDirectory          string
	WorkingDirectoryMissingOK bool
	User, Group               string
	PIDFile                   string
	Environment               []string // NAME=value, from Environment=
	// RuntimeDirectory are directories below /run that the manager makes
	// (mode RuntimeDirectoryMode, 0755 unless written) before the unit's
	// first command and removes when it stops (RuntimeDirectoryPreserve=
	// no, the default): sshd's privilege separation directory is one.
	RuntimeDirectory     []string
	RuntimeDirectoryMode uint32
	EnvironmentFiles     []EnvFile // read at each start, by Env

	// [Install]
	WantedBy, RequiredBy, Alias []string

	// Ignored lists every line that had no effect: settings the package
	// does not model and lines systemd itself would warn about and skip.
	Ignored []Directive

	sp *specifiers // for Expand
}

// EnvFile is one EnvironmentFile= setting.
type EnvFile struct {
	Path     string // absolute, possibly a glob
	Optional bool   // written with "-": a missing or unreadable file is skipped
}

// Rlimit is a resource limit; RlimitInfinity is "infinity".
type Rlimit struct{ Soft, Hard uint64 }

// RlimitInfinity is an unlimited resource limit (RLIM_INFINITY).
const RlimitInfinity = math.MaxUint64

// Defaults of systemd 252's system manager (systemd-system.conf(5)).
const (
	DefaultTimeout            = 90 * time.Second
	DefaultRestartSec         = 100 * time.Millisecond
	DefaultStartLimitInterval = 10 * time.Second
	DefaultStartLimitBurst    = 5
)

// Load reads the service unit name under root ("/" on a host, a
// directory in tests) the way systemd 252 does: the first directory of the
// search path (/etc/systemd/system before /run/systemd/system before
// /lib/systemd/system, and the rest of `systemd-analyze unit-paths`) that
// holds the name supplies the unit file, following links within root;
// then the drop-ins NAME.d/*.conf of every directory are applied in the
// order of their file names, a drop-in of an earlier directory hiding one
// of the same file name in a later one. A unit that does not exist is an
// error for which errors.Is(err, fs.ErrNotExist) holds. A masked unit is
// not an error: the Unit has Masked set and nothing else. A unit systemd
// would refuse to load is an *Error with the file and line at fault.
func Load(root, name string) (*Unit, error) {
	if !validUnitName(name) || unitSuffix(name) != ".service" {
		return nil, &Error{Unit: name, Msg: "not a service unit name"}
	}
	l, err := newLookup(root)
	if err != nil {
		return nil, err
	}
	id, file, aliases, err := l.find(name)
	if err != nil {
		return nil, err
	}
	u := &Unit{Name: id, Aliases: aliases, Path: file}
	masked, err := l.masked(file)
	if err != nil {
		if isENOENT(err) {
			return nil, &fs.PathError{Op: "load " + name, Path: file, Err: fs.ErrNotExist}
		}
		return nil, err
	}
	if masked {
		u.Masked = true
		return u, nil
	}
	// %y is the real path of a linked unit file, the path as found
	// otherwise.
	frag := file
	if r, err := chase(root, file, true); err == nil && !l.inSearchPath(r) {
		frag = r
	}
	u.sp = &specifiers{root: root, name: id, fragment: frag}
	ld := &loader{u: u, sp: u.sp}
	data, err := readFile(root, file)
	if err != nil {
		return nil, err
	}
	if err := ld.apply(file, data); err != nil {
		return nil, err
	}
	files, maskedDropIns := l.dropIns(l.dropInDirs(append([]string{id}, aliases...)))
	for _, f := range files {
		if maskedDropIns[f] {
			continue
		}
		data, err := readFile(root, f)
		if err != nil {
			// A drop-in that vanished (a dangling link) is skipped
			// silently, as systemd does.
			if isENOENT(err) {
				continue
			}
			return nil, err
		}
		u.DropIns = append(u.DropIns, f)
		// An error in a drop-in ends that drop-in, not the unit: systemd
		// applies what came before it and goes on with the next drop-in.
		if err := ld.apply(f, data); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				return nil, err
			}
			u.Ignored = append(u.Ignored, Directive{File: e.File, Line: e.Line, Reason: e.Msg + "; the rest of this drop-in is ignored (as systemd does)"})
		}
	}
	if err := ld.finish(); err != nil {
		return nil, err
	}
	return u, nil
}

// loader applies assignments to a Unit.
type loader struct {
	u  *Unit
	sp *specifiers
	// Which settings were written, for the defaults that depend on it.
	typeSet, startTimeoutSet, startLimitIntervalSet, startLimitBurstSet bool
	runtimeDirectoryModeSet                                             bool
	restartSecSet, stopTimeoutSet, killModeSet, killSignalSet           bool
	successAction                                                       bool
}

// apply applies the assignments of one file in order. It stops at the
// first error, which is fatal for the unit's own file; the assignments
// before it have been applied, as they are by systemd.
func (ld *loader) apply(file string, data []byte) error {
	as, notes, perr := parseFile(ld.u.Name, file, data)
	first := len(ld.u.Ignored)
	ld.u.Ignored = append(ld.u.Ignored, notes...)
	// The file's notes in line order, whichever stage made them.
	defer func() {
		mine := ld.u.Ignored[first:]
		sort.SliceStable(mine, func(i, j int) bool { return mine[i].Line < mine[j].Line })
	}()
	for _, a := range as {
		if err := ld.set(a); err != nil {
			return &Error{Unit: ld.u.Name, File: a.file, Line: a.line, Msg: fmt.Sprintf("%s=%s: %v", a.key, a.value, err)}
		}
	}
	return perr
}

// ignore records a line that has no effect.
func (ld *loader) ignore(a assignment, reason string) {
	ld.u.Ignored = append(ld.u.Ignored, Directive{File: a.file, Line: a.line, Section: a.section, Key: a.key, Value: a.value, Reason: reason})
}

// invalid records a value systemd would warn about and skip.
func (ld *loader) invalid(a assignment, format string, args ...any) {
	ld.ignore(a, fmt.Sprintf(format, args...)+", ignored (as systemd does)")
}

// set applies one assignment. An error is fatal for the unit, as it is for
// systemd; everything systemd merely warns about is recorded in Ignored.
func (ld *loader) set(a assignment) error {
	u, v := ld.u, a.value
	switch a.section + "." + a.key {
	case "Unit.Description":
		s, err := ld.sp.expand(v)
		if err != nil {
			ld.invalid(a, "%v", err)
			return nil
		}
		u.Description = s
	case "Unit.Documentation":
		ld.strv(a, &u.Documentation, func(w string) bool {
			for _, p := range []string{"http://", "https://", "file:/", "info:", "man:"} {
				if strings.HasPrefix(w, p) && len(w) > len(p) {
					return true
				}
			}
			return false
		})
	case "Unit.After":
		ld.deps(a, &u.After)
	case "Unit.Before":
		ld.deps(a, &u.Before)
	case "Unit.Wants":
		ld.deps(a, &u.Wants)
	case "Unit.Requires":
		ld.deps(a, &u.Requires)
	case "Unit.StartLimitIntervalSec", "Unit.StartLimitInterval", "Service.StartLimitInterval":
		if d, ok := ld.sec(a, false); ok {
			u.StartLimitInterval, ld.startLimitIntervalSet = d, true
		}
	case "Unit.StartLimitBurst", "Service.StartLimitBurst":
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			ld.invalid(a, "not a number")
			return nil
		}
		u.StartLimitBurst, ld.startLimitBurstSet = int(n), true
	case "Unit.SuccessAction":
		ld.successAction = v != "" && v != "none"
		ld.ignore(a, ld.reason(a))
	case "Service.Type":
		if !oneOf(v, "simple", "exec", "forking", "oneshot", "dbus", "notify", "idle") {
			ld.invalid(a, "unknown service type")
			return nil
		}
		u.Type, ld.typeSet = v, true
	case "Service.Restart":
		if !oneOf(v, "no", "always", "on-success", "on-failure", "on-abnormal", "on-abort", "on-watchdog") {
			ld.invalid(a, "unknown restart setting")
			return nil
		}
		u.Restart = v
	case "Service.KillMode":
		if !oneOf(v, "control-group", "mixed", "process", "none") {
			ld.invalid(a, "unknown kill mode")
			return nil
		}
		u.KillMode, ld.killModeSet = v, true
	case "Service.KillSignal":
		s, ok := parseSignal(v)
		if !ok {
			ld.invalid(a, "unknown signal")
			return nil
		}
		u.KillSignal, ld.killSignalSet = s, true
	case "Service.ExecCondition":
		return ld.exec(a, &u.ExecCondition)
	case "Service.ExecStartPre":
		return ld.exec(a, &u.ExecStartPre)
	case "Service.ExecStart":
		return ld.exec(a, &u.ExecStart)
	case "Service.ExecStartPost":
		return ld.exec(a, &u.ExecStartPost)
	case "Service.ExecReload":
		return ld.exec(a, &u.ExecReload)
	case "Service.ExecStop":
		return ld.exec(a, &u.ExecStop)
	case "Service.ExecStopPost":
		return ld.exec(a, &u.ExecStopPost)
	case "Service.RestartSec":
		if d, ok := ld.sec(a, false); ok {
			u.RestartSec, ld.restartSecSet = d, true
		}
	case "Service.TimeoutSec":
		if d, ok := ld.sec(a, true); ok {
			u.TimeoutStartSec, u.TimeoutStopSec = d, d
			ld.startTimeoutSet, ld.stopTimeoutSet = true, true
		}
	case "Service.TimeoutStartSec":
		if d, ok := ld.sec(a, true); ok {
			u.TimeoutStartSec, ld.startTimeoutSet = d, true
		}
	case "Service.TimeoutStopSec":
		if d, ok := ld.sec(a, true); ok {
			u.TimeoutStopSec, ld.stopTimeoutSet = d, true
		}
	case "Service.RemainAfterExit":
		b, ok := parseBool(v)
		if !ok {
			ld.invalid(a, "not a boolean")
			return nil
		}
		u.RemainAfterExit = b
	case "Service.SuccessExitStatus":
		ld.exitStatus(a)
	case "Service.LimitNOFILE":
		r, ok := parseRlimit(v)
		if !ok {
			ld.invalid(a, "bad resource limit")
			return nil
		}
		u.LimitNOFILE = r
	case "Service.Nice":
		n, err := strconv.Atoi(v)
		if err != nil || n < -20 || n > 19 {
			ld.invalid(a, "not a nice level (-20 to 19)")
			return nil
		}
		u.Nice = &n
	case "Service.WorkingDirectory":
		return ld.workingDirectory(a)
	case "Service.User", "Service.Group":
		s, err := ld.sp.expand(v)
		if err != nil {
			ld.invalid(a, "%v", err)
			return nil
		}
		if a.key == "User" {
			u.User = s
		} else {
			u.Group = s
		}
	case "Service.PIDFile":
		ld.pidFile(a)
	case "Service.RuntimeDirectory":
		ld.runtimeDirectory(a)
	case "Service.RuntimeDirectoryMode":
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m > 0o7777 {
			ld.invalid(a, "not an octal file mode")
			return nil
		}
		u.RuntimeDirectoryMode, ld.runtimeDirectoryModeSet = uint32(m), true
	case "Service.Environment":
		ld.environment(a)
	case "Service.EnvironmentFile":
		if v == "" {
			u.EnvironmentFiles = nil
			return nil
		}
		s, err := ld.sp.expand(v)
		if err != nil {
			ld.invalid(a, "%v", err)
			return nil
		}
		f := EnvFile{Path: s}
		if strings.HasPrefix(s, "-") {
			f = EnvFile{Path: s[1:], Optional: true}
		}
		if !strings.HasPrefix(f.Path, "/") {
			ld.invalid(a, "path is not absolute")
			return nil
		}
		f.Path = simplifyPath(f.Path)
		u.EnvironmentFiles = append(u.EnvironmentFiles, f)
	case "Install.WantedBy":
		ld.strv(a, &u.WantedBy, validUnitName)
	case "Install.RequiredBy":
		ld.strv(a, &u.RequiredBy, validUnitName)
	case "Install.Alias":
		ld.strv(a, &u.Alias, validUnitName)
	default:
		if strings.HasPrefix(a.key, "Condition") || strings.HasPrefix(a.key, "Assert") {
			if a.section == "Unit" && known[a.section+"."+a.key] {
				ld.condition(a)
				return nil
			}
		}
		ld.ignore(a, ld.reason(a))
	}
	return nil
}

// reason is why an unmodelled setting is ignored.
func (ld *loader) reason(a assignment) string {
	k := a.section + "." + a.key
	if !known[k] {
		return fmt.Sprintf("unknown to systemd 252, which ignores it (\"Unknown key name '%s' in section '%s'\")", a.key, a.section)
	}
	switch {
	case a.section == "Service" && sandboxing(a.key):
		return "sandboxing is not emulated"
	case a.section == "Service" && resourceControl(a.key):
		return "resource control is not emulated"
	}
	return "not emulated"
}

func sandboxing(k string) bool {
	for _, p := range []string{"Protect", "Private", "Restrict", "ReadWrite", "ReadOnly", "Inaccessible", "Bind", "TemporaryFileSystem", "NoNewPrivileges", "Capability", "AmbientCapabilities", "SystemCall", "MemoryDenyWriteExecute", "LockPersonality", "DynamicUser", "RootDirectory", "RootImage", "MountAPIVFS", "ExecPaths", "NoExecPaths", "SecureBits", "RemoveIPC", "KeyringMode", "ProcSubset"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func resourceControl(k string) bool {
	for _, p := range []string{"CPU", "Memory", "IO", "BlockIO", "Tasks", "IP", "Device", "Delegate", "Slice", "ManagedOOM", "AllowedCPUs", "AllowedMemoryNodes", "StartupCPU", "StartupIO", "StartupBlockIO", "StartupAllowed", "DefaultMemory", "DisableControllers", "SocketBind", "BPFProgram", "RestrictNetworkInterfaces", "OOMScoreAdjust", "Limit"} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func oneOf(v string, vs ...string) bool { return contains(vs, v) }

// parseBool is systemd's parse_boolean().
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "1", "yes", "y", "true", "t", "on":
		return true, true
	case "0", "no", "n", "false", "f", "off":
		return false, true
	}
	return false, false
}

// sec parses a time span setting; fix0 makes 0 mean Infinity, as for
// TimeoutStartSec= and TimeoutStopSec=.
func (ld *loader) sec(a assignment, fix0 bool) (time.Duration, bool) {
	d, err := ParseTimespan(a.value)
	if err != nil {
		ld.invalid(a, "%v", err)
		return 0, false
	}
	if fix0 && d == 0 {
		d = Infinity
	}
	return d, true
}

// strv is systemd's config_parse_strv() after specifiers: words, quotes
// removed, an empty value clears the list; valid filters words systemd
// would refuse.
func (ld *loader) strv(a assignment, list *[]string, valid func(string) bool) {
	if a.value == "" {
		*list = nil
		return
	}
	v, err := ld.sp.expand(a.value)
	if err != nil {
		ld.invalid(a, "%v", err)
		return
	}
	for {
		w, rest, ok, err := extractWord(v, unquote|retainEscape)
		if err != nil {
			ld.invalid(a, "bad quoting")
			return
		}
		if !ok {
			return
		}
		v = rest
		if !valid(w) {
			ld.invalid(a, "invalid value %q", w)
			continue
		}
		*list = append(*list, w)
	}
}

// deps adds unit names to a dependency list (config_parse_unit_deps()):
// quotes are not special, names are checked, an empty value does nothing.
func (ld *loader) deps(a assignment, list *[]string) {
	v := a.value
	for {
		w, rest, ok, err := extractWord(v, retainEscape)
		if err != nil {
			ld.invalid(a, "bad syntax")
			return
		}
		if !ok {
			return
		}
		v = rest
		n, err := ld.sp.expand(w)
		if err != nil {
			ld.invalid(a, "%v", err)
			continue
		}
		if !validUnitName(n) {
			ld.invalid(a, "invalid unit name %q", n)
			continue
		}
		if !contains(*list, n) {
			*list = append(*list, n)
		}
	}
}

// exec applies ExecStart= or one of its kin: an empty value clears the
// list, anything else appends to it.
func (ld *loader) exec(a assignment, list *[]Command) error {
	if strings.Trim(a.value, whitespace) == "" {
		*list = nil
		return nil
	}
	cmds, err := parseCommands(a.value, ld.sp, func(msg string) { ld.ignore(a, msg) })
	if err != nil {
		return err
	}
	for i := range cmds {
		cmds[i].File, cmds[i].Line = a.file, a.line
	}
	*list = append(*list, cmds...)
	return nil
}

// environment applies Environment= (config_parse_environ()): assignments
// as words, quotes removed and C escapes decoded, several on one line; a
// later assignment of a variable replaces the earlier one in place; an
// empty value clears them all; a malformed line is skipped from the point
// where it goes wrong.
func (ld *loader) environment(a assignment) {
	if a.value == "" {
		ld.u.Environment = nil
		return
	}
	v := a.value
	for {
		w, rest, ok, err := extractWord(v, unquote|cunescape)
		if err != nil {
			ld.invalid(a, "bad quoting or escape in %q", v)
			return
		}
		if !ok {
			return
		}
		v = rest
		s, err := ld.sp.expand(w)
		if err != nil {
			ld.invalid(a, "%v", err)
			continue
		}
		if !envAssignmentValid(s) {
			ld.invalid(a, "invalid environment assignment %q", s)
			continue
		}
		ld.u.Environment = envReplace(ld.u.Environment, s)
	}
}

// exitStatus applies SuccessExitStatus= (config_parse_set_status()):
// numbers 0-255 or their names are exit statuses, anything else must be a
// signal; an empty value clears both.
func (ld *loader) exitStatus(a assignment) {
	u := ld.u
	if a.value == "" {
		u.SuccessExitStatus, u.SuccessSignals = nil, nil
		return
	}
	v := a.value
	for {
		w, rest, ok, _ := extractWord(v, 0)
		if !ok {
			break
		}
		v = rest
		if n, ok := parseExitStatus(w); ok {
			if !containsInt(u.SuccessExitStatus, n) {
				u.SuccessExitStatus = append(u.SuccessExitStatus, n)
			}
			continue
		}
		if s, ok := parseSignal(w); ok {
			if !containsSignal(u.SuccessSignals, s) {
				u.SuccessSignals = append(u.SuccessSignals, s)
			}
			continue
		}
		ld.invalid(a, "%q is neither an exit status nor a signal", w)
	}
	sort.Ints(u.SuccessExitStatus)
	sort.Slice(u.SuccessSignals, func(i, j int) bool { return u.SuccessSignals[i] < u.SuccessSignals[j] })
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func containsSignal(xs []syscall.Signal, x syscall.Signal) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// exitStatusNames are the names systemd 252 accepts for exit statuses
// (`systemd-analyze exit-status`): LSB's, BSD's sysexits.h and systemd's
// own.
var exitStatusNames = map[string]int{
	"SUCCESS": 0, "FAILURE": 1, "INVALIDARGUMENT": 2, "NOTIMPLEMENTED": 3,
	"NOPERMISSION": 4, "NOTINSTALLED": 5, "NOTCONFIGURED": 6, "NOTRUNNING": 7,
	"USAGE": 64, "DATAERR": 65, "NOINPUT": 66, "NOUSER": 67, "NOHOST": 68,
	"UNAVAILABLE": 69, "SOFTWARE": 70, "OSERR": 71, "OSFILE": 72,
	"CANTCREAT": 73, "IOERR": 74, "TEMPFAIL": 75, "PROTOCOL": 76,
	"NOPERM": 77, "CONFIG": 78,
	"CHDIR": 200, "NICE": 201, "FDS": 202, "EXEC": 203, "MEMORY": 204,
	"LIMITS": 205, "OOM_ADJUST": 206, "SIGNAL_MASK": 207, "STDIN": 208,
	"STDOUT": 209, "CHROOT": 210, "IOPRIO": 211, "TIMERSLACK": 212,
	"SECUREBITS": 213, "SETSCHEDULER": 214, "CPUAFFINITY": 215, "GROUP": 216,
	"USER": 217, "CAPABILITIES": 218, "CGROUP": 219, "SETSID": 220,
	"CONFIRM": 221, "STDERR": 222, "PAM": 224, "NETWORK": 225, "NAMESPACE": 226,
	"NO_NEW_PRIVILEGES": 227, "SECCOMP": 228, "SELINUX_CONTEXT": 229,
	"PERSONALITY": 230, "APPARMOR": 231, "ADDRESS_FAMILIES": 232,
	"RUNTIME_DIRECTORY": 233, "CHOWN": 235, "SMACK_PROCESS_LABEL": 236,
	"KEYRING": 237, "STATE_DIRECTORY": 238, "CACHE_DIRECTORY": 239,
	"LOGS_DIRECTORY": 240, "CONFIGURATION_DIRECTORY": 241, "NUMA_POLICY": 242,
	"CREDENTIALS": 243, "BPF": 244, "EXCEPTION": 255,
}

func parseExitStatus(w string) (int, bool) {
	if n, err := strconv.ParseUint(w, 10, 8); err == nil {
		return int(n), true
	}
	n, ok := exitStatusNames[w]
	return n, ok
}

// signals are the names systemd's signal_from_string() knows, with or
// without "SIG".
var signals = map[string]syscall.Signal{
	"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "QUIT": syscall.SIGQUIT, "ILL": syscall.SIGILL,
	"TRAP": syscall.SIGTRAP, "ABRT": syscall.SIGABRT, "BUS": syscall.SIGBUS, "FPE": syscall.SIGFPE,
	"KILL": syscall.SIGKILL, "USR1": syscall.SIGUSR1, "SEGV": syscall.SIGSEGV, "USR2": syscall.SIGUSR2,
	"PIPE": syscall.SIGPIPE, "ALRM": syscall.SIGALRM, "TERM": syscall.SIGTERM, "STKFLT": syscall.Signal(16),
	"CHLD": syscall.SIGCHLD, "CONT": syscall.SIGCONT, "STOP": syscall.SIGSTOP, "TSTP": syscall.SIGTSTP,
	"TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU, "URG": syscall.SIGURG, "XCPU": syscall.SIGXCPU,
	"XFSZ": syscall.SIGXFSZ, "VTALRM": syscall.SIGVTALRM, "PROF": syscall.SIGPROF, "WINCH": syscall.SIGWINCH,
	"IO": syscall.SIGIO, "PWR": syscall.Signal(30), "SYS": syscall.SIGSYS,
}

// parseSignal is signal_from_string(): a name with or without SIG,
// RTMIN+n, RTMAX-n, or a number.
func parseSignal(v string) (syscall.Signal, bool) {
	const rtmin, rtmax = 34, 64
	if n, err := strconv.Atoi(v); err == nil {
		return syscall.Signal(n), n > 0 && n <= rtmax
	}
	name := strings.TrimPrefix(v, "SIG")
	if s, ok := signals[name]; ok {
		return s, true
	}
	switch {
	case name == "RTMIN":
		return rtmin, true
	case name == "RTMAX":
		return rtmax, true
	case strings.HasPrefix(name, "RTMIN+"):
		if n, err := strconv.Atoi(name[6:]); err == nil && n >= 0 && rtmin+n <= rtmax {
			return syscall.Signal(rtmin + n), true
		}
	case strings.HasPrefix(name, "RTMAX-"):
		if n, err := strconv.Atoi(name[6:]); err == nil && n >= 0 && rtmax-n >= rtmin {
			return syscall.Signal(rtmax - n), true
		}
	}
	return 0, false
}

// parseRlimit is rlimit_parse() for a count limit: N, soft:hard, or
// infinity in either place; the soft limit may not exceed the hard one.
func parseRlimit(v string) (*Rlimit, bool) {
	one := func(s string) (uint64, bool) {
		if s == "infinity" {
			return RlimitInfinity, true
		}
		n, err := strconv.ParseUint(s, 10, 64)
		return n, err == nil
	}
	soft, hard, pair := strings.Cut(v, ":")
	s, ok := one(soft)
	if !ok {
		return nil, false
	}
	h := s
	if pair {
		if h, ok = one(hard); !ok {
			return nil, false
		}
	}
	if s > h {
		return nil, false
	}
	return &Rlimit{Soft: s, Hard: h}, true
}

// workingDirectory applies WorkingDirectory=: "-" makes a missing
// directory acceptable, "~" is the User='s home; anything else must be an
// absolute path, and a relative one is fatal unless "-" was given.
func (ld *loader) workingDirectory(a assignment) error {
	u, v := ld.u, a.value
	if v == "" {
		u.WorkingDirectory, u.WorkingDirectoryMissingOK = "", false
		return nil
	}
	missingOK := strings.HasPrefix(v, "-")
	v = strings.TrimPrefix(v, "-")
	if v != "~" {
		s, err := ld.sp.expand(v)
		if err != nil {
			ld.invalid(a, "%v", err)
			return nil
		}
		if !strings.HasPrefix(s, "/") {
			if missingOK {
				ld.invalid(a, "path is not absolute")
				return nil
			}
			return fmt.Errorf("path is not absolute")
		}
		v = simplifyPath(s)
	}
	u.WorkingDirectory, u.WorkingDirectoryMissingOK = v, missingOK
	return nil
}

// pidFile applies PIDFile=: a relative path is taken below /run, and one
// below /var/run is moved to /run, as systemd 252 does.
func (ld *loader) pidFile(a assignment) {
	if a.value == "" {
		ld.u.PIDFile = ""
		return
	}
	s, err := ld.sp.expand(a.value)
	if err != nil {
		ld.invalid(a, "%v", err)
		return
	}
	if !strings.HasPrefix(s, "/") {
		s = "/run/" + s
	}
	s = simplifyPath(s)
	if rest, ok := strings.CutPrefix(s, "/var/run/"); ok {
		s = path.Join("/run", rest)
	}
	ld.u.PIDFile = s
}

// runtimeDirectory applies RuntimeDirectory=: relative paths, each below
// /run, none leaving it; an empty assignment clears the list.
func (ld *loader) runtimeDirectory(a assignment) {
	if a.value == "" {
		ld.u.RuntimeDirectory = nil
		return
	}
	s, err := ld.sp.expand(a.value)
	if err != nil {
		ld.invalid(a, "%v", err)
		return
	}
	for _, d := range strings.Fields(s) {
		c := simplifyPath(d)
		if strings.HasPrefix(d, "/") || c == "." || slices.Contains(strings.Split(c, "/"), "..") {
			ld.invalid(a, "%q is not a path relative to /run", d)
			continue
		}
		if !slices.Contains(ld.u.RuntimeDirectory, c) {
			ld.u.RuntimeDirectory = append(ld.u.RuntimeDirectory, c)
		}
	}
}

// finish applies the defaults that depend on what was written and refuses
// what systemd 252's service_verify() refuses.
func (ld *loader) finish() error {
	u := ld.u
	if !ld.typeSet {
		u.Type = "simple"
		if len(u.ExecStart) == 0 {
			u.Type = "oneshot"
		}
	}
	if u.Restart == "" {
		u.Restart = "no"
	}
	if !ld.restartSecSet {
		u.RestartSec = DefaultRestartSec
	}
	if !ld.startTimeoutSet {
		u.TimeoutStartSec = DefaultTimeout
		if u.Type == "oneshot" {
			u.TimeoutStartSec = Infinity
		}
	}
	if !ld.stopTimeoutSet {
		u.TimeoutStopSec = DefaultTimeout
	}
	if !ld.killModeSet {
		u.KillMode = "control-group"
	}
	if !ld.killSignalSet {
		u.KillSignal = syscall.SIGTERM
	}
	if !ld.startLimitIntervalSet {
		u.StartLimitInterval = DefaultStartLimitInterval
	}
	if !ld.startLimitBurstSet {
		u.StartLimitBurst = DefaultStartLimitBurst
	}
	if !ld.runtimeDirectoryModeSet {
		u.RuntimeDirectoryMode = 0o755
	}
	refuse := func(msg string) error { return &Error{Unit: u.Name, File: u.Path, Msg: msg} }
	switch {
	case len(u.ExecStart) == 0 && len(u.ExecStop) == 0 && !ld.successAction:
		return refuse("Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.")
	case u.Type != "oneshot" && len(u.ExecStart) == 0:
		return refuse("Service has no ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.")
	case !u.RemainAfterExit && len(u.ExecStart) == 0 && !ld.successAction:
		return refuse("Service has no ExecStart= and no SuccessAction= settings and does not have RemainAfterExit=yes set. Refusing.")
	case u.Type != "oneshot" && len(u.ExecStart) > 1:
		return refuse("Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing.")
	case u.Type == "oneshot" && (u.Restart == "always" || u.Restart == "on-success"):
		return refuse("Service has Restart= set to either always or on-success, which isn't allowed for Type=oneshot services. Refusing.")
	}
	return nil
}
