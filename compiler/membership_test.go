package compiler

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hagen/hagen/compiler/model"
)

// one is base with a single master, m0: where a cluster grows from.
var one = edit(base,
	`m1: {address: "10.0.0.11/24", roles: ["control-plane"]}`+"\n\t", "",
	`m2: {address: "10.0.0.12/24", roles: ["control-plane"]}`+"\n\t", "")

// five is base with two more masters.
var five = edit(base, `w0: {address: "10.0.0.20", roles: ["worker"]}`,
	`m3: {address: "10.0.0.13/24", roles: ["control-plane"]}
	m4: {address: "10.0.0.14/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}`)

// renders compiles each spec in turn, each with the history the one
// before it left, and returns the last plan and its warnings.
func renders(t *testing.T, specs ...string) (*model.Plan, []Warning) {
	t.Helper()
	var h *model.History
	var res *Result
	for i, src := range specs {
		var err error
		res, err = CompileWith("spec.cue", []byte(src), Options{History: h, Cluster: "t"})
		if err != nil {
			t.Fatalf("render %d: %v", i+1, err)
		}
		h = res.Plan.History()
	}
	return res.Plan, res.Warnings
}

// words joins n strings with spaces.
func words(n int, f func(int) string) string {
	s := make([]string, n)
	for i := range s {
		s[i] = f(i)
	}
	return strings.Join(s, " ")
}

// summary is a change in words, for comparison.
func summary(pl *model.Plan) map[string]string {
	e := pl.Etcd
	s := map[string]string{
		"init":   pl.ControlPlane.Init().Name,
		"joined": words(len(e.Joined), func(i int) string { return e.Joined[i].Name }),
	}
	for _, m := range e.Members {
		state := "new"
		if m.Existing {
			state = "existing"
		}
		s[m.Name] = state + " " + m.InitialCluster
	}
	if c := e.Change; c != nil {
		s["added"] = words(len(c.Added), func(i int) string { return c.Added[i].Name })
		s["removed"] = words(len(c.Removed), func(i int) string { return c.Removed[i].Name + "@" + c.Removed[i].Address.String() })
		s["joining"] = words(len(c.Joining), func(i int) string { return c.Joining[i].Name })
		s["leaving"] = words(len(c.Leaving), func(i int) string { return c.Leaving[i].Name + "@" + c.Leaving[i].Address.String() })
		s["anchor"] = c.Anchor.Name
	}
	return s
}

func TestMembershipChanges(t *testing.T) {
	const (
		m0 = "m0=https://10.0.0.10:2380"
		m1 = "m1=https://10.0.0.11:2380"
		m2 = "m2=https://10.0.0.12:2380"
		m3 = "m3=https://10.0.0.13:2380"
		m4 = "m4=https://10.0.0.14:2380"
	)
	noM0 := edit(base, `m0: {address: "10.0.0.10/24", roles: ["control-plane"]}`+"\n\t", "")
	tests := []struct {
		name  string
		specs []string
		want  map[string]string
	}{
		{name: "new cluster", specs: []string{base}, want: map[string]string{
			"init": "m0", "joined": "m0 m1 m2",
			"m0": "new " + m0 + "," + m1 + "," + m2,
			"m1": "new " + m0 + "," + m1 + "," + m2,
			"m2": "new " + m0 + "," + m1 + "," + m2,
		}},
		{name: "unchanged", specs: []string{base, base}, want: map[string]string{
			"init": "m0", "joined": "m0 m1 m2",
			"m0": "new " + m0 + "," + m1 + "," + m2,
			"m1": "new " + m0 + "," + m1 + "," + m2,
			"m2": "new " + m0 + "," + m1 + "," + m2,
		}},
		// Each added member starts with the cluster as it is when it is
		// added: the ones before it and itself.
		{name: "grow from one master", specs: []string{one, base}, want: map[string]string{
			"init": "m0", "joined": "m0 m1 m2",
			"m0":    "new " + m0,
			"m1":    "existing " + m0 + "," + m1,
			"m2":    "existing " + m0 + "," + m1 + "," + m2,
			"added": "m1 m2", "removed": "", "joining": "m1 m2", "leaving": "", "anchor": "m0",
		}},
		// The flags of a member's first start never change after it, and
		// a render of the same spec renders the same change again: a
		// bundle rendered twice before it runs keeps its steps.
		{name: "grow, then render again", specs: []string{one, base, base}, want: map[string]string{
			"init": "m0", "joined": "m0 m1 m2",
			"m0":    "new " + m0,
			"m1":    "existing " + m0 + "," + m1,
			"m2":    "existing " + m0 + "," + m1 + "," + m2,
			"added": "m1 m2", "removed": "", "joining": "m1 m2", "leaving": "", "anchor": "m0",
		}},
		// The next change starts where the last one ended.
		{name: "grow, then grow again", specs: []string{one, base, base, five}, want: map[string]string{
			"init": "m0", "joined": "m0 m1 m2 m3 m4",
			"m0":    "new " + m0,
			"m1":    "existing " + m0 + "," + m1,
			"m2":    "existing " + m0 + "," + m1 + "," + m2,
			"m3":    "existing " + m0 + "," + m1 + "," + m2 + "," + m3,
			"m4":    "existing " + m0 + "," + m1 + "," + m2 + "," + m3 + "," + m4,
			"added": "m3 m4", "removed": "", "joining": "m3 m4", "leaving": "", "anchor": "m0",
		}},
		{name: "grow, then shrink back", specs: []string{base, five, base}, want: map[string]string{
			"init": "m0", "joined": "m0 m1 m2",
			"m0":    "new " + m0 + "," + m1 + "," + m2,
			"m1":    "new " + m0 + "," + m1 + "," + m2,
			"m2":    "new " + m0 + "," + m1 + "," + m2,
			"added": "", "removed": "m3@10.0.0.13 m4@10.0.0.14", "joining": "", "leaving": "m3@10.0.0.13 m4@10.0.0.14", "anchor": "m0",
		}},
		{name: "grow three to five", specs: []string{base, five}, want: map[string]string{
			"init": "m0", "joined": "m0 m1 m2 m3 m4",
			"m0":    "new " + m0 + "," + m1 + "," + m2,
			"m3":    "existing " + m0 + "," + m1 + "," + m2 + "," + m3,
			"m4":    "existing " + m0 + "," + m1 + "," + m2 + "," + m3 + "," + m4,
			"m1":    "new " + m0 + "," + m1 + "," + m2,
			"m2":    "new " + m0 + "," + m1 + "," + m2,
			"added": "m3 m4", "removed": "", "joining": "m3 m4", "leaving": "", "anchor": "m0",
		}},
		// The master that ran kubeadm init goes: the next one that stays
		// takes its part (keepalived's MASTER, the anchor).
		{name: "remove the init master", specs: []string{base, noM0}, want: map[string]string{
			"init": "m1", "joined": "m1 m2",
			"m1":    "new " + m0 + "," + m1 + "," + m2,
			"m2":    "new " + m0 + "," + m1 + "," + m2,
			"added": "", "removed": "m0@10.0.0.10", "joining": "", "leaving": "m0@10.0.0.10", "anchor": "m1",
		}},
		// The init host stays the init host when a name sorts before it.
		{name: "a new first name", specs: []string{noM0, base}, want: map[string]string{
			"init": "m1", "joined": "m1 m2 m0",
			"m1":    "new " + m1 + "," + m2,
			"m2":    "new " + m1 + "," + m2,
			"m0":    "existing " + m1 + "," + m2 + "," + m0,
			"added": "m0", "removed": "", "joining": "m0", "leaving": "", "anchor": "m1",
		}},
		// Additions come before removals: m3 joins a cluster that m0 is
		// still part of.
		{name: "replace in one render", specs: []string{base, edit(noM0, `w0:`, `m3: {address: "10.0.0.13/24", roles: ["control-plane"]}
	w0:`)}, want: map[string]string{
			"init": "m1", "joined": "m1 m2 m3",
			"m1":    "new " + m0 + "," + m1 + "," + m2,
			"m2":    "new " + m0 + "," + m1 + "," + m2,
			"m3":    "existing " + m0 + "," + m1 + "," + m2 + "," + m3,
			"added": "m3", "removed": "m0@10.0.0.10", "joining": "m3", "leaving": "m0@10.0.0.10", "anchor": "m1",
		}},
		{name: "replace over two renders", specs: []string{base, noM0, edit(noM0, `w0:`, `m3: {address: "10.0.0.13/24", roles: ["control-plane"]}
	w0:`)}, want: map[string]string{
			"init": "m1", "joined": "m1 m2 m3",
			"m1":    "new " + m0 + "," + m1 + "," + m2,
			"m2":    "new " + m0 + "," + m1 + "," + m2,
			"m3":    "existing " + m1 + "," + m2 + "," + m3,
			"added": "m3", "removed": "", "joining": "m3", "leaving": "", "anchor": "m1",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pl, _ := renders(t, tc.specs...)
			if diff := cmp.Diff(tc.want, summary(pl)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMembershipExternal(t *testing.T) {
	ext := base + `etcd: topology: "external"
hosts: e0: {address: "10.0.0.30", roles: ["etcd"]}
hosts: e1: {address: "10.0.0.31", roles: ["etcd"]}
hosts: e2: {address: "10.0.0.32", roles: ["etcd"]}
`
	grown := ext + `hosts: e3: {address: "10.0.0.33", roles: ["etcd"]}
hosts: e4: {address: "10.0.0.34", roles: ["etcd"]}
`
	pl, _ := renders(t, ext, grown)
	got := summary(pl)
	for k, want := range map[string]string{
		"added": "e3 e4", "joining": "", "anchor": "e0",
		"e4": "existing e0=https://10.0.0.30:2380,e1=https://10.0.0.31:2380,e2=https://10.0.0.32:2380,e3=https://10.0.0.33:2380,e4=https://10.0.0.34:2380",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	// Masters change without touching etcd.
	pl, _ = renders(t, ext, edit(ext, `m2: {address: "10.0.0.12/24", roles: ["control-plane"]}`+"\n\t", ""))
	got = summary(pl)
	if got["added"]+got["removed"] != "" || got["leaving"] != "m2@10.0.0.12" {
		t.Errorf("removing a master of an external-etcd cluster: %v", got)
	}
}

func TestMembershipRefused(t *testing.T) {
	other := edit(base,
		`m0: {address: "10.0.0.10/24", roles: ["control-plane"]}`, `n0: {address: "10.0.0.40/24", roles: ["control-plane"]}`,
		`m1: {address: "10.0.0.11/24", roles: ["control-plane"]}`, `n1: {address: "10.0.0.41/24", roles: ["control-plane"]}`,
		`m2: {address: "10.0.0.12/24", roles: ["control-plane"]}`, `n2: {address: "10.0.0.42/24", roles: ["control-plane"]}`)
	old := edit(one, `"1.35.0"`, `"1.10.13"`)
	tests := []struct {
		name       string
		last, next string
		want       []string // "path|phrase"
	}{
		{name: "no master stays", last: base, next: other, want: []string{
			"hosts|none of the control-plane hosts of the running cluster (m0, m1, m2) stays",
			"hosts.n0|no etcd member of the running cluster (m0, m1, m2) stays",
		}},
		{name: "kubeadm 1.10 grows", last: old, next: edit(base, `"1.35.0"`, `"1.10.13"`), want: []string{
			"kubernetes.version|kubeadm 1.10.13 cannot change the membership of a running cluster",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Compile("spec.cue", []byte(tc.last))
			if err != nil {
				t.Fatal(err)
			}
			_, err = CompileWith("spec.cue", []byte(tc.next), Options{History: res.Plan.History(), Cluster: "t"})
			ce, ok := err.(Error)
			if !ok {
				t.Fatalf("got %v, want a spec error", err)
			}
			var got []string
			for _, pr := range ce {
				got = append(got, pr.Path.String()+"|"+pr.Msg)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got problems\n%s\nwant %d", strings.Join(got, "\n"), len(tc.want))
			}
			for i, w := range tc.want {
				path, phrase, _ := strings.Cut(w, "|")
				if !strings.HasPrefix(got[i], path+"|") || !strings.Contains(got[i], phrase) {
					t.Errorf("problem %d = %q, want %s at %s", i, got[i], phrase, path)
				}
			}
		})
	}
}

func TestMembershipWarnings(t *testing.T) {
	noM2 := edit(base, `m2: {address: "10.0.0.12/24", roles: ["control-plane"]}`+"\n\t", "")
	_, warns := renders(t, base, noM2)
	var got []string
	for _, w := range warns {
		got = append(got, w.Path.String()+"|"+w.Msg)
	}
	want := "this change leaves 2 etcd members: losing m0 loses the cluster's data"
	if !strings.Contains(strings.Join(got, "\n"), want) {
		t.Errorf("warnings\n%s\nlack %q", strings.Join(got, "\n"), want)
	}
	moved := edit(base, `"10.0.0.12/24"`, `"10.0.0.22/24"`)
	_, warns = renders(t, base, moved)
	got = nil
	for _, w := range warns {
		got = append(got, w.Path.String()+"|"+w.Msg)
	}
	want = "hosts.m2.address|etcd member m2 was at https://10.0.0.12:2380"
	if !strings.Contains(strings.Join(got, "\n"), want) {
		t.Errorf("warnings\n%s\nlack %q", strings.Join(got, "\n"), want)
	}
}

// TestHistoryOfAnotherCluster: a secrets file of another cluster is
// refused at the spec's name, and its history is not used.
func TestHistoryOfAnotherCluster(t *testing.T) {
	res, err := Compile("spec.cue", []byte(one))
	if err != nil {
		t.Fatal(err)
	}
	_, err = CompileWith("spec.cue", []byte(base), Options{History: res.Plan.History(), Cluster: "other", Secrets: "s.yaml"})
	want := `name: the spec is cluster "t", but s.yaml is cluster "other"'s: pass the right --secrets file (spec.cue:1:1)`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
