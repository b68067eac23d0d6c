package conformance

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// checkShellcheck: shellcheck, at its default (strictest) severity, finds
// nothing in the scripts at paths.
func checkShellcheck(shellcheck string, paths ...string) error {
	_, err := run(time.Minute, "", nil, shellcheck, append([]string{"--norc", "--format=gcc"}, paths...)...)
	return err
}

// isScript: executable, or named like a shell script.
func isScript(path string, mode uint32, data []byte) bool {
	return mode&0o111 != 0 || strings.HasSuffix(path, ".sh") || bytes.HasPrefix(data, []byte("#!"))
}

func TestShellcheck(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		shellcheck := tool(t, "shellcheck")
		var paths []string
		for _, file := range f.bundle.Files() {
			if !isScript(file.Path, uint32(file.Mode.Perm()), file.Data) {
				continue
			}
			if !bytes.HasPrefix(file.Data, []byte("#!/bin/sh\n")) && !bytes.HasPrefix(file.Data, []byte("#!/bin/bash\n")) && !bytes.HasPrefix(file.Data, []byte("#!/usr/bin/env bash\n")) {
				t.Errorf("%s: no #!/bin/sh or bash shebang", file.BundlePath())
			}
			if file.Host != "" && file.Mode.Perm() != 0o755 {
				t.Errorf("%s: mode %04o, want 0755", file.BundlePath(), file.Mode.Perm())
			}
			paths = append(paths, f.path(file))
		}
		want := 0
		if f.plan.ControlPlane.Keepalived != nil {
			want += len(f.plan.ControlPlane.Hosts) // check_apiserver.sh
		}
		if len(paths) < want || len(paths) == 0 {
			t.Fatalf("found %d scripts, want at least %d", len(paths), max(want, 1))
		}
		if err := checkShellcheck(shellcheck, paths...); err != nil {
			t.Error(fmt.Errorf("shellcheck: %w", err))
		}
	})
}
