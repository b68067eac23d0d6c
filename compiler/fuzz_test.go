package compiler

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzCompile: whatever the bytes, Compile returns a plan or an Error (a
// clean exit 1 naming a position), never a panic or another error.
func fuzzCompile(f *testing.F, name string, seeds ...string) {
	f.Helper()
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		res, err := Compile(name, src)
		if err == nil {
			if res == nil || res.Plan == nil || len(res.Plan.ControlPlane.Hosts) == 0 {
				t.Fatalf("no error and no usable plan for %q", src)
			}
			return
		}
		var e Error
		if !errors.As(err, &e) || len(e) == 0 {
			t.Fatalf("error of type %T, want compiler.Error: %v", err, err)
		}
	})
}

func examplesWith(f *testing.F, ext string) []string {
	matches, _ := filepath.Glob("../examples/*" + ext)
	var out []string
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func FuzzCompileCUE(f *testing.F) {
	fuzzCompile(f, "fuzz.cue", append(examplesWith(f, ".cue"),
		`name: "x"`, `hosts: m0: {}`, `{`, `name: 1 & 2`, `import "strings"
name: strings.ToLower("X")`)...)
}

func FuzzCompileYAML(f *testing.F) {
	fuzzCompile(f, "fuzz.yaml", append(examplesWith(f, ".yaml"),
		"name: x\nname: y\n", "- a\n", "---\n---\n", "a: &x [*x]\n", "hosts: {m0: {address: 1.2.3.4/33}}\n")...)
}
