// Package golden is the one switch that rewrites expected test output
// (golden/, the CLI scripts' expected output): HAGEN_UPDATE=1. It is an
// environment variable rather than a test flag so that one command works
// from the repository root for every package:
//
//	HAGEN_UPDATE=1 go test ./...
//
// then review `git diff` as you would code. Fixtures that pin an old
// format (pki/testdata/secrets-v1.yaml) are never rewritten by it.
package golden

import "os"

// Env is the switch's environment variable.
const Env = "HAGEN_UPDATE"

// Command is what a golden test's failure message tells the reader to run.
const Command = Env + "=1 go test ./... (from the repository root), then review git diff"

// Update reports whether the switch is on.
func Update() bool { return os.Getenv(Env) == "1" }
