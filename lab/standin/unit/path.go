package unit

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// searchPath is the system manager's unit search path in systemd 252 on
// Debian bookworm, highest priority first (`systemd-analyze unit-paths`).
// The lab's hosts have no generators and no transient units, so only
// /etc/systemd/system, /run/systemd/system and /lib/systemd/system matter
// in practice; the rest are here so that a unit placed there is found as
// systemd would find it.
var searchPath = []string{
	"/etc/systemd/system.control",
	"/run/systemd/system.control",
	"/run/systemd/transient",
	"/run/systemd/generator.early",
	"/etc/systemd/system",
	"/etc/systemd/system.attached",
	"/run/systemd/system",
	"/run/systemd/system.attached",
	"/run/systemd/generator",
	"/usr/local/lib/systemd/system",
	"/lib/systemd/system",
	"/usr/lib/systemd/system",
	"/run/systemd/generator.late",
}

// hostPath is where path p of the lab host lives on this machine.
func hostPath(root, p string) string { return filepath.Join(root, filepath.FromSlash(p)) }

// errLoop is ELOOP: too many symbolic links.
var errLoop = errors.New("too many levels of symbolic links")

// chase resolves every symbolic link in p as if root were "/" (systemd's
// chase_symlinks() with a root): an absolute link target starts again at
// root, and ".." never climbs above it. With final false the last
// component is not followed. A missing component is an fs.ErrNotExist
// error. The result is a path on the host, not prefixed with root.
func chase(root, p string, final bool) (string, error) {
	todo := strings.Split(p, "/")
	resolved := "/"
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, c)
		if !final && len(todo) == 0 {
			return next, nil
		}
		fi, err := os.Lstat(hostPath(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > 40 {
			return "", &fs.PathError{Op: "chase", Path: p, Err: errLoop}
		}
		t, err := os.Readlink(hostPath(root, next))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(t, "/") {
			resolved = "/"
		}
		todo = append(strings.Split(t, "/"), todo...)
	}
	return resolved, nil
}

// searchDir is one directory of the search path that exists.
type searchDir struct {
	dir      string // as listed, e.g. /lib/systemd/system
	resolved string // after links, e.g. /usr/lib/systemd/system
}

// lookup is systemd's view of the unit directories under one root: which
// file each unit name is, and which names are aliases of which.
type lookup struct {
	root string
	dirs []searchDir
	// fragment maps a name to its file as found (dir/name): a regular
	// file, or a link that leaves the search path (a linked unit, or a mask
	// to /dev/null).
	fragment map[string]string
	// alias maps a name to the name it is a link to, inside the search path.
	alias map[string]string
}

// newLookup builds the lookup for root as systemd 252's lookup_paths_init(),
// lookup_paths_reduce() and unit_file_build_name_map() do: missing
// directories are dropped, and so is a directory that is another one seen
// earlier (on bookworm /lib is a link to usr/lib, so /usr/lib/systemd/system
// is /lib/systemd/system); the first directory holding a name decides what
// the name is.
func newLookup(root string) (*lookup, error) {
	l := &lookup{root: root, fragment: map[string]string{}, alias: map[string]string{}}
	seen := map[string]bool{}
	for _, d := range searchPath {
		r, err := chase(root, d, true)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(hostPath(root, r)); err != nil || !fi.IsDir() || seen[r] {
			continue
		}
		seen[r] = true
		l.dirs = append(l.dirs, searchDir{dir: d, resolved: r})
	}
	for _, d := range l.dirs {
		entries, err := os.ReadDir(hostPath(root, d.resolved))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			name := e.Name()
			if !validUnitName(name) || l.fragment[name] != "" || l.alias[name] != "" {
				continue
			}
			file := path.Join(d.dir, name)
			switch {
			case e.Type()&fs.ModeSymlink != 0:
				t, err := os.Readlink(hostPath(root, path.Join(d.resolved, name)))
				if err != nil {
					continue
				}
				if !strings.HasPrefix(t, "/") {
					t = path.Join(d.dir, t)
				}
				dir, err := chase(root, path.Dir(t), true)
				if err != nil {
					dir = path.Dir(path.Clean(t))
				}
				target := path.Join(dir, path.Base(t))
				dst := path.Base(target)
				switch {
				case !l.inSearchPath(target) || dst == name:
					// A linked unit file, a mask, or a link to itself.
					l.fragment[name] = file
				case unitSuffix(dst) == unitSuffix(name):
					l.alias[name] = dst
				}
			case e.IsDir():
			default:
				l.fragment[name] = file
			}
		}
	}
	return l, nil
}

func unitSuffix(name string) string {
	_, _, s := splitUnitName(name)
	return s
}

// inSearchPath reports whether p lies in one of the unit directories.
func (l *lookup) inSearchPath(p string) bool {
	for _, d := range l.dirs {
		for _, s := range []string{d.dir, d.resolved} {
			if strings.HasPrefix(p, s+"/") {
				return true
			}
		}
	}
	return false
}

// resolve follows aliases from name to the name that has a fragment.
func (l *lookup) resolve(name string) (string, bool) {
	for hops := 0; hops < 32; hops++ {
		if l.fragment[name] != "" {
			return name, true
		}
		next, ok := l.alias[name]
		if !ok {
			return "", false
		}
		name = next
	}
	return "", false
}

// find is the fragment for name: the unit's own name after aliases, its
// file, and every other name it answers to. For an instance with no file of
// its own the template's file is used, as systemd does.
func (l *lookup) find(name string) (id, file string, names []string, err error) {
	id, ok := l.resolve(name)
	prefix, instance, suffix := splitUnitName(name)
	if !ok && strings.Contains(name, "@") && instance != "" {
		tmpl, ok2 := l.resolve(prefix + "@" + suffix)
		if !ok2 {
			return "", "", nil, &fs.PathError{Op: "load", Path: name, Err: fs.ErrNotExist}
		}
		tp, _, _ := splitUnitName(tmpl)
		id, file = tp+"@"+instance+suffix, l.fragment[tmpl]
	} else if !ok {
		return "", "", nil, &fs.PathError{Op: "load", Path: name, Err: fs.ErrNotExist}
	} else {
		file = l.fragment[id]
	}
	// Every name whose aliases lead to the unit (or, for an instance, to
	// its template) is a name of the unit; its drop-ins apply.
	idPrefix, idInstance, _ := splitUnitName(id)
	for a := range l.alias {
		r, ok := l.resolve(a)
		if !ok {
			continue
		}
		switch {
		case r == id && a != id:
			names = append(names, a)
		case idInstance != "" && r == idPrefix+"@"+suffix:
			ap, _, _ := splitUnitName(a)
			names = append(names, ap+"@"+idInstance+suffix)
		}
	}
	if name != id && !contains(names, name) {
		names = append(names, name)
	}
	sort.Strings(names)
	return id, file, names, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// masked reports whether file (as found in the search path) is a mask: a
// link to /dev/null, or an empty file (systemd's null_or_empty()).
func (l *lookup) masked(file string) (bool, error) {
	// Followed link by link, so that a link to /dev/null is seen as a
	// mask even under a root that has no /dev/null.
	p := file
	for links := 0; links <= 40; links++ {
		if path.Clean(p) == "/dev/null" {
			return true, nil
		}
		r, err := chase(l.root, p, false)
		if err != nil {
			return false, err
		}
		fi, err := os.Lstat(hostPath(l.root, r))
		if err != nil {
			return false, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			t, err := os.Readlink(hostPath(l.root, r))
			if err != nil {
				return false, err
			}
			if !strings.HasPrefix(t, "/") {
				t = path.Join(path.Dir(r), t)
			}
			p = t
			continue
		}
		return fi.Mode()&fs.ModeCharDevice != 0 || fi.Mode().IsRegular() && fi.Size() == 0, nil
	}
	return false, &fs.PathError{Op: "open", Path: file, Err: errLoop}
}

// dropInDirs lists the drop-in directories of a unit with the given names
// (its own name first) in systemd's order (unit_file_find_dropin_paths()):
// for each name and each search directory NAME.d, then the template's
// directory for an instance, then the directories of the name's dash
// prefixes ("foo-bar-baz.service" also reads "foo-bar-.service.d" and
// "foo-.service.d"); last, for each search directory, "service.d", which
// applies to every service. Directories are listed as found, duplicates
// (after links) dropped.
func (l *lookup) dropInDirs(names []string) []string {
	var dirs []string
	seen := map[string]bool{}
	add := func(d, name string) {
		p := path.Join(d, name+".d")
		r, err := chase(l.root, p, true)
		if err != nil || seen[r] {
			return
		}
		if fi, err := os.Stat(hostPath(l.root, r)); err != nil || !fi.IsDir() {
			return
		}
		seen[r] = true
		dirs = append(dirs, p)
	}
	var find func(d, name string)
	find = func(d, name string) {
		add(d, name)
		prefix, instance, suffix := splitUnitName(name)
		if instance != "" {
			find(d, prefix+"@"+suffix)
		}
		// Dash prefixes: "foo-bar-baz" -> "foo-bar-" -> "foo-".
		p := prefix
		if strings.HasSuffix(p, "-") {
			p = p[:len(p)-1]
		}
		i := strings.LastIndexByte(p, '-')
		if i <= 0 {
			return
		}
		next := p[:i+1]
		if instance != "" {
			next += "@" + instance
		}
		find(d, next+suffix)
	}
	for _, n := range names {
		for _, d := range l.dirs {
			find(d.dir, n)
		}
	}
	t := strings.TrimPrefix(unitSuffix(names[0]), ".")
	for _, d := range l.dirs {
		add(d.dir, t)
	}
	return dirs
}

// dropIns lists the drop-in files of the directories, as systemd's
// conf_files_list_strv() does: every *.conf that is not hidden, sorted by
// file name; of two files with one name, the one in the earlier directory
// is used and the other is not read. A file in an earlier directory that is
// empty or a link to /dev/null therefore masks a later one of the same
// name; masked is the set of such files, which add nothing.
func (l *lookup) dropIns(dirs []string) (files []string, masked map[string]bool) {
	byName := map[string]string{}
	for _, d := range dirs {
		r, err := chase(l.root, d, true)
		if err != nil {
			continue
		}
		entries, err := os.ReadDir(hostPath(l.root, r))
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".conf") || strings.HasPrefix(n, ".") || byName[n] != "" {
				continue
			}
			byName[n] = path.Join(d, n)
		}
	}
	var names []string
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	masked = map[string]bool{}
	for _, n := range names {
		f := byName[n]
		files = append(files, f)
		if m, err := l.masked(f); err == nil && m {
			masked[f] = true
		}
	}
	return files, masked
}

// readFile reads file (a path on the host) under the root, following links
// within it.
func readFile(root, file string) ([]byte, error) {
	r, err := chase(root, file, true)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(hostPath(root, r))
}

// isENOENT reports whether err says a file is missing.
func isENOENT(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
