package schema

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestOpenAPI: the document parses, carries every definition, and requires
// exactly the fields a spec must give (the ones with "!" in the schema).
func TestOpenAPI(t *testing.T) {
	out, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI == "" {
		t.Error("no openapi version")
	}
	for _, name := range []string{"Cluster", "Host", "LoadBalancer", "Role"} {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("components.schemas lacks %s", name)
		}
	}
	var cluster struct {
		Required   []string `json:"required"`
		Properties map[string]struct {
			Required []string `json:"required"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas["Cluster"], &cluster); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"":             {"controlPlane", "hosts", "kubernetes", "name", "network"},
		"network":      {"podSubnet"},
		"controlPlane": {"loadBalancer"},
		"kubernetes":   {"version"}, // required: a default would move with hagen
		"etcd":         nil,
		"pki":          nil,
	}
	for path, w := range want {
		got := cluster.Required
		if path != "" {
			got = cluster.Properties[path].Required
		}
		got = slices.Sorted(slices.Values(got))
		if !slices.Equal(got, w) {
			t.Errorf("required of Cluster.%s = %v, want %v (defaulted fields must stay optional for editors)", path, got, w)
		}
	}
}
