package unit

import (
	"testing"
	"time"
)

// Unit file syntax, systemd.syntax(7). Each unit was also loaded by
// systemd 252, which ran the same argv.
func TestSyntax(t *testing.T) {
	for _, tc := range []struct {
		name, unit string
		want       []string
	}{{
		name: "a trailing backslash joins lines, the next line's blanks kept",
		unit: "[Service]\nExecStart=/bin/echo one \\\n   two\\\nthree\n",
		want: []string{"/bin/echo", "one", "two", "three"},
	}, {
		name: "comments inside a continued line are skipped, the line goes on",
		unit: "[Service]\nExecStart=/bin/echo one \\\n# comment\n  ; another\n   two\n",
		want: []string{"/bin/echo", "one", "two"},
	}, {
		name: "an escaped backslash at the end does not continue",
		unit: "[Service]\nExecStart=/bin/echo one \\\\\nExecStartPre=/bin/true\n",
		want: []string{"/bin/echo", "one", `\`},
	}, {
		name: "a continuation at the end of the file",
		unit: "[Service]\nExecStart=/bin/echo last\\",
		want: []string{"/bin/echo", "last"},
	}, {
		name: "CRLF, a byte order mark, blanks around =",
		unit: "\ufeff[Service]\r\nEnvironment = \"A=1\" \r\nExecStart = /bin/echo $A\r\n",
		want: []string{"/bin/echo", "1"},
	}, {
		name: "a later section of the same name adds to it",
		unit: "[Service]\nEnvironment=A=1\n[Unit]\nDescription=x\n[Service]\nExecStart=/bin/echo $A\n",
		want: []string{"/bin/echo", "1"},
	}, {
		name: "keys are case-sensitive: execstart is not ExecStart",
		unit: "[Service]\nexecstart=/bin/false\nExecStart=/bin/true\n",
		want: []string{"/bin/true"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			root := host(t, map[string]string{"/etc/systemd/system/x.service": tc.unit})
			same(t, "argv", argv(t, root, load(t, root, "x.service")), tc.want)
		})
	}
}

func TestDescriptionContinued(t *testing.T) {
	// The joined line keeps the blanks of both parts, the backslash
	// becoming one more.
	root := host(t, map[string]string{"/etc/systemd/system/x.service": "[Unit]\nDescription=a \\\n  b %n %%\n[Service]\nExecStart=/bin/true\n"})
	same(t, "Description", load(t, root, "x.service").Description, "a    b x.service %")
}

func TestDefaults(t *testing.T) {
	root := host(t, map[string]string{
		"/etc/systemd/system/simple.service":  "[Service]\nExecStart=/bin/true\n",
		"/etc/systemd/system/oneshot.service": "[Service]\nType=oneshot\nExecStart=/bin/a\nExecStart=/bin/b\nRestart=on-failure\nTimeoutSec=0\n",
		"/etc/systemd/system/noexec.service":  "[Service]\nRemainAfterExit=yes\nExecStop=/bin/stop\n",
	})
	u := load(t, root, "simple.service")
	same(t, "Type", u.Type, "simple")
	same(t, "Restart", u.Restart, "no")
	same(t, "RestartSec", u.RestartSec, DefaultRestartSec)
	same(t, "TimeoutStartSec", u.TimeoutStartSec, DefaultTimeout)
	same(t, "KillMode", u.KillMode, "control-group")
	same(t, "StartLimit", []any{u.StartLimitInterval, u.StartLimitBurst}, []any{DefaultStartLimitInterval, DefaultStartLimitBurst})

	u = load(t, root, "oneshot.service")
	same(t, "oneshot commands", len(u.ExecStart), 2)
	same(t, "oneshot TimeoutSec=0", []time.Duration{u.TimeoutStartSec, u.TimeoutStopSec}, []time.Duration{Infinity, Infinity})

	// No ExecStart= at all makes a oneshot, and a oneshot needs none if it
	// remains after exit; its start timeout is off by default.
	u = load(t, root, "noexec.service")
	same(t, "Type", u.Type, "oneshot")
	same(t, "TimeoutStartSec", u.TimeoutStartSec, Infinity)
}
