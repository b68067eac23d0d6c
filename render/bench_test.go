package render_test

import (
	"fmt"
	"testing"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/internal/testspec"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
)

// BenchmarkRender measures building the bundle in memory (no disk) from a
// plan and existing secrets, for 3 masters and n workers.
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{3, 500, 5000} {
		res, err := compiler.Compile("bench.cue", []byte(testspec.Cluster(n, "ECDSA-P256")))
		if err != nil {
			b.Fatal(err)
		}
		issued, err := (&pki.Issuer{}).Ensure(res.Plan, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := render.Render(res.Plan, issued.Secrets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
