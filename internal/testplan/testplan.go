// Package testplan gives tests a compiled plan and fresh secrets from a
// spec in one call.
package testplan

import (
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

// Secrets issues fresh secrets for p.
func Secrets(t testing.TB, p *model.Plan) *pki.Secrets {
	t.Helper()
	res, err := (&pki.Issuer{}).Ensure(p, nil)
	if err != nil {
		t.Fatalf("issuing secrets: %v", err)
	}
	return res.Secrets
}
