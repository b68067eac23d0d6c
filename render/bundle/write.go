package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hagen/hagen/internal/parallel"
)

// ManifestName names the file that marks a directory as a hagen bundle.
const ManifestName = "MANIFEST.json"

// NotABundleError refuses to replace a directory hagen did not write.
type NotABundleError struct{ Dir string }

func (e *NotABundleError) Error() string {
	return fmt.Sprintf("%s is a non-empty directory without %s, so not a hagen bundle: refusing to replace it (pass --force to replace it anyway)", e.Dir, ManifestName)
}

// Unchanged reports whether dir already holds exactly b: the same
// MANIFEST.json, every file it lists present with its size and mode and not
// touched since (ctime no later than the manifest's), and nothing else. No
// file is read: the manifest pins every digest.
func Unchanged(dir string, b *Bundle) bool {
	mf, ok := b.Get(ManifestName)
	if old, err := os.ReadFile(filepath.Join(dir, ManifestName)); !ok || err != nil || !bytes.Equal(old, mf.Data) {
		return false // no need to walk the tree
	}
	plan, err := planUpdate(dir, b)
	return err == nil && plan.sameManifest && len(plan.write) == 0 && len(plan.remove) == 0
}

// Write puts b at dir atomically: a complete tree is staged beside dir,
// synced, and exchanged with dir by one renameat2(RENAME_EXCHANGE), so a
// crash at any moment leaves dir as it was or complete.
//
// The previous bundle is kept as a hidden spare beside dir
// (.<dir>.hagen-spare) and the next render stages into it, writing only the
// files whose digest or mode changed: a re-render of a cluster with
// thousands of hosts costs what changed, not tens of thousands of file
// creations and deletions. A non-empty dir that is not a hagen bundle is
// refused unless force is set, and then deleted, never kept as a spare.
func Write(dir string, b *Bundle, force bool) error {
	dir = filepath.Clean(dir)
	exists, err := checkTarget(dir, force)
	if err != nil {
		return err
	}
	foreign := exists && !isFile(filepath.Join(dir, ManifestName))
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	// The modes are exact: clear the umask (directories 0755 even under
	// umask 077, as rsync -a copies them onto the hosts' /etc) instead of a
	// chmod per file.
	mask := unix.Umask(0)
	defer unix.Umask(mask)

	// A render killed earlier leaves its temp tree behind; the caller holds
	// the secrets lock, so no other render of this cluster is writing one.
	stale, _ := filepath.Glob(filepath.Join(parent, "."+base+".hagen-tmp-*"))
	for _, d := range stale {
		_ = removeTree(d)
	}

	spare := filepath.Join(parent, "."+base+".hagen-spare")
	staged := spare
	if !exists || !updateInPlace(spare, b) {
		if staged, err = os.MkdirTemp(parent, "."+base+".hagen-tmp-*"); err != nil {
			return err
		}
		defer removeTree(staged) // a no-op once it became dir or the spare
		if err := os.Chmod(staged, 0o755); err != nil {
			return err
		}
		if err := writeTree(staged, b); err != nil {
			return err
		}
	}
	if err := syncTree(staged); err != nil {
		return err
	}
	if !exists {
		if err := os.Rename(staged, dir); err != nil {
			return err
		}
		return syncDir(parent)
	}
	// Atomic exchange: there is no moment without a complete dir.
	if err := unix.Renameat2(unix.AT_FDCWD, staged, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("replacing %s: %w", dir, err)
	}
	// staged now holds the previous tree: it becomes the next spare.
	switch {
	case foreign:
		// --force over a directory hagen did not write: removed by defer.
	case staged != spare:
		if err := removeTree(spare); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.Rename(staged, spare); err != nil {
			return err
		}
	}
	return syncDir(parent)
}

// updateInPlace brings the spare tree up to b, writing only what differs
// from its manifest, and reports whether the spare could be used. The
// manifest goes first and comes back last, so a spare interrupted midway
// has none and is rebuilt from scratch next time.
func updateInPlace(spare string, b *Bundle) bool {
	plan, err := planUpdate(spare, b)
	if err != nil {
		return false
	}
	if err := os.Remove(filepath.Join(spare, ManifestName)); err != nil {
		return false
	}
	if syncDir(spare) != nil {
		return false
	}
	for _, p := range plan.remove {
		if os.Remove(filepath.Join(spare, p)) != nil {
			return false
		}
		pruneEmpty(spare, filepath.Dir(filepath.Join(spare, p)))
	}
	for _, f := range plan.write {
		if writeInto(spare, f) != nil {
			return false
		}
	}
	mf, ok := b.Get(ManifestName)
	return ok && writeManifestLast(spare, mf) == nil
}

// writeInto writes f at its place below root, replacing what is there.
func writeInto(root string, f File) error {
	p := filepath.Join(root, filepath.FromSlash(f.BundlePath()))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return writeFile(p, f)
}

// pruneEmpty removes d and its parents below root while they are empty.
func pruneEmpty(root, d string) {
	for d != root && len(d) > len(root) {
		if os.Remove(d) != nil {
			return
		}
		d = filepath.Dir(d)
	}
}

// CheckTarget reports whether dir may receive a bundle, before anything
// else is written.
func CheckTarget(dir string, force bool) error {
	_, err := checkTarget(filepath.Clean(dir), force)
	return err
}

func checkTarget(dir string, force bool) (exists bool, err error) {
	info, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !info.IsDir() {
		return false, fmt.Errorf("%s exists and is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	if len(entries) == 0 || force {
		return true, nil
	}
	if !isFile(filepath.Join(dir, ManifestName)) {
		return false, &NotABundleError{Dir: dir}
	}
	return true, nil
}

func isFile(p string) bool {
	info, err := os.Lstat(p)
	return err == nil && info.Mode().IsRegular()
}

// writeTree writes b below an empty root. Hosts are written concurrently;
// MANIFEST.json goes last, so that its ctime follows every file's (see
// planUpdate).
func writeTree(root string, b *Bundle) error {
	groups := map[string][]File{}
	var order []string
	for _, f := range b.Files() {
		if f.BundlePath() == ManifestName {
			continue
		}
		if _, ok := groups[f.Host]; !ok {
			order = append(order, f.Host)
		}
		groups[f.Host] = append(groups[f.Host], f)
	}
	err := parallel.Each(len(order), func(i int) error {
		dirs := map[string]bool{}
		for _, f := range groups[order[i]] {
			p := filepath.Join(root, filepath.FromSlash(f.BundlePath()))
			if d := filepath.Dir(p); !dirs[d] {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
				dirs[d] = true
			}
			if err := writeFile(p, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if mf, ok := b.Get(ManifestName); ok {
		return writeManifestLast(root, mf)
	}
	return nil
}

// writeManifestLast writes MANIFEST.json with a ctime strictly later than
// every file written before it, so that planUpdate can tell a file touched
// after the manifest even within one tick of the kernel's coarse clock:
// a probe file marks "now", and the manifest is rewritten until its
// ctime passes the probe's (a tick at most, a few milliseconds).
func writeManifestLast(root string, mf File) error {
	probe := filepath.Join(root, ".hagen-probe")
	if err := writeFile(probe, File{Mode: ModeSecret}); err != nil {
		return err
	}
	info, err := os.Lstat(probe)
	if err != nil {
		return err
	}
	mark := ctime(info)
	if err := os.Remove(probe); err != nil {
		return err
	}
	p := filepath.Join(root, ManifestName)
	// Bounded: on a file system whose clock does not move, later renders
	// see every file as changed and rewrite it, which is safe, only slower.
	deadline := time.Now().Add(2 * time.Second)
	for {
		if err := writeFile(p, mf); err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if ctime(info).After(mark) || time.Now().After(deadline) {
			return nil
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// removeTree deletes a tree, a host at a time on every core.
func removeTree(dir string) error {
	hosts, _ := os.ReadDir(filepath.Join(dir, "hosts"))
	err := parallel.Each(len(hosts), func(i int) error {
		return os.RemoveAll(filepath.Join(dir, "hosts", hosts[i].Name()))
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// syncTree makes everything written under root durable before the swap.
// One syncfs(2) flushes the file system at once; an fsync per file and
// directory costs a disk round trip each.
func syncTree(root string) error {
	d, err := os.Open(root)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

// writeFile creates p with f's bytes and mode (the umask is cleared).
func writeFile(p string, f File) error {
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.Mode)
	if err != nil {
		return err
	}
	if _, err := fh.Write(f.Data); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
