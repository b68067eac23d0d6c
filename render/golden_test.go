package render_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/internal/golden"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
)

// goldenClock is the fixed "now" of the golden renders: the committed
// test-only secrets are never due for renewal at this instant.
var goldenClock = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

const goldenDir = "../golden"

func examples(t *testing.T) []string {
	t.Helper()
	var specs []string
	for _, pat := range []string{"../examples/*.cue", "../examples/*.yaml", "../examples/*.json"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, m...)
	}
	slices.Sort(specs)
	if len(specs) == 0 {
		t.Fatal("no examples found")
	}
	return specs
}

// renderExample renders spec with its committed test-only secrets.
func renderExample(t *testing.T, spec string) (*bundle.Bundle, *pki.Secrets) {
	t.Helper()
	name := strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec))
	src, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compiler.Compile(spec, src)
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	secretsPath := filepath.Join(goldenDir, name+".secrets.yaml")
	old, err := pki.LoadSecrets(secretsPath, res.Plan.Name)
	if err != nil {
		t.Fatal(err)
	}
	if old == nil && !golden.Update() {
		t.Fatalf("%s is missing: run %s to create it", secretsPath, golden.Command)
	}
	issued, err := (&pki.Issuer{Now: func() time.Time { return goldenClock }}).Ensure(res.Plan, old)
	if err != nil {
		t.Fatal(err)
	}
	if old != nil && len(issued.Reissued) > 0 && !golden.Update() {
		t.Fatalf("%s: the committed secrets no longer fit the example (%+v): run %s", spec, issued.Reissued, golden.Command)
	}
	if golden.Update() {
		data, err := issued.Secrets.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		header := []byte("# TEST ONLY: the golden secrets of examples/" + filepath.Base(spec) + ".\n# Published in the repository: NEVER use these keys for a real cluster.\n")
		if err := os.WriteFile(secretsPath, append(header, data...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := render.Render(res.Plan, issued.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	return b, issued.Secrets
}

// TestGolden renders every example and compares it, byte for byte, with
// golden/<example>/. Modes are pinned by MANIFEST.json's bytes (git keeps
// only 0644 and 0755).
func TestGolden(t *testing.T) {
	for _, spec := range examples(t) {
		name := strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec))
		t.Run(name, func(t *testing.T) {
			b, _ := renderExample(t, spec)
			matchGolden(t, spec, name, b)
		})
	}
}

// matchGolden compares bundle b, rendered from spec, with golden/<name>/,
// or writes it there under the golden switch.
func matchGolden(t *testing.T, spec, name string, b *bundle.Bundle) {
	t.Helper()
	dir := filepath.Join(goldenDir, name)
	if golden.Update() {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := bundle.Write(dir, b, false); err != nil {
			t.Fatal(err)
		}
		return
	}
	got := map[string][]byte{}
	for _, f := range b.Files() {
		got[f.BundlePath()] = f.Data
	}
	want := readTree(t, dir)
	var problems []string
	for p, data := range got {
		w, ok := want[p]
		switch {
		case !ok:
			problems = append(problems, "new file "+p)
		case !bytes.Equal(w, data):
			problems = append(problems, "changed "+p+firstDiff(w, data))
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			problems = append(problems, "missing "+p)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Errorf("the render of %s differs from golden/%s:\n  %s\nIf the change is intended, run %s golden/ as you would code.",
			spec, name, strings.Join(problems, "\n  "), golden.Command)
	}
}

// sequences are the example directories whose specs, in name order, are
// renders of one cluster over time (examples/grow/).
func sequences(t *testing.T) map[string][]string {
	t.Helper()
	dirs, err := filepath.Glob("../examples/*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue
		}
		specs, err := filepath.Glob(filepath.Join(d, "*.cue"))
		if err != nil {
			t.Fatal(err)
		}
		if len(specs) > 0 {
			slices.Sort(specs)
			out[filepath.Base(d)] = specs
		}
	}
	if len(out) == 0 {
		t.Fatal("no example sequences found")
	}
	return out
}

// compileWith compiles spec against the history in s (nil: a new cluster).
func compileWith(t *testing.T, spec string, s *pki.Secrets) *compiler.Result {
	t.Helper()
	src, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	var opts compiler.Options
	if s != nil {
		opts = compiler.Options{History: s.History, Cluster: s.Cluster}
	}
	res, err := compiler.CompileWith(spec, src, opts)
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	return res
}

// renderSequence renders the last spec of a sequence from the committed
// golden/<name>.secrets.yaml, whose history is the renders before it. The
// golden switch makes that file, when it is missing, by rendering every
// spec in turn with one secrets file (TestSequenceFromScratch proves that
// this history is what the renders leave).
func renderSequence(t *testing.T, name string, specs []string) *bundle.Bundle {
	t.Helper()
	secretsPath := filepath.Join(goldenDir, name+".secrets.yaml")
	s, err := pki.ReadSecrets(secretsPath)
	if err != nil {
		t.Fatal(err)
	}
	is := &pki.Issuer{Now: func() time.Time { return goldenClock }}
	if s == nil {
		if !golden.Update() {
			t.Fatalf("%s is missing: run %s to create it", secretsPath, golden.Command)
		}
		for _, spec := range specs {
			issued, err := is.Ensure(compileWith(t, spec, s).Plan, s)
			if err != nil {
				t.Fatal(err)
			}
			s = issued.Secrets
		}
		data, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		header := []byte("# TEST ONLY: the golden secrets of examples/" + name + "/, after its last render.\n# Published in the repository: NEVER use these keys for a real cluster.\n")
		if err := os.WriteFile(secretsPath, append(header, data...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	last := specs[len(specs)-1]
	res := compileWith(t, last, s)
	issued, err := is.Ensure(res.Plan, s)
	if err != nil {
		t.Fatal(err)
	}
	if issued.Changed {
		t.Fatalf("%s no longer fits %s (re-issued %+v): delete it and run %s", secretsPath, last, issued.Reissued, golden.Command)
	}
	b, err := render.Render(res.Plan, issued.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenSequences renders the last spec of every example sequence as
// a change of the cluster its earlier specs made, and compares it with
// golden/<sequence>/.
func TestGoldenSequences(t *testing.T) {
	for name, specs := range sequences(t) {
		t.Run(name, func(t *testing.T) {
			matchGolden(t, specs[len(specs)-1], name, renderSequence(t, name, specs))
		})
	}
}

// TestSequenceFromScratch renders every sequence from nothing, spec by
// spec with one fresh secrets file, and checks that the last render plans
// the steps the golden one has: the committed history is the one these
// renders leave.
func TestSequenceFromScratch(t *testing.T) {
	for name, specs := range sequences(t) {
		t.Run(name, func(t *testing.T) {
			var s *pki.Secrets
			var res *compiler.Result
			for _, spec := range specs {
				res = compileWith(t, spec, s)
				issued, err := (&pki.Issuer{Now: func() time.Time { return goldenClock }}).Ensure(res.Plan, s)
				if err != nil {
					t.Fatal(err)
				}
				s = issued.Secrets
			}
			b, err := render.Render(res.Plan, s)
			if err != nil {
				t.Fatal(err)
			}
			mf, _ := b.Get(bundle.ManifestName)
			var fresh, committed bundle.Manifest
			if err := json.Unmarshal(mf.Data, &fresh); err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(goldenDir, name, bundle.ManifestName))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(want, &committed); err != nil {
				t.Fatal(err)
			}
			if len(fresh.Membership.Change) == 0 {
				t.Errorf("the last render of examples/%s/ plans no change of membership", name)
			}
			if !reflect.DeepEqual(fresh.Steps, committed.Steps) || !reflect.DeepEqual(fresh.Membership, committed.Membership) {
				t.Errorf("rendering examples/%s/ from scratch plans other steps than golden/%s", name, name)
			}
		})
	}
}

// childEnv makes the test binary a renderer (see TestMain): it renders the
// example named by the variable into the directory that follows a colon.
const childEnv = "HAGEN_RENDER_CHILD"

func TestMain(m *testing.M) {
	if job := os.Getenv(childEnv); job != "" {
		os.Exit(renderChild(job))
	}
	os.Exit(m.Run())
}

// renderChild renders an example with its golden secrets into a directory,
// in a process of its own.
func renderChild(job string) int {
	spec, out, _ := strings.Cut(job, ":")
	name := strings.TrimSuffix(filepath.Base(spec), filepath.Ext(spec))
	src, err := os.ReadFile(spec)
	if err == nil {
		var res *compiler.Result
		if res, err = compiler.Compile(spec, src); err == nil {
			var s *pki.Secrets
			if s, err = pki.LoadSecrets(filepath.Join(goldenDir, name+".secrets.yaml"), res.Plan.Name); err == nil {
				var issued *pki.Result
				if issued, err = (&pki.Issuer{Now: func() time.Time { return goldenClock }}).Ensure(res.Plan, s); err == nil {
					var b *bundle.Bundle
					if b, err = render.RenderWith(res.Plan, issued.Secrets, render.Options{Tarballs: true}); err == nil {
						err = bundle.Write(out, b, false)
					}
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestRenderIsDeterministic renders every example (tarballs included) in
// two other processes, one on a single CPU and one on every CPU: their map
// iteration orders, hash seeds and goroutine schedules differ, so any
// output that depends on them shows as a difference, byte or mode.
func TestRenderIsDeterministic(t *testing.T) {
	for _, spec := range examples(t) {
		t.Run(filepath.Base(spec), func(t *testing.T) {
			var trees [2]map[string][]byte
			for i, procs := range []string{"1", "4"} {
				out := filepath.Join(t.TempDir(), "out")
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"="+spec+":"+out, "GOMAXPROCS="+procs)
				if msg, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("render in a child process: %v\n%s", err, msg)
				}
				trees[i] = readTree(t, out)
			}
			if len(trees[0]) != len(trees[1]) {
				t.Fatalf("%d files, then %d", len(trees[0]), len(trees[1]))
			}
			for p, data := range trees[0] {
				if !bytes.Equal(data, trees[1][p]) {
					t.Errorf("%s differs between two renders%s", p, firstDiff(data, trees[1][p]))
				}
			}
		})
	}
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatalf("reading %s: %v (run %s to create it)", dir, err, golden.Command)
	}
	return files
}

// firstDiff names the first differing line, to make a failure readable.
func firstDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf(" (line %d: want %q, got %q)", i+1, a, b)
		}
	}
	return ""
}
