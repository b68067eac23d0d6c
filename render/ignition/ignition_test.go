package ignition_test

import (
	"slices"
	"strings"
	"testing"

	ignconfig "github.com/coreos/ignition/v2/config/v3_4"
	"github.com/google/go-cmp/cmp"

	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/ignition"
)

// renderExample renders examples/<name> with the Ignition configs.
func renderExample(t *testing.T, name string) (*bundle.Bundle, []string) {
	t.Helper()
	plan := testplan.Example(t, name)
	b, err := render.RenderWith(plan, testplan.Secrets(t, plan), render.Options{Ignition: true})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, h := range plan.Hosts {
		hosts = append(hosts, h.Name)
	}
	return b, hosts
}

// TestConfigs: every host's config parses with Ignition's own parser
// without a warning, is secret, and lays exactly the host's files; the
// load balancers' units are enabled on the masters, nothing else is.
func TestConfigs(t *testing.T) {
	b, hosts := renderExample(t, "external-etcd-haproxy.cue")
	for _, h := range hosts {
		f, ok := b.Get(ignition.Path(h))
		if !ok {
			t.Fatalf("no %s", ignition.Path(h))
		}
		if f.Mode != bundle.ModeSecret {
			t.Errorf("%s: mode %v, want 0600: it holds the host's keys", f.Path, f.Mode)
		}
		_, report, err := ignconfig.Parse(f.Data)
		if err != nil || len(report.Entries) > 0 {
			t.Fatalf("%s: Ignition refuses it: %v %s", f.Path, err, report)
		}
		files, enabled, err := ignition.Decode(f.Data)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(files, func(a, b bundle.File) int { return strings.Compare(a.Path, b.Path) })
		want := b.HostFiles(h)
		for i := range want {
			if want[i].Owner == "" {
				want[i].Owner = "root"
			}
			want[i].Host = ""
		}
		if d := cmp.Diff(want, files); d != "" {
			t.Errorf("%s lays other files than hosts/%s (-want +got):\n%s", f.Path, h, d)
		}
		wantEnabled := []string(nil)
		if strings.HasPrefix(h, "master") {
			wantEnabled = []string{"haproxy.service", "keepalived.service"}
		}
		if !slices.Equal(enabled, wantEnabled) {
			t.Errorf("%s enables %v, want %v", f.Path, enabled, wantEnabled)
		}
	}
}

// TestBootStepsIgnitionCannotSay: a boot step that runs anything but
// systemctl, or restarts a unit it does not enable, is refused rather
// than dropped.
func TestBootStepsIgnitionCannotSay(t *testing.T) {
	for _, tc := range []struct {
		cmds []string
		want string
	}{
		{[]string{"systemctl enable keepalived", "/usr/local/sbin/hagen-bootstrap-token"}, "not a systemctl verb"},
		{[]string{"systemctl reload-or-restart keepalived"}, "does not enable"},
		{[]string{"systemctl enable keepalived", "systemctl mask haproxy"}, "cannot say systemctl mask"},
	} {
		steps := []bundle.Step{{Name: "s", Hosts: []string{"m0"}, Boot: true, Commands: tc.cmds}}
		_, err := ignition.Host("m0", nil, steps)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error saying %q", tc.cmds, err, tc.want)
		}
	}
}
