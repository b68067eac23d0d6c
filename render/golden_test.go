package render_test

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
)

var update = flag.Bool("update", os.Getenv("HAGEN_UPDATE") == "1", "rewrite golden/ from the examples")

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
	if old == nil && !*update {
		t.Fatalf("%s is missing: run `go test ./render/ -update` to create it", secretsPath)
	}
	issued, err := (&pki.Issuer{Now: func() time.Time { return goldenClock }}).Ensure(res.Plan, old)
	if err != nil {
		t.Fatal(err)
	}
	if old != nil && len(issued.Reissued) > 0 && !*update {
		t.Fatalf("%s: the committed secrets no longer fit the example (%+v): run `go test ./render/ -update` and review git diff golden/", spec, issued.Reissued)
	}
	if *update {
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
			dir := filepath.Join(goldenDir, name)
			if *update {
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
				t.Errorf("the render of %s differs from golden/%s:\n  %s\nIf the change is intended, run `go test ./... -update` (or HAGEN_UPDATE=1 go test ./render/) and review `git diff golden/` as you would code.",
					spec, name, strings.Join(problems, "\n  "))
			}
		})
	}
}

// TestRenderIsDeterministic: the same plan and secrets give the same bytes.
func TestRenderIsDeterministic(t *testing.T) {
	for _, spec := range examples(t) {
		b1, s := renderExample(t, spec)
		src, _ := os.ReadFile(spec)
		res, err := compiler.Compile(spec, src)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := render.Render(res.Plan, s)
		if err != nil {
			t.Fatal(err)
		}
		f1, f2 := b1.Files(), b2.Files()
		if len(f1) != len(f2) {
			t.Fatalf("%s: %d files, then %d", spec, len(f1), len(f2))
		}
		for i := range f1 {
			if f1[i].BundlePath() != f2[i].BundlePath() || !bytes.Equal(f1[i].Data, f2[i].Data) || f1[i].Mode != f2[i].Mode {
				t.Errorf("%s: %s differs between two renders", spec, f1[i].BundlePath())
			}
		}
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
		t.Fatalf("reading %s: %v (run `go test ./render/ -update` to create it)", dir, err)
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
