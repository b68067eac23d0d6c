package compiler

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"github.com/hagen/hagen/schema"
)

// schemaFields lists every field path #Cluster defines, optional ones
// included; a pattern constraint ([string]: #Host) is the path element "*".
func schemaFields(t *testing.T) []string {
	t.Helper()
	def := cuecontext.New().CompileString(schema.Source, cue.Filename(schema.Filename)).
		LookupPath(cue.ParsePath(schema.Definition))
	if err := def.Err(); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v cue.Value, path string)
	walk = func(v cue.Value, path string) {
		if path != "" {
			out = append(out, path)
		}
		if v.IncompleteKind() != cue.StructKind {
			return
		}
		prefix := path
		if prefix != "" {
			prefix += "."
		}
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for it.Next() {
			walk(it.Value(), prefix+it.Selector().Unquoted())
		}
		if elem := v.LookupPath(cue.MakePath(cue.AnyString)); elem.Exists() {
			walk(elem, prefix+"*")
		}
	}
	walk(def, "")
	slices.Sort(out)
	return out
}

// structFields lists every field path of a Go type by its json tags; a map
// contributes its element type under "*".
func structFields(typ reflect.Type, path string, out *[]string) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	prefix := path
	if prefix != "" {
		prefix += "."
	}
	switch typ.Kind() {
	case reflect.Map:
		*out = append(*out, prefix+"*")
		structFields(typ.Elem(), prefix+"*", out)
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			*out = append(*out, prefix+name)
			structFields(f.Type, prefix+name, out)
		}
	}
}

// TestSpecMirrorsSchema: compiler/spec.go mirrors #Cluster by hand, and
// Decode silently drops a field the struct lacks. Every field of the schema
// must be in the struct, and nothing else.
func TestSpecMirrorsSchema(t *testing.T) {
	want := schemaFields(t)
	var got []string
	structFields(reflect.TypeOf(spec{}), "", &got)
	slices.Sort(got)
	for _, f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("the schema has %s; compiler's spec struct lacks it (Decode would drop it)", f)
		}
	}
	for _, f := range got {
		if !slices.Contains(want, f) {
			t.Errorf("compiler's spec struct has %s; the schema does not", f)
		}
	}
	if len(want) < 30 {
		t.Errorf("only %d schema fields found: the walk misses most of #Cluster", len(want))
	}
}
