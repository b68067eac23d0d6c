// Package testspec generates cluster specs of any size for tests and
// benchmarks: three stacked masters behind a keepalived VIP and n workers.
package testspec

import (
	"fmt"
	"strings"
)

// Cluster returns a CUE spec with three control-plane hosts and n workers,
// keys of algorithm alg (e.g. "ECDSA-P256").
func Cluster(n int, alg string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `name: "scale"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: keepalived: {vip: "10.0.0.100", interface: "eth0"}
pki: keyAlgorithm: %q
hosts: {
	master0: {address: "10.0.0.10/16", roles: ["control-plane"]}
	master1: {address: "10.0.0.11/16", roles: ["control-plane"]}
	master2: {address: "10.0.0.12/16", roles: ["control-plane"]}
`, alg)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\tworker%d: {address: %q, roles: [\"worker\"]}\n", i, Address(i))
	}
	b.WriteString("}\n")
	return b.String()
}

// Address is worker i's address: 10.0.2.1 upwards, 250 to a /24.
func Address(i int) string { return fmt.Sprintf("10.0.%d.%d", 2+i/250, 1+i%250) }
