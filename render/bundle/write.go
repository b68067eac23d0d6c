package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ManifestName names the file that marks a directory as a hagen bundle.
const ManifestName = "MANIFEST.json"

// NotABundleError refuses to replace a directory hagen did not write.
type NotABundleError struct{ Dir string }

func (e *NotABundleError) Error() string {
	return fmt.Sprintf("%s is a non-empty directory without %s, so not a hagen bundle: refusing to replace it (pass --force to replace it anyway)", e.Dir, ManifestName)
}

// Unchanged reports whether dir already holds b, judged from MANIFEST.json:
// the manifest pins every file's digest and mode, so equal manifest bytes,
// every file present with its size and mode, and nothing else in the tree
// (directory entries and stats, no file read) mean there is nothing to
// write. An edit inside a file that keeps its size is not seen here: that is
// what hagen verify is for.
func Unchanged(dir string, b *Bundle) bool {
	mf, ok := b.Get(ManifestName)
	if !ok {
		return false
	}
	old, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil || !bytes.Equal(old, mf.Data) {
		return false
	}
	want := map[string]File{}
	for _, f := range b.Files() {
		want[filepath.FromSlash(f.BundlePath())] = f
	}
	seen := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f, ok := want[rel]
		if !ok {
			return errChanged
		}
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm() != f.Mode || info.Size() != int64(len(f.Data)) {
			return errChanged
		}
		seen++
		return nil
	})
	return err == nil && seen == len(want)
}

var errChanged = errors.New("changed")

// Write puts b at dir atomically: the tree is built in a sibling temporary
// directory, synced, and swapped into place with one rename(2), so a crash
// at any moment leaves dir as it was or complete. A non-empty dir that is
// not a hagen bundle is refused unless force is set.
func Write(dir string, b *Bundle, force bool) error {
	dir = filepath.Clean(dir)
	exists, err := checkTarget(dir, force)
	if err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".hagen-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after the swap, tmp holds the old tree
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := writeTree(tmp, b); err != nil {
		return err
	}
	if exists {
		// Atomic exchange: there is no moment without a complete dir.
		if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err != nil {
			return fmt.Errorf("replacing %s: %w", dir, err)
		}
	} else if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return syncDir(parent)
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
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		return false, &NotABundleError{Dir: dir}
	}
	return true, nil
}

func writeTree(root string, b *Bundle) error {
	dirs := map[string]bool{}
	for _, f := range b.Files() {
		p := filepath.Join(root, filepath.FromSlash(f.BundlePath()))
		d := filepath.Dir(p)
		if !dirs[d] {
			if err := mkdirAll(root, d); err != nil {
				return err
			}
			dirs[d] = true
		}
		if err := writeFile(p, f); err != nil {
			return err
		}
	}
	return syncTree(root)
}

// mkdirAll creates d and its parents below root as 0755 whatever the
// umask: rsync -a copies directory modes onto the hosts' /etc.
func mkdirAll(root, d string) error {
	if d == root {
		return nil
	}
	if _, err := os.Lstat(d); err == nil {
		return nil
	}
	if err := mkdirAll(root, filepath.Dir(d)); err != nil {
		return err
	}
	if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return os.Chmod(d, 0o755)
}

// syncTree makes everything written under root durable before the swap.
// One syncfs(2) flushes the whole file system at once; fsync per file and
// directory costs a disk round trip each, which dominates a render.
func syncTree(root string) error {
	d, err := os.Open(root)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}

func writeFile(p string, f File) error {
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.Mode)
	if err != nil {
		return err
	}
	if _, err := fh.Write(f.Data); err != nil {
		fh.Close()
		return err
	}
	// The umask may have narrowed the mode; the manifest promises it exactly.
	if err := fh.Chmod(f.Mode); err != nil {
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

// Manifest is MANIFEST.json: what a transport needs to lay the bundle onto
// the hosts without reading the prose.
type Manifest struct {
	Version int                     `json:"version"`
	Cluster string                  `json:"cluster"`
	Hosts   map[string]ManifestHost `json:"hosts"`
	// Files are the bundle-level files (RUNBOOK.md, cluster/, ansible/),
	// by their path in the bundle; MANIFEST.json does not list itself.
	Files []ManifestEntry `json:"files"`
	Steps []Step          `json:"steps"`
}

type ManifestHost struct {
	Roles   []string        `json:"roles"`
	Address string          `json:"address"`
	Files   []ManifestEntry `json:"files"`
}

// ManifestEntry is one file entry of a host.
type ManifestEntry struct {
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	Owner  string `json:"owner"`
	SHA256 string `json:"sha256"`
}

// Step is one ordered apply step.
type Step struct {
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
	// Serial: run on one host at a time, in the listed order.
	Serial   bool     `json:"serial"`
	Commands []string `json:"commands"`
	// Check, if set, must succeed before the next step starts.
	Check string `json:"check,omitempty"`
	Note  string `json:"note,omitempty"`
}

// MarshalManifest renders m with sorted keys and a trailing newline.
func MarshalManifest(m *Manifest) ([]byte, error) {
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
