package schema

import (
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
)

func TestSchemaCompiles(t *testing.T) {
	if strings.TrimSpace(Source) == "" {
		t.Fatal("the embedded schema is empty")
	}
	ctx := cuecontext.New()
	v := ctx.CompileString(Source, cue.Filename(Filename))
	if err := v.Err(); err != nil {
		t.Fatalf("the embedded schema does not compile: %v", err)
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("the embedded schema is not valid: %v", err)
	}
	def := v.LookupPath(cue.ParsePath(Definition))
	if !def.Exists() {
		t.Fatalf("the schema has no %s", Definition)
	}
	if err := def.Err(); err != nil {
		t.Fatalf("%s: %v", Definition, err)
	}
	if k := def.IncompleteKind(); k != cue.StructKind {
		t.Errorf("%s is a %v, want a struct", Definition, k)
	}
	// The top-level fields of the spec (README, docs/ARCHITECTURE.md), and nothing more.
	want := []string{"name", "kubernetes", "network", "controlPlane", "etcd", "pki", "hosts"}
	var got []string
	it, err := def.Fields(cue.Optional(true))
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		got = append(got, it.Selector().Unquoted())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s has fields %v, want %v", Definition, got, want)
	}
}

// TestSchemaClosed: a definition is closed, so an unknown field is an error.
func TestSchemaClosed(t *testing.T) {
	ctx := cuecontext.New()
	def := ctx.CompileString(Source, cue.Filename(Filename)).LookupPath(cue.ParsePath(Definition))
	data := ctx.CompileString(`nmae: "x"`)
	if err := data.Unify(def).Validate(); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("an unknown field: got %v, want \"field not allowed\"", err)
	}
}
