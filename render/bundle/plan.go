package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hagen/hagen/internal/parallel"
)

// update is what it takes to turn a tree on disk into a bundle.
type update struct {
	sameManifest bool
	write        []File   // files to (re)write, MANIFEST.json not among them
	remove       []string // bundle paths to delete
}

// planUpdate compares the tree at root with b using root's MANIFEST.json
// and one stat per entry, reading no file. A file is current when the
// manifest lists it with b's digest and mode, and on disk it has that size
// and mode and a ctime strictly before the manifest's (writeManifestLast
// guarantees that of every file it wrote): anything written, truncated or
// chmodded after the manifest counts as changed.
// A tree without a readable manifest cannot be planned against.
func planUpdate(root string, b *Bundle) (*update, error) {
	mpath := filepath.Join(root, ManifestName)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		return nil, err
	}
	info, err := os.Lstat(mpath)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	have, err := m.entries()
	if err != nil {
		return nil, err
	}
	onDisk, err := statTree(root)
	if err != nil {
		return nil, err
	}
	stamp := ctime(info)
	u := &update{}
	if mf, ok := b.Get(ManifestName); ok {
		u.sameManifest = bytes.Equal(raw, mf.Data)
	}
	want := map[string]bool{ManifestName: true}
	for _, f := range b.Files() {
		bp := f.BundlePath()
		if bp == ManifestName {
			continue
		}
		want[bp] = true
		e, listed := have[bp]
		st, present := onDisk[bp]
		current := listed && present && e.SHA256 == f.SHA256() && e.Mode == ModeString(f.Mode) &&
			st.Mode().IsRegular() && st.Mode().Perm() == f.Mode && st.Size() == int64(len(f.Data)) &&
			ctime(st).Before(stamp)
		if !current {
			u.write = append(u.write, f)
		}
	}
	for bp := range onDisk {
		if !want[bp] {
			u.remove = append(u.remove, bp)
		}
	}
	return u, nil
}

// statTree stats every non-directory entry below root, a host at a time on
// every core, by bundle path.
func statTree(root string) (map[string]fs.FileInfo, error) {
	var mu sync.Mutex
	out := map[string]fs.FileInfo{}
	walk := func(dir string) error {
		return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != dir && filepath.Dir(p) == root && d.Name() == "hosts" {
					return filepath.SkipDir // walked per host below
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			mu.Lock()
			out[filepath.ToSlash(rel)] = info
			mu.Unlock()
			return nil
		})
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	hosts, err := os.ReadDir(filepath.Join(root, "hosts"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	err = parallel.Each(len(hosts), func(i int) error {
		return walk(filepath.Join(root, "hosts", hosts[i].Name()))
	})
	return out, err
}

func ctime(info fs.FileInfo) time.Time {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}
	}
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
}
