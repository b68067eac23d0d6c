package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hagen/hagen/internal/golden"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hagen": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar: argv in, stdout, stderr, exit
// status and files out. HAGEN_UPDATE=1 (internal/golden) rewrites the
// files a failing cmp compares against; review the diff.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs("../../../examples")
	if err != nil {
		t.Fatal(err)
	}
	goldenDir, err := filepath.Abs("../../../golden")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       golden.Update(),
		// Scripts vet the real examples under examples/, so that what they
		// pin cannot drift from what ships.
		Setup: func(env *testscript.Env) error {
			if err := os.CopyFS(filepath.Join(env.WorkDir, "examples"), os.DirFS(examples)); err != nil {
				return err
			}
			// The committed test-only secrets of the examples, for output
			// that must not depend on freshly generated keys.
			secrets, err := filepath.Glob(filepath.Join(goldenDir, "*.secrets.yaml"))
			if err != nil || len(secrets) == 0 {
				return fmt.Errorf("no golden secrets in %s (%v)", goldenDir, err)
			}
			for _, p := range secrets {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(filepath.Join(env.WorkDir, "golden"), 0o755); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(env.WorkDir, "golden", filepath.Base(p)), data, 0o600); err != nil {
					return err
				}
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"replace": replaceCmd,
		},
	})
}

// replaceCmd edits a file in place, as an operator edits a spec:
// replace OLD NEW FILE replaces every OLD by NEW, and fails if there is none.
func replaceCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: replace OLD NEW FILE")
	}
	file := ts.MkAbs(args[2])
	data := ts.ReadFile(args[2])
	if !strings.Contains(data, args[0]) {
		ts.Fatalf("%s does not contain %q", args[2], args[0])
	}
	ts.Check(os.WriteFile(file, []byte(strings.ReplaceAll(data, args[0], args[1])), 0o644))
}

const validSpec = `name: "t"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0"}
hosts: {
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"]}
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
}
`

// TestExitCodes pins the exit statuses of the contract (docs/ARCHITECTURE.md), which `! exec` in
// a script cannot tell apart.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write("ok.cue", validSpec)
	okYAML := write("ok.yaml", "name: t\nkubernetes: {version: \"1.35.0\"}\nnetwork: {podSubnet: 10.32.0.0/12}\ncontrolPlane: {loadBalancer: {external: {endpoint: lb:6443}}}\nhosts: {m0: {address: 10.0.0.10, roles: [control-plane]}}\n")
	bad := write("bad.cue", strings.Replace(validSpec, "10.0.0.11/24", "10.0.0.300/24", 1))
	syntax := write("syntax.cue", "name: \"t\n")
	missing := filepath.Join(dir, "missing.cue")

	tests := []struct {
		name   string
		args   []string
		want   int
		stderr string // a phrase stderr must contain; "" for none at all
	}{
		{name: "vet ok", args: []string{"vet", ok}, want: 0},
		{name: "vet ok with warnings", args: []string{"vet", okYAML}, want: 0, stderr: "warning: "},
		{name: "schema", args: []string{"schema"}, want: 0},
		{name: "help", args: []string{"help"}, want: 0},
		{name: "no arguments", args: nil, want: 0},
		{name: "vet help", args: []string{"vet", "--help"}, want: 0},
		{name: "vet bad spec", args: []string{"vet", bad}, want: 1, stderr: "hosts.m1.address: "},
		{name: "vet syntax error", args: []string{"vet", syntax}, want: 1, stderr: "syntax error"},
		{name: "render bad spec", args: []string{"render", bad, "-o", filepath.Join(dir, "out")}, want: 1, stderr: "hosts.m1.address: "},
		{name: "unknown command", args: []string{"frobnicate"}, want: 2, stderr: `unknown command "frobnicate"`},
		{name: "unknown flag", args: []string{"vet", "--bogus", ok}, want: 2, stderr: "flag provided but not defined: -bogus"},
		{name: "unknown flag after the spec", args: []string{"vet", ok, "--bogus"}, want: 2, stderr: "flag provided but not defined: -bogus"},
		{name: "vet without a spec", args: []string{"vet"}, want: 2, stderr: "vet takes exactly one spec file, got 0 arguments"},
		{name: "vet with two specs", args: []string{"vet", ok, ok}, want: 2, stderr: "vet takes exactly one spec file, got 2 arguments"},
		{name: "render without a spec", args: []string{"render", "-o", filepath.Join(dir, "out")}, want: 2, stderr: "render takes exactly one spec file"},
		{name: "vet a missing file", args: []string{"vet", missing}, want: 2, stderr: "does not exist"},
		{name: "render a missing file", args: []string{"render", missing, "-o", filepath.Join(dir, "out")}, want: 2, stderr: "does not exist"},
		{name: "schema with an argument", args: []string{"schema", "x"}, want: 2, stderr: "schema takes no arguments"},
		{name: "render without -o", args: []string{"render", ok}, want: 2, stderr: "render needs -o DIR"},
		{name: "render -o without a value", args: []string{"render", ok, "-o"}, want: 2, stderr: "flag -o needs a value"},
		{name: "help for an unknown command", args: []string{"help", "frobnicate"}, want: 2, stderr: "frobnicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := Main(tc.args, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("hagen %s: exit %d, want %d\nstderr:\n%s", strings.Join(tc.args, " "), got, tc.want, &stderr)
			}
			switch {
			case tc.stderr == "" && stderr.Len() > 0:
				t.Errorf("stderr should be empty, got:\n%s", &stderr)
			case !strings.Contains(stderr.String(), tc.stderr):
				t.Errorf("stderr does not contain %q:\n%s", tc.stderr, &stderr)
			}
			if tc.want != 0 && tc.want != 1 && stdout.Len() > 0 {
				t.Errorf("a usage error printed to stdout:\n%s", &stdout)
			}
		})
	}
}

// TestRenderBadSpecWritesNothing: a spec error stops render before it
// creates the bundle directory or the secrets file.
func TestRenderBadSpecWritesNothing(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "bad.cue")
	if err := os.WriteFile(spec, []byte(strings.Replace(validSpec, `"t"`, `"T"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, secrets := filepath.Join(dir, "out"), filepath.Join(dir, "s.yaml")
	for _, args := range [][]string{
		{"render", spec, "-o", out, "--secrets", secrets},
		{"render", "-o", out, spec},
		{"render", "--tar", spec, "--out=" + out},
	} {
		if code := Main(args, io.Discard, io.Discard); code != 1 {
			t.Errorf("hagen %s: exit %d, want 1", strings.Join(args, " "), code)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("hagen %s: the directory holds %v, want only bad.cue", strings.Join(args, " "), names)
		}
	}
}

func TestHoistFlags(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	tests := []struct {
		in, want string
	}{
		{"render spec.cue -o out --secrets s.yaml", "render -o out --secrets s.yaml -- spec.cue"},
		{"render -o out spec.cue", "render -o out -- spec.cue"},
		{"render spec.cue --out=x", "render --out=x -- spec.cue"},
		{"render spec.cue --out x --tar", "render --out x --tar -- spec.cue"},
		// --tar takes no value: the spec after it stays positional.
		{"render --tar spec.cue -o out", "render --tar -o out -- spec.cue"},
		{"render spec.cue --tar=false -o out", "render --tar=false -o out -- spec.cue"},
		// A value may look like a flag.
		{"render spec.cue -o -out-", "render -o -out- -- spec.cue"},
		// After "--" everything is positional, even what looks like a flag.
		{"render -o out -- -spec.cue", "render -o out -- -spec.cue"},
		{"render -- spec.cue -o out", "render -- spec.cue -o out"},
		{"vet - ", "vet -- -"},
		// Unknown flags stay flags, so urfave/cli reports them.
		{"vet spec.cue --bogus", "vet --bogus -- spec.cue"},
		{"vet spec.cue", "vet -- spec.cue"},
		{"vet", "vet"},
		{"schema", "schema"},
		// Not a command: left alone for the app to report.
		{"frobnicate spec.cue -o out", "frobnicate spec.cue -o out"},
		{"--help", "--help"},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := hoistFlags(app, strings.Fields(tc.in))
		if err != nil {
			t.Errorf("hoistFlags(%q): %v", tc.in, err)
		}
		if want := strings.Fields(tc.want); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("hoistFlags(%q) = %q, want %q", tc.in, got, want)
		}
	}
}
