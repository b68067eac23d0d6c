package pki

import (
	"errors"
	"os"
	"testing"
)

// FuzzParseSecrets: a damaged or foreign secrets file is refused with a
// SecretsError naming the entry, never a panic or another error.
func FuzzParseSecrets(f *testing.F) {
	// The head of a real file: its layout and a PEM block. Whole files
	// (20 KB) slow the coverage-guided engine to a few executions a second.
	if raw, err := os.ReadFile("testdata/secrets-v1.yaml"); err == nil {
		f.Add(raw[:min(len(raw), 3000)])
	}
	for _, s := range []string{"", "version: 1\n", "version: 2\n", "{", "version: 1\ncluster: x\ncas: {ca: {cert: x, key: y}}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := ParseSecrets("fuzz.yaml", raw)
		if err == nil {
			if s == nil || len(s.CAs) != len(CAs()) {
				t.Fatalf("accepted a file without every CA")
			}
			return
		}
		var se *SecretsError
		if !errors.As(err, &se) {
			t.Fatalf("error of type %T, want *SecretsError: %v", err, err)
		}
	})
}
