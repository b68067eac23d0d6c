package agent

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// tmpfilesDirs are systemd-tmpfiles' configuration directories, the first
// holding a file name winning (tmpfiles.d(5)).
var tmpfilesDirs = []string{"/etc/tmpfiles.d", "/run/tmpfiles.d", "/usr/lib/tmpfiles.d"}

// createRuntimeDirs does at boot what systemd-tmpfiles --create does for
// the lines that make directories under /run ("d" and "D"): packages rely
// on it (HAProxy's /run/haproxy for its stats socket). Other lines, and
// paths outside /run (which a host keeps on its disk), are left alone.
func createRuntimeDirs() {
	seen := map[string]bool{}
	var files []string
	for _, dir := range tmpfilesDirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".conf") || seen[e.Name()] {
				continue
			}
			seen[e.Name()] = true
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 || fields[0] != "d" && fields[0] != "D" || !strings.HasPrefix(fields[1], "/run/") {
				continue
			}
			mode := os.FileMode(0o755)
			if len(fields) > 2 && fields[2] != "-" {
				if m, err := strconv.ParseUint(fields[2], 8, 32); err == nil {
					mode = os.FileMode(m)
				}
			}
			if err := os.MkdirAll(fields[1], 0o755); err != nil {
				continue
			}
			_ = os.Chmod(fields[1], mode&os.ModePerm|modeBits(mode))
			owner, group := field(fields, 3), field(fields, 4)
			if uid, gid, err := ids(owner, group); err == nil {
				_ = os.Chown(fields[1], uid, gid)
			}
		}
		fh.Close()
	}
}

// modeBits carries setgid and sticky bits from a tmpfiles mode.
func modeBits(m os.FileMode) os.FileMode {
	var out os.FileMode
	if m&0o2000 != 0 {
		out |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
}

func field(f []string, i int) string {
	if i < len(f) && f[i] != "-" {
		return f[i]
	}
	return ""
}
