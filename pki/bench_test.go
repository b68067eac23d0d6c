package pki_test

import (
	"testing"
	"time"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
)

var benchAlgs = []model.KeyAlgorithm{model.RSA2048, model.RSA3072, model.RSA4096, model.ECDSAP256, model.ECDSAP384}

// BenchmarkIssue issues the full PKI from scratch for the stacked HA layout
// (3 masters with etcd, 3 workers: 3 CAs, the service-account key and 12
// leaves, 16 keys) with each key algorithm, on every CPU as render does.
func BenchmarkIssue(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			p := threeMasters(alg).plan(b)
			is := &pki.Issuer{Now: clock(t0)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := is.Ensure(p, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(16, "keys/op")
		})
	}
}

// BenchmarkReuse is Ensure on an existing cluster's secrets: every entry
// checked (chains, keys, SANs), all of it reused.
func BenchmarkReuse(b *testing.B) {
	benchReuse(b, false)
}

// BenchmarkReuseFile is what a render of an existing cluster pays for its
// secrets: parse the file, Ensure, marshal it again.
func BenchmarkReuseFile(b *testing.B) {
	benchReuse(b, true)
}

func benchReuse(b *testing.B, file bool) {
	for _, alg := range []model.KeyAlgorithm{model.RSA2048, model.ECDSAP256} {
		b.Run(string(alg), func(b *testing.B) {
			p := threeMasters(alg).plan(b)
			res, err := (&pki.Issuer{Now: clock(t0)}).Ensure(p, nil)
			if err != nil {
				b.Fatal(err)
			}
			raw := marshal(b, res.Secrets)
			old := res.Secrets
			later := &pki.Issuer{Now: clock(t0.Add(24 * time.Hour))}
			b.ReportAllocs()
			for b.Loop() {
				if file {
					if old, err = pki.ParseSecrets("secrets.yaml", raw); err != nil {
						b.Fatal(err)
					}
				}
				r, err := later.Ensure(p, old)
				if err != nil || len(r.Reissued) > 0 {
					b.Fatal(err, r.Reissued)
				}
				if file {
					if _, err := r.Secrets.Marshal(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
