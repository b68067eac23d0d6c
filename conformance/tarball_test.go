package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/render/tarball"
)

// checkTarball: GNU tar, run as root keeping owners and modes, unpacks
// tarPath to exactly hostDir's files: the same paths, bytes and modes, owned
// by root, nothing else.
func checkTarball(tarTool, tarPath, hostDir string) error {
	dest, err := os.MkdirTemp(scratch, "untar-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dest)
	if _, err := run(time.Minute, dest, nil, tarTool, "--same-owner", "-xpzf", tarPath); err != nil {
		return err
	}
	got, err := snapshot(dest)
	if err != nil {
		return err
	}
	want, err := snapshot(hostDir)
	if err != nil {
		return err
	}
	var e errs
	if len(got) != len(want) {
		e.add(fmt.Errorf("%s unpacks %d files, the host tree has %d", tarPath, len(got), len(want)))
	}
	for rel, data := range want {
		if !bytes.Equal(got[rel], data) {
			e.add(fmt.Errorf("%s: %s missing or different", tarPath, rel))
			continue
		}
		a, err1 := os.Stat(filepath.Join(dest, rel))
		b, err2 := os.Stat(filepath.Join(hostDir, rel))
		if err1 != nil || err2 != nil || a.Mode().Perm() != b.Mode().Perm() {
			e.add(fmt.Errorf("%s: %s mode differs from the host tree's", tarPath, rel))
		}
	}
	// Owners and times as tar lists them: root/root, the epoch.
	listing, err := run(time.Minute, dest, []string{"TZ=UTC", "LC_ALL=C"}, tarTool, "--numeric-owner", "-tvzf", tarPath)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		if !strings.Contains(line, " 0/0 ") || !strings.Contains(line, "1970-01-01 00:00") {
			e.add(fmt.Errorf("%s: entry not root-owned at the epoch: %s", tarPath, line))
		}
	}
	return e.err()
}

// TestTarball packs every host of every case twice (the bytes must not
// differ) and unpacks it with the real tar.
func TestTarball(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		tarTool := tool(t, "tar")
		for _, h := range f.plan.Hosts {
			one, err := tarball.Host(f.bundle.HostFiles(h.Name))
			if err != nil {
				t.Fatal(err)
			}
			two, _ := tarball.Host(f.bundle.HostFiles(h.Name))
			if !bytes.Equal(one, two) {
				t.Errorf("%s: two packs differ", h.Name)
			}
			p := filepath.Join(t.TempDir(), h.Name+".tar.gz")
			if err := os.WriteFile(p, one, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := checkTarball(tarTool, p, filepath.Join(f.dir, "hosts", h.Name)); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestBrokenTarball: a tarball whose file lost its mode fails the check.
func TestBrokenTarball(t *testing.T) {
	f := caseNamed(t, "example-stacked-keepalived")
	tarTool := tool(t, "tar")
	files := f.bundle.HostFiles("master0")
	for i := range files {
		if strings.HasSuffix(files[i].Path, ".key") {
			files[i].Mode = 0o644
			break
		}
	}
	data, err := tarball.Host(files)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "master0.tar.gz")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkTarball(tarTool, p, filepath.Join(f.dir, "hosts", "master0")); err == nil || !strings.Contains(err.Error(), "mode differs") {
		t.Errorf("a key packed 0644: %v", err)
	}
}
