package compiler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hagen/hagen/internal/testspec"
)

// BenchmarkCompile measures loading, validating and deriving a plan; its
// cost should grow linearly with the host count.
func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{3, 500, 5000} {
		src := []byte(testspec.Cluster(n, "ECDSA-P256"))
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile("bench.cue", src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDuplicateAtScale: one duplicate address among 5,000 hosts is
// reported, with its position, and nothing else.
func TestDuplicateAtScale(t *testing.T) {
	src := testspec.Cluster(5000, "ECDSA-P256")
	dup := testspec.Address(1234)
	// worker4321 takes worker1234's address.
	src = strings.Replace(src, fmt.Sprintf("worker4321: {address: %q", testspec.Address(4321)), fmt.Sprintf("worker4321: {address: %q", dup), 1)
	_, err := Compile("big.cue", []byte(src))
	e, ok := err.(Error)
	if !ok || len(e) != 1 {
		t.Fatalf("got %v, want one problem", err)
	}
	p := e[0]
	line := strings.Count(src[:strings.Index(src, "worker4321:")], "\n") + 1
	if p.Path.String() != "hosts.worker4321.address" || p.Pos.Line != line || !strings.Contains(p.Msg, "already used by hosts.worker1234") {
		t.Errorf("got %s, want hosts.worker4321.address at line %d, already used by hosts.worker1234", p, line)
	}
}
