package compiler

import "testing"

// TestLoadErrors covers what goes wrong before the schema sees a spec:
// formats, syntax, empty files, duplicate keys and YAML documents, and
// type errors in each format.
func TestLoadErrors(t *testing.T) {
	tests := []checkCase{
		// Syntax, empty files and file formats.
		{name: "CUE syntax error", src: edit(base, `name: "t"`, `name: "t`),
			path: "", at: `name: "t`, msg: "syntax error"},
		{name: "CUE unclosed brace", src: edit(base, "\n}\n", "\n"),
			path: "", at: "w0:", msg: "syntax error"},
		{name: "empty CUE file", src: "",
			path: "", msg: "the spec is empty"},
		{name: "blank YAML file", file: "spec.yaml", src: "\n  \n",
			path: "", msg: "the spec is empty"},
		{name: "CUE file of comments", src: "// nothing yet\n",
			path: "", msg: "the spec has no fields"},
		{name: "unknown extension", file: "spec.toml", src: base,
			path: "", fileOnly: true, msg: `unknown spec format ".toml"`},
		{name: "YAML syntax error", file: "spec.yaml", src: edit(baseYAML, "  podSubnet:", "\tpodSubnet:"),
			path: "", at: "\tpodSubnet", noCol: true, msg: "syntax error: found character that cannot start any token"},
		{name: "YAML bad indentation", file: "spec.yaml", src: edit(baseYAML, "name: t\n", "name: t\n  cluster: x\n"),
			path: "", at: "cluster: x", noCol: true, msg: "syntax error: mapping values are not allowed in this context"},
		{name: "YAML duplicate key", file: "spec.yaml", src: edit(baseYAML, "  podSubnet: 10.32.0.0/12\n", "  podSubnet: 10.32.0.0/12\n  podSubnet: 10.32.0.0/12 # again\n"),
			path: "network.podSubnet", at: "# again", msg: "duplicate key (first given at line 5)"},
		{name: "YAML duplicate host", file: "spec.yaml", src: baseYAML + "  m1: {address: 10.0.0.13/24, roles: [control-plane]}\n",
			path: "hosts.m1", at: "10.0.0.13", msg: "duplicate key (first given at line 13)"},
		{name: "YAML multiple documents", file: "spec.yaml", src: baseYAML + "---\nname: u\n",
			path: "", at: "---", msg: "in one document"},
		{name: "YAML list at the top", file: "spec.yaml", src: "- name: t\n",
			path: "", msg: "must be a mapping of fields"},
		{name: "YAML wrong type", file: "spec.yaml", src: edit(baseYAML, "interface: eth0}", "interface: eth0, routerID: \"51\"}"),
			path: "controlPlane.loadBalancer.keepalived.routerID", at: "routerID", msg: `got "51", want int`},
		{name: "YAML typo", file: "spec.yaml", src: edit(baseYAML, "  podSubnet:", "  podSubnets:"),
			path: "network.podSubnets", at: "podSubnets", msg: "field not allowed"},
		{name: "JSON syntax error", file: "spec.json", src: "{\n  \"name\": \"t\",\n  \"network\": {\"podSubnet\": \"10.32.0.0/12\",}\n}\n",
			path: "", at: "podSubnet", msg: "syntax error"},
		{name: "JSON array at the top", file: "spec.json", src: "[1, 2]\n",
			path: "", msg: "the top level of a spec must be an object"},
		{name: "JSON duplicate key", file: "spec.json", src: "{\n  \"name\": \"t\",\n  \"name\": \"u\"\n}\n",
			path: "name", at: `"u"`, msg: "duplicate key (first given at line 2)"},
		{name: "JSON wrong type", file: "spec.json", src: edit(baseJSON, `"controlPlane": {`, `"controlPlane": {"port": "6443",`),
			path: "controlPlane.port", at: `"port"`, msg: `got "6443", want int`},
	}
	runCheckCases(t, tests)
}
