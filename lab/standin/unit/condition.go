package unit

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Condition is one Condition*= or Assert*= setting (systemd.unit(5),
// "Conditions and Asserts").
type Condition struct {
	Key     string // e.g. "ConditionFileNotEmpty" or "AssertPathExists"
	Value   string // specifiers resolved, without the "|" and "!" prefixes
	Trigger bool   // "|": the unit starts if any triggering condition holds
	Negate  bool   // "!"
	File    string // where it was written
	Line    int
}

// Assert reports whether c is an Assert*= setting: when it fails, systemd
// fails the start; when a Condition*= fails, it skips the start quietly.
func (c Condition) Assert() bool { return strings.HasPrefix(c.Key, "Assert") }

func (c Condition) String() string {
	p := ""
	if c.Trigger {
		p = "|"
	}
	if c.Negate {
		p += "!"
	}
	return c.Key + "=" + p + c.Value
}

// kind is the condition without its Condition or Assert prefix.
func (c Condition) kind() string {
	if c.Assert() {
		return strings.TrimPrefix(c.Key, "Assert")
	}
	return strings.TrimPrefix(c.Key, "Condition")
}

// pathConditions take an absolute path (config_parse_unit_condition_path()).
var pathConditions = map[string]bool{
	"PathExists": true, "PathExistsGlob": true, "PathIsDirectory": true, "PathIsSymbolicLink": true,
	"PathIsMountPoint": true, "PathIsReadWrite": true, "PathIsEncrypted": true, "DirectoryNotEmpty": true,
	"FileNotEmpty": true, "FileIsExecutable": true, "NeedsUpdate": true,
}

// condition records a Condition*= or Assert*= setting. An empty value
// drops every condition of its family (all Condition*= or all Assert*=)
// written before it.
func (ld *loader) condition(a assignment) {
	assert := strings.HasPrefix(a.key, "Assert")
	if a.value == "" {
		kept := ld.u.Conditions[:0]
		for _, c := range ld.u.Conditions {
			if c.Assert() != assert {
				kept = append(kept, c)
			}
		}
		ld.u.Conditions = kept
		return
	}
	c := Condition{Key: a.key, File: a.file, Line: a.line}
	v := a.value
	if strings.HasPrefix(v, "|") {
		c.Trigger, v = true, strings.TrimLeft(v[1:], whitespace)
	}
	if strings.HasPrefix(v, "!") {
		c.Negate, v = true, strings.TrimLeft(v[1:], whitespace)
	}
	s, err := ld.sp.expand(v)
	if err != nil {
		ld.invalid(a, "%v", err)
		return
	}
	if pathConditions[c.kind()] {
		if !strings.HasPrefix(s, "/") {
			ld.invalid(a, "path is not absolute")
			return
		}
		s = simplifyPath(s)
	}
	c.Value = s
	ld.u.Conditions = append(ld.u.Conditions, c)
}

// CheckConditions evaluates the unit's conditions as systemd does before
// starting it, every path taken under root: first all Condition*= settings,
// then all Assert*= settings. Within each family every plain condition must
// hold, and if there are triggering ("|") conditions, at least one of them
// must hold too. ok is false when the unit would not start; failed is then
// the condition at fault (for a family whose triggering conditions all
// failed, the first of them). The conditions evaluated are the path ones
// (PathExists, PathExistsGlob, PathIsDirectory, PathIsSymbolicLink,
// DirectoryNotEmpty, FileNotEmpty, FileIsExecutable); any other is an
// error, as the stand-in cannot know its answer.
func (u *Unit) CheckConditions(root string) (ok bool, failed *Condition, err error) {
	for _, assert := range []bool{false, true} {
		triggered := -1 // no triggering condition seen
		var firstTrigger *Condition
		for i := range u.Conditions {
			c := &u.Conditions[i]
			if c.Assert() != assert {
				continue
			}
			r, err := c.test(root)
			if err != nil {
				return false, c, err
			}
			holds := r != c.Negate
			if c.Trigger {
				if firstTrigger == nil {
					firstTrigger = c
				}
				if triggered < 0 {
					triggered = 0
				}
				if holds {
					triggered = 1
				}
				continue
			}
			if !holds {
				return false, c, nil
			}
		}
		if triggered == 0 {
			return false, firstTrigger, nil
		}
	}
	return true, nil, nil
}

// test is the condition's raw result, before negation (condition.c).
func (c *Condition) test(root string) (bool, error) {
	p := c.Value
	stat := func() (fs.FileInfo, bool) {
		r, err := chase(root, p, true)
		if err != nil {
			return nil, false
		}
		fi, err := os.Stat(hostPath(root, r))
		return fi, err == nil
	}
	switch c.kind() {
	case "PathExists":
		_, ok := stat()
		return ok, nil
	case "PathExistsGlob":
		m, err := filepath.Glob(hostPath(root, p))
		return err == nil && len(m) > 0, nil
	case "PathIsDirectory":
		fi, ok := stat()
		return ok && fi.IsDir(), nil
	case "PathIsSymbolicLink":
		r, err := chase(root, p, false)
		if err != nil {
			return false, nil
		}
		fi, err := os.Lstat(hostPath(root, r))
		return err == nil && fi.Mode()&fs.ModeSymlink != 0, nil
	case "DirectoryNotEmpty":
		r, err := chase(root, p, true)
		if err != nil {
			return false, nil
		}
		entries, err := os.ReadDir(hostPath(root, r))
		if err != nil {
			// systemd counts a directory it cannot read as not empty, but
			// a missing path or a file as empty.
			return !isENOENT(err), nil
		}
		for _, e := range entries {
			if !hiddenOrBackup(e.Name()) {
				return true, nil
			}
		}
		return false, nil
	case "FileNotEmpty":
		fi, ok := stat()
		return ok && fi.Mode().IsRegular() && fi.Size() > 0, nil
	case "FileIsExecutable":
		fi, ok := stat()
		return ok && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0, nil
	}
	return false, fmt.Errorf("%s: %s cannot be evaluated by the stand-in", c, c.Key)
}

// hiddenOrBackup is systemd's hidden_or_backup_file(): names that
// directory scans skip.
func hiddenOrBackup(n string) bool {
	if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "~") {
		return true
	}
	for _, s := range []string{".rpmnew", ".rpmsave", ".rpmorig", ".dpkg-old", ".dpkg-new", ".dpkg-tmp", ".dpkg-dist", ".dpkg-bak", ".dpkg-backup", ".dpkg-remove", ".ucf-new", ".ucf-old", ".ucf-dist", ".swp", ".bak", ".old", ".new"} {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}
