package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
	// A render killed earlier leaves its temp tree behind; the caller holds
	// the secrets lock, so no other render of this cluster is writing one.
	stale, _ := filepath.Glob(filepath.Join(parent, "."+filepath.Base(dir)+".hagen-*"))
	for _, d := range stale {
		_ = removeTree(d)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".hagen-*")
	if err != nil {
		return err
	}
	defer removeTree(tmp) // after the swap, tmp holds the old tree
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

// writeTree writes b below root. Hosts are written concurrently: a bundle
// of thousands of hosts is tens of thousands of small files and
// directories, and the file system serves several creators at once.
func writeTree(root string, b *Bundle) error {
	// The modes are exact: clear the umask (directories 0755 even under
	// umask 077, as rsync -a copies them onto the hosts' /etc) instead of a
	// chmod per file.
	old := unix.Umask(0)
	defer unix.Umask(old)
	groups := map[string][]File{}
	var order []string
	for _, f := range b.Files() {
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
	return syncTree(root)
}

// removeTree deletes a replaced bundle, a host at a time on every core.
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
