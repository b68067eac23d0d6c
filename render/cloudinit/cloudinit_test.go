package cloudinit_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/cloudinit"
)

// TestUserData: every host's user-data is secret, lays exactly the host's
// files with their modes and owners, and runs the boot steps (the load
// balancers) on the masters only.
func TestUserData(t *testing.T) {
	plan := testplan.Example(t, "stacked-keepalived.cue")
	b, err := render.RenderWith(plan, testplan.Secrets(t, plan), render.Options{CloudInit: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range plan.Hosts {
		f, ok := b.Get(cloudinit.Path(h.Name))
		if !ok {
			t.Fatalf("no %s", cloudinit.Path(h.Name))
		}
		if f.Mode != bundle.ModeSecret {
			t.Errorf("%s: mode %v, want 0600: it holds the host's keys", f.Path, f.Mode)
		}
		files, runcmd, err := cloudinit.Decode(f.Data)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(files, func(a, b bundle.File) int { return strings.Compare(a.Path, b.Path) })
		want := b.HostFiles(h.Name)
		for i := range want {
			want[i].Host = ""
		}
		if d := cmp.Diff(want, files); d != "" {
			t.Errorf("%s lays other files than hosts/%s (-want +got):\n%s", f.Path, h.Name, d)
		}
		var wantCmd []string
		if h.Has(model.RoleControlPlane) {
			wantCmd = []string{"systemctl enable keepalived", "systemctl reload-or-restart keepalived"}
		}
		if !slices.Equal(runcmd, wantCmd) {
			t.Errorf("%s runs %q, want %q", f.Path, runcmd, wantCmd)
		}
	}
}
