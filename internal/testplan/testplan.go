// Package testplan gives tests a compiled plan and fresh secrets from a
// spec in one call.
package testplan

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
)

// Compile compiles the CUE spec src, failing t on any problem.
func Compile(t testing.TB, src string) *model.Plan {
	t.Helper()
	res, err := compiler.Compile("t.cue", []byte(src))
	if err != nil {
		t.Fatalf("compile:\n%s\n%v", src, err)
	}
	return res.Plan
}

// Example compiles the repository's examples/<name>, failing t on any
// problem.
func Example(t testing.TB, name string) *model.Plan {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "examples", name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := compiler.Compile(path, src)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return res.Plan
}

// Secrets issues fresh secrets for p.
func Secrets(t testing.TB, p *model.Plan) *pki.Secrets {
	t.Helper()
	res, err := (&pki.Issuer{}).Ensure(p, nil)
	if err != nil {
		t.Fatalf("issuing secrets: %v", err)
	}
	return res.Secrets
}

// ExternalEtcd is the external-etcd scenario: three masters behind a
// keepalived VIP with HAProxy on 8443, three dedicated etcd hosts and a
// worker, ECDSA keys. Append a field (e.g. `etcd: run: "static-pod"`) for
// a variant: CUE unifies it with the rest.
const ExternalEtcd = `name: "dc1"
kubernetes: version: "1.35.0"
network: podSubnet: "10.244.0.0/16"
pki: keyAlgorithm: "ECDSA-P256"
controlPlane: loadBalancer: keepalived: {vip: "192.168.10.50", interface: "ens192", routerID: 52, haproxy: port: 8443}
etcd: topology: "external"
hosts: {
	master0: {address: "192.168.10.10/24", roles: ["control-plane"]}
	master1: {address: "192.168.10.11/24", roles: ["control-plane"]}
	master2: {address: "192.168.10.12/24", roles: ["control-plane"]}
	etcd0: {address: "192.168.10.20", roles: ["etcd"]}
	etcd1: {address: "192.168.10.21", roles: ["etcd"]}
	etcd2: {address: "192.168.10.22", roles: ["etcd"]}
	worker0: {address: "192.168.10.30", roles: ["worker"]}
}
`
