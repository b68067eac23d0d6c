package unit

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The units the lab runs, read from copies of the real files: hagen's etcd
// unit and environment file (from golden/), and Debian bookworm's
// keepalived, HAProxy and etcd-server units with their /etc/default files.
func TestHagenEtcd(t *testing.T) {
	root := host(t, map[string]string{
		"/etc/systemd/system/etcd.service": "@hagen/etcd.service",
		"/etc/etcd.env":                    "@hagen/etcd.env",
	})
	u := load(t, root, "etcd.service")
	same(t, "Path", u.Path, "/etc/systemd/system/etcd.service")
	same(t, "Type", u.Type, "notify")
	same(t, "Restart", u.Restart, "always")
	same(t, "RestartSec", u.RestartSec, 5*time.Second)
	same(t, "TimeoutStartSec (0 is no timeout)", u.TimeoutStartSec, Infinity)
	same(t, "TimeoutStopSec (the default)", u.TimeoutStopSec, DefaultTimeout)
	same(t, "LimitNOFILE", u.LimitNOFILE, &Rlimit{Soft: 40000, Hard: 40000})
	same(t, "EnvironmentFiles", u.EnvironmentFiles, []EnvFile{{Path: "/etc/etcd.env"}})
	same(t, "After", u.After, []string{"network-online.target"})
	same(t, "Wants", u.Wants, []string{"network-online.target"})
	same(t, "WantedBy", u.WantedBy, []string{"multi-user.target"})
	same(t, "Ignored", u.Ignored, []Directive(nil))
	same(t, "argv", argv(t, root, u), []string{"/usr/local/bin/etcd"})
	env, err := u.Env(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := envGet(env, "ETCD_INITIAL_CLUSTER"); v != "master0=https://10.10.40.90:2380,master1=https://10.10.40.91:2380,master2=https://10.10.40.92:2380" {
		t.Errorf("ETCD_INITIAL_CLUSTER = %q", v)
	}
	if len(env) != 18 {
		t.Errorf("etcd.env gives %d variables, want 18 (its comment lines are not variables): %q", len(env), env)
	}

	// The file is required: without it the start fails.
	if _, err := u.Env(host(t, nil), nil); err == nil {
		t.Error("Env without /etc/etcd.env succeeded; EnvironmentFile= without - must fail the start")
	}
}

func TestDebianHAProxy(t *testing.T) {
	root := host(t, map[string]string{
		"/lib/systemd/system/haproxy.service": "@debian/haproxy.service",
		"/etc/default/haproxy":                "@debian/default-haproxy",
	})
	u := load(t, root, "haproxy.service")
	// Found through /lib, the first of the two names of the directory.
	same(t, "Path", u.Path, "/lib/systemd/system/haproxy.service")
	same(t, "Type", u.Type, "notify")
	same(t, "KillMode", u.KillMode, "mixed")
	same(t, "SuccessExitStatus", u.SuccessExitStatus, []int{143})
	same(t, "Restart", u.Restart, "always")
	// Three assignments on one line, each quoted as a whole.
	same(t, "Environment", u.Environment, []string{
		"CONFIG=/etc/haproxy/haproxy.cfg",
		"PIDFILE=/run/haproxy.pid",
		"EXTRAOPTS=-S /run/haproxy-master.sock",
	})
	same(t, "EnvironmentFiles", u.EnvironmentFiles, []EnvFile{
		{Path: "/etc/default/haproxy", Optional: true},
		{Path: "/etc/sysconfig/haproxy", Optional: true},
	})
	// $EXTRAOPTS stands alone, so its value is split into two words.
	same(t, "argv", argv(t, root, u), []string{
		"/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/haproxy.pid",
		"-S", "/run/haproxy-master.sock",
	})
	if len(u.ExecReload) != 2 {
		t.Fatalf("ExecReload has %d commands, want 2", len(u.ExecReload))
	}
	env, _ := u.Env(root, []string{"MAINPID=4242"})
	same(t, "first ExecReload", u.ExecReload[0].Argv(env), []string{
		"/usr/sbin/haproxy", "-Ws", "-f", "/etc/haproxy/haproxy.cfg", "-c", "-q", "-S", "/run/haproxy-master.sock",
	})
	same(t, "second ExecReload", u.ExecReload[1].Argv(env), []string{"/bin/kill", "-USR2", "4242"})
	// The one setting the stand-in leaves out, with where it is written;
	// the commented-out sandboxing lines are comments, not settings.
	same(t, "Ignored", u.Ignored, []Directive{{
		File: "/lib/systemd/system/haproxy.service", Line: 11, Section: "Service",
		Key: "BindReadOnlyPaths", Value: "/dev/log:/var/lib/haproxy/dev/log",
		Reason: "sandboxing is not emulated",
	}})
	same(t, "Ignored[0].String()", u.Ignored[0].String(),
		"/lib/systemd/system/haproxy.service:11: [Service] BindReadOnlyPaths: sandboxing is not emulated")
}

func TestDebianKeepalived(t *testing.T) {
	files := map[string]string{
		"/lib/systemd/system/keepalived.service": "@debian/keepalived.service",
		"/etc/default/keepalived":                "@debian/default-keepalived",
	}
	root := host(t, files)
	u := load(t, root, "keepalived.service")
	same(t, "Conditions", u.Conditions, []Condition{{
		Key: "ConditionFileNotEmpty", Value: "/etc/keepalived/keepalived.conf",
		File: "/lib/systemd/system/keepalived.service", Line: 9,
	}})
	// DAEMON_ARGS="" in /etc/default/keepalived: an empty $DAEMON_ARGS is
	// no word at all, not an empty argument.
	same(t, "argv", argv(t, root, u), []string{"/usr/sbin/keepalived", "--dont-fork"})

	// With no keepalived.conf, or an empty one, systemd skips the start.
	for _, conf := range []*string{nil, new(string)} {
		if conf != nil {
			add(t, root, "/etc/keepalived/keepalived.conf", *conf)
		}
		ok, failed, err := u.CheckConditions(root)
		if err != nil || ok || failed == nil || failed.String() != "ConditionFileNotEmpty=/etc/keepalived/keepalived.conf" || failed.Assert() {
			t.Errorf("CheckConditions with keepalived.conf %v = %v, %v, %v; want a failed ConditionFileNotEmpty", conf, ok, failed, err)
		}
	}
	add(t, root, "/etc/keepalived/keepalived.conf", "global_defs {}\n")
	if ok, failed, err := u.CheckConditions(root); !ok || err != nil {
		t.Errorf("CheckConditions with a keepalived.conf = %v, %v, %v; want ok", ok, failed, err)
	}
}

func TestDebianEtcd(t *testing.T) {
	root := host(t, map[string]string{
		"/lib/systemd/system/etcd.service": "@debian/etcd.service",
		// Enabling the unit links its Alias= into /etc.
		"/etc/systemd/system/etcd2.service": "-> /lib/systemd/system/etcd.service",
		"/etc/default/etcd":                 "DAEMON_ARGS=\"--name %H --listen-client-urls=http://127.0.0.1:2379\"\n",
	})
	u := load(t, root, "etcd2.service")
	same(t, "Name (an alias leads to the unit)", u.Name, "etcd.service")
	same(t, "Aliases", u.Aliases, []string{"etcd2.service"})
	same(t, "User", u.User, "etcd")
	same(t, "Restart", u.Restart, "on-abnormal")
	same(t, "LimitNOFILE", u.LimitNOFILE, &Rlimit{Soft: 65536, Hard: 65536})
	same(t, "Alias", u.Alias, []string{"etcd2.service"})
	// %p is the unit's prefix, "etcd", even when loaded as etcd2.service.
	same(t, "EnvironmentFiles", u.EnvironmentFiles, []EnvFile{{Path: "/etc/default/etcd", Optional: true}})
	if v, _ := envGet(u.Environment, "ETCD_NAME"); v == "" || strings.Contains(v, "%") {
		t.Errorf("ETCD_NAME=%%H gives %q, want the host name", v)
	}
	// The file's DAEMON_ARGS wins over Environment=DAEMON_ARGS=, and a %
	// in an environment file is not a specifier.
	same(t, "argv", argv(t, root, u), []string{"/usr/bin/etcd", "--name", "%H", "--listen-client-urls=http://127.0.0.1:2379"})
	same(t, "ignored", ignoredKeys(u), map[string]string{"PermissionsStartOnly": "not emulated"})
}

// The kubelet of the kubelet package, with kubeadm's drop-in and, for the
// etcd hosts, hagen's.
func TestKubelet(t *testing.T) {
	kubelet := map[string]string{
		"/lib/systemd/system/kubelet.service":                   "@kubelet/kubelet.service",
		"/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": "@kubelet/10-kubeadm.conf",
		"/var/lib/kubelet/kubeadm-flags.env":                    "@kubelet/kubeadm-flags.env",
	}
	t.Run("kubeadm", func(t *testing.T) {
		root := host(t, kubelet)
		u := load(t, root, "kubelet.service")
		same(t, "DropIns", u.DropIns, []string{"/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"})
		same(t, "RestartSec", u.RestartSec, 10*time.Second)
		same(t, "StartLimitInterval (old name, in [Service])", u.StartLimitInterval, time.Duration(0))
		// Each variable standing alone is split into its words; the flags
		// file holds two flags, and the unset KUBELET_EXTRA_ARGS gives no
		// word at all (the kubelet would refuse an empty argument).
		same(t, "argv", argv(t, root, u), []string{
			"/usr/bin/kubelet",
			"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf", "--kubeconfig=/etc/kubernetes/kubelet.conf",
			"--config=/var/lib/kubelet/config.yaml",
			"--node-ip=10.0.0.10", "--hostname-override=x",
		})
	})
	t.Run("extra args", func(t *testing.T) {
		root := host(t, kubelet)
		add(t, root, "/etc/default/kubelet", "KUBELET_EXTRA_ARGS=--v=2\n")
		same(t, "argv", argv(t, root, load(t, root, "kubelet.service"))[6:], []string{"--v=2"})
	})
	t.Run("quoted flags", func(t *testing.T) {
		// kubeadm writes the file with Go's %q. systemd unquotes the
		// file's double quotes (\" and \\ are escapes there), then splits
		// the value with quotes respected and removed and a backslash
		// taking the next character: so a flag with a quoted blank stays
		// one word, and a single backslash disappears. systemd 252 does
		// exactly this.
		root := host(t, kubelet)
		add(t, root, "/var/lib/kubelet/kubeadm-flags.env",
			`KUBELET_KUBEADM_ARGS="--node-labels=\"zone=a b\" --root-dir=C:\\k --node-ip=10.0.0.10"`+"\n")
		same(t, "argv", argv(t, root, load(t, root, "kubelet.service"))[4:], []string{
			"--node-labels=zone=a b", "--root-dir=C:k", "--node-ip=10.0.0.10",
		})
	})
	t.Run("hagen's drop-in", func(t *testing.T) {
		// The RUNBOOK links hagen's file into /etc; the link's absolute
		// target is read under the host's root, not this machine's.
		root := host(t, kubelet)
		add(t, root, "/etc/kubernetes/hagen/kubelet-etcd.conf", "@kubelet/kubelet-etcd.conf")
		add(t, root, "/etc/systemd/system/kubelet.service.d/20-hagen-etcd.conf", "-> /etc/kubernetes/hagen/kubelet-etcd.conf")
		u := load(t, root, "kubelet.service")
		same(t, "DropIns", u.DropIns, []string{
			"/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
			"/etc/systemd/system/kubelet.service.d/20-hagen-etcd.conf",
		})
		// Its empty ExecStart= clears kubeadm's; its own is the only one.
		same(t, "argv", argv(t, root, u), []string{"/usr/bin/kubelet", "--config=/etc/kubernetes/hagen/kubelet-etcd.yaml"})
		same(t, "ExecStart source", fmt.Sprintf("%s:%d", u.ExecStart[0].File, u.ExecStart[0].Line), "/etc/systemd/system/kubelet.service.d/20-hagen-etcd.conf:5")
	})
}

const simple = "[Service]\nExecStart=/bin/true\n"

// Where a unit file is taken from, and which drop-ins apply, in which
// order.
func TestSearchPath(t *testing.T) {
	t.Run("/etc overrides /run overrides /lib", func(t *testing.T) {
		root := host(t, map[string]string{
			"/lib/systemd/system/a.service":           "[Service]\nExecStart=/bin/lib\n",
			"/run/systemd/system/a.service":           "[Service]\nExecStart=/bin/run\n",
			"/etc/systemd/system/a.service":           "[Service]\nExecStart=/bin/etc\n",
			"/lib/systemd/system/b.service":           "[Service]\nExecStart=/bin/lib\n",
			"/run/systemd/system/b.service":           "[Service]\nExecStart=/bin/run\n",
			"/usr/local/lib/systemd/system/c.service": "[Service]\nExecStart=/bin/local\n",
			"/lib/systemd/system/c.service":           "[Service]\nExecStart=/bin/lib\n",
		})
		for name, want := range map[string]string{"a.service": "/bin/etc", "b.service": "/bin/run", "c.service": "/bin/local"} {
			if got := load(t, root, name).ExecStart[0].Path; got != want {
				t.Errorf("%s runs %s, want %s", name, got, want)
			}
		}
	})
	t.Run("drop-ins", func(t *testing.T) {
		root := host(t, map[string]string{
			"/lib/systemd/system/a.service": simple,
			// Sorted by file name across directories ...
			"/lib/systemd/system/a.service.d/10-lib.conf": "[Service]\nExecStartPre=/bin/10-lib\n",
			"/run/systemd/system/a.service.d/20-run.conf": "[Service]\nExecStartPre=/bin/20-run\n",
			"/etc/systemd/system/a.service.d/30-etc.conf": "[Service]\nExecStartPre=/bin/30-etc\n",
			// ... a file in an earlier directory hides one of the same
			// name in a later one ...
			"/etc/systemd/system/a.service.d/40-same.conf": "[Service]\nExecStartPre=/bin/40-etc\n",
			"/lib/systemd/system/a.service.d/40-same.conf": "[Service]\nExecStartPre=/bin/40-lib\n",
			// ... and so does an empty file or a link to /dev/null, which
			// adds nothing ...
			"/etc/systemd/system/a.service.d/50-masked.conf": "-> /dev/null",
			"/lib/systemd/system/a.service.d/50-masked.conf": "[Service]\nExecStartPre=/bin/50-lib\n",
			"/run/systemd/system/a.service.d/60-empty.conf":  "",
			"/lib/systemd/system/a.service.d/60-empty.conf":  "[Service]\nExecStartPre=/bin/60-lib\n",
			// ... files not ending in .conf, or hidden, are not drop-ins ...
			"/etc/systemd/system/a.service.d/70.conf.bak":     "[Service]\nExecStartPre=/bin/bak\n",
			"/etc/systemd/system/a.service.d/.80-hidden.conf": "[Service]\nExecStartPre=/bin/hidden\n",
			// ... and service.d applies to every service, after the
			// unit's own directories for a name they share.
			"/lib/systemd/system/service.d/05-all.conf": "[Service]\nExecStartPre=/bin/05-all\n",
			"/etc/systemd/system/service.d/30-etc.conf": "[Service]\nExecStartPre=/bin/hidden-by-a.service.d\n",
		})
		u := load(t, root, "a.service")
		var pre []string
		for _, c := range u.ExecStartPre {
			pre = append(pre, c.Path)
		}
		same(t, "ExecStartPre, in the order applied", pre, []string{"/bin/05-all", "/bin/10-lib", "/bin/20-run", "/bin/30-etc", "/bin/40-etc"})
		same(t, "DropIns", u.DropIns, []string{
			"/lib/systemd/system/service.d/05-all.conf",
			"/lib/systemd/system/a.service.d/10-lib.conf",
			"/run/systemd/system/a.service.d/20-run.conf",
			"/etc/systemd/system/a.service.d/30-etc.conf",
			"/etc/systemd/system/a.service.d/40-same.conf",
		})
	})
	t.Run("/lib is /usr/lib", func(t *testing.T) {
		// One directory under two names in the search path: its drop-in
		// is applied once.
		root := host(t, map[string]string{
			"/usr/lib/systemd/system/a.service":          simple,
			"/usr/lib/systemd/system/a.service.d/x.conf": "[Service]\nExecStartPre=/bin/once\n",
		})
		u := load(t, root, "a.service")
		same(t, "Path", u.Path, "/lib/systemd/system/a.service")
		same(t, "DropIns", u.DropIns, []string{"/lib/systemd/system/a.service.d/x.conf"})
		same(t, "ExecStartPre count", len(u.ExecStartPre), 1)
	})
	t.Run("dash prefixes", func(t *testing.T) {
		root := host(t, map[string]string{
			"/lib/systemd/system/kube-proxy-x.service":         simple,
			"/etc/systemd/system/kube-.service.d/a.conf":       "[Service]\nExecStartPre=/bin/kube-\n",
			"/etc/systemd/system/kube-proxy-.service.d/b.conf": "[Service]\nExecStartPre=/bin/kube-proxy-\n",
		})
		same(t, "DropIns", load(t, root, "kube-proxy-x.service").DropIns, []string{
			"/etc/systemd/system/kube-.service.d/a.conf",
			"/etc/systemd/system/kube-proxy-.service.d/b.conf",
		})
	})
}

func TestMaskedAndMissing(t *testing.T) {
	root := host(t, map[string]string{
		"/lib/systemd/system/a.service":          simple,
		"/etc/systemd/system/a.service":          "-> /dev/null", // systemctl mask
		"/lib/systemd/system/b.service":          "",             // an empty file masks too
		"/etc/systemd/system/c.service":          "-> /opt/c/c.service",
		"/etc/systemd/system/a.service.d/x.conf": "[Service]\nExecStart=/bin/x\n",
	})
	for _, name := range []string{"a.service", "b.service"} {
		u := load(t, root, name)
		if !u.Masked || len(u.ExecStart) != 0 || len(u.DropIns) != 0 {
			t.Errorf("%s: Masked %v, ExecStart %v, DropIns %v; want masked and nothing else", name, u.Masked, u.ExecStart, u.DropIns)
		}
	}
	for _, name := range []string{"nothere.service", "c.service"} {
		_, err := Load(root, name)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%s) = %v, want a not-found error", name, err)
		}
	}
	// A linked unit file outside the search path is read through the link.
	add(t, root, "/opt/c/c.service", "[Service]\nExecStart=/opt/c/bin/c %y\n")
	u := load(t, root, "c.service")
	same(t, "argv", u.ExecStart[0].Args, []string{"/opt/c/bin/c", "/opt/c/c.service"})
}

func TestAliasDropIns(t *testing.T) {
	root := host(t, map[string]string{
		"/lib/systemd/system/etcd.service":  simple,
		"/etc/systemd/system/etcd2.service": "-> /lib/systemd/system/etcd.service",
		// A drop-in for the alias applies to the unit under either name.
		"/etc/systemd/system/etcd2.service.d/x.conf": "[Service]\nExecStartPre=/bin/x %n\n",
	})
	for _, name := range []string{"etcd.service", "etcd2.service"} {
		u := load(t, root, name)
		same(t, name+" Name", u.Name, "etcd.service")
		same(t, name+" DropIns", u.DropIns, []string{"/etc/systemd/system/etcd2.service.d/x.conf"})
		same(t, name+" ExecStartPre", u.ExecStartPre[0].Args, []string{"/bin/x", "etcd.service"})
	}
}

func TestTemplate(t *testing.T) {
	root := host(t, map[string]string{
		"/lib/systemd/system/getty@.service": "[Service]\nExecStart=/sbin/agetty %I %i %p %n %N %%i\n",
	})
	u := load(t, root, `getty@tty\x2d1.service`)
	same(t, "argv", u.ExecStart[0].Args, []string{"/sbin/agetty", "tty-1", `tty\x2d1`, "getty", `getty@tty\x2d1.service`, `getty@tty\x2d1`, "%i"})
}

// What systemd refuses to load, reported with the file and line at fault.
func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, unit, want string
	}{
		{"unbalanced quote", "[Service]\nExecStart=/bin/echo \"a b\n", "/etc/systemd/system/x.service:2: "},
		{"bad section header", "[Service\nExecStart=/bin/true\n", "/etc/systemd/system/x.service:1: invalid section header"},
		{"not UTF-8", "[Service]\nExecStart=/bin/echo \xff\n", "/etc/systemd/system/x.service:2: line is not valid UTF-8"},
		{"relative path", "[Service]\nExecStart=bin/true\n", "/etc/systemd/system/x.service:2: "},
		{"unknown specifier", "[Service]\nExecStart=/bin/echo %z\n", "unknown specifier %z"},
		{"empty command", "[Service]\nExecStart=-\n", "no ExecStart="},
		{"no command", "[Service]\nType=simple\n", "Service has no ExecStart=, ExecStop=, or SuccessAction="},
		{"two commands", "[Service]\nExecStart=/bin/a\nExecStart=/bin/b\n", "more than one ExecStart="},
		{"two commands on a line", "[Service]\nExecStart=/bin/a ; /bin/b\n", "more than one ExecStart="},
		{"oneshot restarting always", "[Service]\nType=oneshot\nRestart=always\nExecStart=/bin/a\n", "Restart= set to either always or on-success"},
		{"relative WorkingDirectory", "[Service]\nExecStart=/bin/a\nWorkingDirectory=tmp\n", "x.service:3: WorkingDirectory=tmp: path is not absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := host(t, map[string]string{"/etc/systemd/system/x.service": tc.unit})
			_, err := Load(root, "x.service")
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an *Error containing %q", err, tc.want)
			}
		})
	}
}

// What systemd warns about and goes past.
func TestTolerated(t *testing.T) {
	root := host(t, map[string]string{
		"/etc/systemd/system/x.service": `Assignment=outside
[Unit]
Description=tolerated
[X-Vendor]
Anything=goes
[Vendor]
Anything=goes
[Service]
X-Mine=1
Restrat=always
Type=sideways
KillSignal=SIGWHAT
Environment=A=1 9B=2 C=3
# The first word cannot be parsed: the line is dropped, the unit kept.
ExecStartPre="/bin/unbalanced
# With "-", a bad command line is dropped too.
ExecStartPost=-/bin/echo "unbalanced
ExecStart=/bin/echo \d
NoEqualsSign
ConditionPathExists=/x
ConditionPathExists=relative
[Unit]
ConditionPathExists=relative
`,
		"/etc/systemd/system/x.service.d/broken.conf": "[Service]\nExecStartPre=/bin/before\nExecStartPre=/bin/echo \"unbalanced\nExecStartPre=/bin/after\n",
	})
	u := load(t, root, "x.service")
	var got []string
	for _, d := range u.Ignored {
		got = append(got, d.String())
	}
	want := []string{
		"/etc/systemd/system/x.service:1: assignment outside of any section, ignored (as systemd does)",
		"/etc/systemd/system/x.service:6: unknown section [Vendor], ignored with everything in it (as systemd does)",
		`/etc/systemd/system/x.service:10: [Service] Restrat: unknown to systemd 252, which ignores it ("Unknown key name 'Restrat' in section 'Service'")`,
		"/etc/systemd/system/x.service:11: [Service] Type: unknown service type, ignored (as systemd does)",
		"/etc/systemd/system/x.service:12: [Service] KillSignal: unknown signal, ignored (as systemd does)",
		`/etc/systemd/system/x.service:13: [Service] Environment: invalid environment assignment "9B=2", ignored (as systemd does)`,
		`/etc/systemd/system/x.service:15: [Service] ExecStartPre: unbalanced quoting in "\"/bin/unbalanced"; the rest of the line is ignored (as systemd does)`,
		`/etc/systemd/system/x.service:17: [Service] ExecStartPost: unbalanced quoting in "-/bin/echo \"unbalanced"; the rest of the line is ignored, as the command has the "-" prefix (as systemd does)`,
		`/etc/systemd/system/x.service:18: [Service] ExecStart: unknown escape sequence kept verbatim in "\\d" (as systemd does)`,
		"/etc/systemd/system/x.service:19: missing '=', line ignored (as systemd does)",
		`/etc/systemd/system/x.service:20: [Service] ConditionPathExists: unknown to systemd 252, which ignores it ("Unknown key name 'ConditionPathExists' in section 'Service'")`,
		`/etc/systemd/system/x.service:21: [Service] ConditionPathExists: unknown to systemd 252, which ignores it ("Unknown key name 'ConditionPathExists' in section 'Service'")`,
		"/etc/systemd/system/x.service:23: [Unit] ConditionPathExists: path is not absolute, ignored (as systemd does)",
		`/etc/systemd/system/x.service.d/broken.conf:3: ExecStartPre=/bin/echo "unbalanced: unbalanced quoting in "/bin/echo \"unbalanced"; the rest of this drop-in is ignored (as systemd does)`,
	}
	same(t, "Ignored", got, want)
	same(t, "Type (an invalid Type= keeps the default)", u.Type, "simple")
	same(t, "KillSignal", u.KillSignal, syscall.SIGTERM)
	same(t, "Environment", u.Environment, []string{"A=1", "C=3"})
	same(t, "ExecStart", u.ExecStart[0].Args, []string{"/bin/echo", `\d`})
	var pre []string
	for _, c := range u.ExecStartPre {
		pre = append(pre, c.Path)
	}
	same(t, "ExecStartPre (a drop-in stops at its error)", pre, []string{"/bin/before"})
	same(t, "Conditions", len(u.Conditions), 0)
}

// Debian 12's openssh-server unit, which the lab's hosts run for the
// Ansible transport: sshd needs its privilege separation directory,
// /run/sshd, made by RuntimeDirectory=.
func TestDebianSSH(t *testing.T) {
	root := host(t, map[string]string{
		"/lib/systemd/system/ssh.service": "@debian/ssh.service",
		"/etc/default/ssh":                "@debian/default-ssh",
	})
	u := load(t, root, "ssh.service")
	same(t, "Type", u.Type, "notify")
	same(t, "argv (SSHD_OPTS= is no word)", argv(t, root, u), []string{"/usr/sbin/sshd", "-D"})
	same(t, "ExecStartPre", u.ExecStartPre[0].Args, []string{"/usr/sbin/sshd", "-t"})
	same(t, "ExecReload", len(u.ExecReload), 2)
	same(t, "KillMode", u.KillMode, "process")
	same(t, "RuntimeDirectory", u.RuntimeDirectory, []string{"sshd"})
	same(t, "RuntimeDirectoryMode", u.RuntimeDirectoryMode, uint32(0o755))
	same(t, "Alias", u.Alias, []string{"sshd.service"})
}

func TestRuntimeDirectory(t *testing.T) {
	root := host(t, map[string]string{
		"/etc/systemd/system/x.service": `[Service]
ExecStart=/bin/true
RuntimeDirectory=a b/c ./a
RuntimeDirectory=/abs ../up d/../../up
RuntimeDirectoryMode=0700
RuntimeDirectoryMode=999
`,
		"/etc/systemd/system/y.service": "[Service]\nExecStart=/bin/true\nRuntimeDirectory=a\nRuntimeDirectory=\nRuntimeDirectory=z\n",
	})
	u := load(t, root, "x.service")
	same(t, "RuntimeDirectory", u.RuntimeDirectory, []string{"a", "b/c"})
	same(t, "RuntimeDirectoryMode (an invalid one keeps the last valid)", u.RuntimeDirectoryMode, uint32(0o700))
	var got []string
	for _, d := range u.Ignored {
		got = append(got, d.String())
	}
	same(t, "Ignored", got, []string{
		`/etc/systemd/system/x.service:4: [Service] RuntimeDirectory: "/abs" is not a path relative to /run, ignored (as systemd does)`,
		`/etc/systemd/system/x.service:4: [Service] RuntimeDirectory: "../up" is not a path relative to /run, ignored (as systemd does)`,
		`/etc/systemd/system/x.service:4: [Service] RuntimeDirectory: "d/../../up" is not a path relative to /run, ignored (as systemd does)`,
		"/etc/systemd/system/x.service:6: [Service] RuntimeDirectoryMode: not an octal file mode, ignored (as systemd does)",
	})
	same(t, "an empty assignment clears the list", load(t, root, "y.service").RuntimeDirectory, []string{"z"})
}

func TestNice(t *testing.T) {
	root := host(t, map[string]string{
		"/etc/systemd/system/x.service":            "[Service]\nExecStart=/bin/true\nNice=10\nNice=20\n",
		"/etc/systemd/system/x.service.d/lab.conf": "[Service]\nNice=-5\n",
		"/etc/systemd/system/y.service":            "[Service]\nExecStart=/bin/true\n",
	})
	u := load(t, root, "x.service")
	if u.Nice == nil || *u.Nice != -5 {
		t.Errorf("Nice = %v, want -5 (the drop-in's)", u.Nice)
	}
	if len(u.Ignored) != 1 || !strings.Contains(u.Ignored[0].String(), "x.service:4: [Service] Nice: not a nice level") {
		t.Errorf("Ignored = %v, want Nice=20 refused", u.Ignored)
	}
	if n := load(t, root, "y.service").Nice; n != nil {
		t.Errorf("Nice unset = %d, want nil (the manager's)", *n)
	}
}
