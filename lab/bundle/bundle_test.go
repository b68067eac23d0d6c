package bundle

import (
	"net/netip"
	"slices"
	"testing"

	hb "github.com/hagen/hagen/render/bundle"
)

// Masters put the manifest's membership order first (a running cluster's
// init host keeps its place whatever its name), then any other by name;
// without a membership, by name.
func TestMasters(t *testing.T) {
	b := &Bundle{Manifest: &hb.Manifest{}}
	for _, n := range []string{"a", "b", "c", "w"} {
		role := RoleControlPlane
		if n == "w" {
			role = RoleWorker
		}
		b.Hosts = append(b.Hosts, Host{Name: n, Roles: []string{role}, Address: netip.MustParseAddr("10.0.0.1")})
	}
	names := func() []string {
		var out []string
		for _, h := range b.Masters() {
			out = append(out, h.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("no membership: %v", got)
	}
	b.Manifest.Membership.ControlPlane = []string{"c", "a"}
	if got := names(); !slices.Equal(got, []string{"c", "a", "b"}) || b.Init().Name != "c" {
		t.Errorf("membership c, a: %v, init %s", got, b.Init().Name)
	}
}
