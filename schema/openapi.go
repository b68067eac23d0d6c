package schema

import (
	"bytes"
	"encoding/json"
	"fmt"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/openapi"
)

// OpenAPI renders the schema as an OpenAPI 3 document with CUE's own
// encoder, so that editors complete and check YAML and JSON specs. The
// definitions keep their CUE names (Cluster, Host, ...) and their comments
// become descriptions.
func OpenAPI() ([]byte, error) {
	ctx := cuecontext.New()
	v := ctx.CompileString(Source, cue.Filename(Filename))
	if err := v.Err(); err != nil {
		return nil, err
	}
	out, err := openapi.Gen(v, &openapi.Config{
		Info:             map[string]string{"title": "hagen cluster spec", "version": "v1"},
		ExpandReferences: false,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the schema as OpenAPI: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, err
	}
	if comps, ok := doc["components"].(map[string]any); ok {
		if schemas, ok := comps["schemas"].(map[string]any); ok {
			for _, sch := range schemas {
				relaxRequired(sch)
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// relaxRequired drops from "required" every property a user may omit: one
// with a default, or an object none of whose own properties is required.
// CUE's encoder lists every regular field, defaulted or not, and an editor
// would then demand fields the schema fills in. It reports whether the
// schema node itself can be omitted.
func relaxRequired(node any) (omittable bool) {
	m, ok := node.(map[string]any)
	if !ok {
		return false
	}
	if _, ok := m["default"]; ok {
		return true
	}
	props, _ := m["properties"].(map[string]any)
	omittableProp := map[string]bool{}
	for name, p := range props {
		omittableProp[name] = relaxRequired(p)
	}
	for _, key := range []string{"additionalProperties", "items"} {
		relaxRequired(m[key])
	}
	for _, key := range []string{"oneOf", "anyOf", "allOf"} {
		if list, ok := m[key].([]any); ok {
			for _, n := range list {
				relaxRequired(n)
			}
		}
	}
	req, _ := m["required"].([]any)
	var keep []any
	for _, r := range req {
		if name, ok := r.(string); ok && omittableProp[name] {
			continue
		}
		keep = append(keep, r)
	}
	if len(keep) == 0 {
		delete(m, "required")
	} else {
		m["required"] = keep
	}
	return m["type"] == "object" && len(keep) == 0 && props != nil
}
