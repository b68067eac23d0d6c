package inspect

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"

	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/cloudinit"
	"github.com/hagen/hagen/render/ignition"
)

// userDataKinds are the per-host user-data of a bundle: where they sit,
// their extension, and how to read back the files they lay.
var userDataKinds = []struct {
	dir, ext string
	decode   func([]byte) ([]bundle.File, []string, error)
}{
	{cloudinit.Dir, ".yaml", cloudinit.Decode},
	{ignition.Dir, ".ign", ignition.Decode},
}

// userData checks each host's cloud-init and Ignition user-data against
// the host's files as MANIFEST.json lists them: the same paths, bytes,
// modes and owners, no more and no fewer; and, since it carries the
// host's keys, closed to group and other.
func (v *verifier) userData() {
	for _, e := range v.entries {
		if e.Host != "" {
			continue
		}
		for _, k := range userDataKinds {
			dir, file := path.Split(e.Rel)
			if path.Clean(dir) != k.dir || !strings.HasSuffix(file, k.ext) {
				continue
			}
			host := strings.TrimSuffix(file, k.ext)
			if _, ok := v.m.Hosts[host]; !ok {
				v.errorf(e.Rel, "user-data for %s, which is not a host of the bundle", host)
				continue
			}
			if e.Perm != bundle.ModeSecret {
				v.errorf(e.Rel, "listed with mode %s: user-data holds the host's keys, want 0600", e.Mode)
			}
			data, ok := v.data[e.Rel]
			if !ok {
				continue // missing or unreadable: reported by files()
			}
			files, _, err := k.decode(data)
			if err != nil {
				v.errorf(e.Rel, "cannot be read: %v", err)
				continue
			}
			v.sameFiles(e.Rel, host, files)
		}
	}
}

// sameFiles compares the files user-data at rel lays with host's entries.
func (v *verifier) sameFiles(rel, host string, files []bundle.File) {
	want := map[string]entry{}
	for _, e := range v.byHost[host] {
		want[e.Path] = e
	}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f.Path] {
			v.errorf(rel, "lays %s twice", f.Path)
			continue
		}
		seen[f.Path] = true
		e, ok := want[f.Path]
		if !ok {
			v.errorf(rel, "lays %s, which MANIFEST.json does not list for %s", f.Path, host)
			continue
		}
		sum := sha256.Sum256(f.Data)
		if got := hex.EncodeToString(sum[:]); got != e.SHA256 {
			v.errorf(rel, "lays %s with other content than %s (sha256 %s, want %s)", f.Path, e.where(), short(got), short(e.SHA256))
		}
		if f.Mode.Perm() != e.Perm {
			v.errorf(rel, "lays %s with mode %04o, MANIFEST.json says %s", f.Path, f.Mode.Perm(), e.Mode)
		}
		if e.Owner != "" && f.Owner != e.Owner {
			v.errorf(rel, "lays %s owned by %s, MANIFEST.json says %s", f.Path, f.Owner, e.Owner)
		}
	}
	for _, e := range v.byHost[host] {
		if !seen[e.Path] {
			v.errorf(rel, "does not lay %s", e.where())
		}
	}
}
