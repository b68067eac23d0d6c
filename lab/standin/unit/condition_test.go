package unit

import (
	"strings"
	"testing"
)

// Conditions and asserts, systemd.unit(5). Each case was started under
// systemd 252 with the same files: it ran exactly when ok is true here.
func TestCheckConditions(t *testing.T) {
	files := map[string]string{
		"/etc/empty":         "",
		"/etc/file":          "x\n",
		"/etc/link":          "-> /etc/file", // absolute: followed under the root
		"/etc/dangling":      "-> /etc/nothing",
		"/srv/full/a":        "x",
		"/srv/hidden/.x":     "x",
		"/srv/hidden/b~":     "x",
		"/usr/bin/tool":      "#!/bin/sh\n",
		"/etc/conf.d/a.conf": "x",
	}
	for _, tc := range []struct {
		name, unit string
		ok         bool
		failed     string // the condition reported, when not ok
	}{
		{"no conditions", "", true, ""},
		{"file not empty", "ConditionFileNotEmpty=/etc/file", true, ""},
		{"empty file", "ConditionFileNotEmpty=/etc/empty", false, "ConditionFileNotEmpty=/etc/empty"},
		{"missing file", "ConditionFileNotEmpty=/etc/nothing", false, "ConditionFileNotEmpty=/etc/nothing"},
		{"through a link", "ConditionFileNotEmpty=/etc/link\nConditionPathIsSymbolicLink=/etc/link", true, ""},
		{"a dangling link does not exist", "ConditionPathExists=/etc/dangling", false, "ConditionPathExists=/etc/dangling"},
		{"negated", "ConditionPathExists=!/etc/file", false, "ConditionPathExists=!/etc/file"},
		{"negated, missing", "ConditionPathExists=!/etc/nothing", true, ""},
		{"blanks after | and !", "ConditionPathExists=| ! /etc/nothing", true, ""},
		{"one trigger holds", "ConditionPathExists=|/etc/nothing\nConditionPathExists=|/etc/file", true, ""},
		{"no trigger holds", "ConditionPathExists=|/etc/nothing\nConditionPathExists=|!/etc/file", false, "ConditionPathExists=|/etc/nothing"},
		{"triggers and a plain condition", "ConditionPathExists=|/etc/file\nConditionPathExists=/etc/nothing", false, "ConditionPathExists=/etc/nothing"},
		{"an empty value resets", "ConditionPathExists=/etc/nothing\nConditionPathExists=", true, ""},
		{"directory not empty", "ConditionDirectoryNotEmpty=/srv/full", true, ""},
		{"hidden and backup files do not count", "ConditionDirectoryNotEmpty=/srv/hidden", false, "ConditionDirectoryNotEmpty=/srv/hidden"},
		{"is a directory", "ConditionPathIsDirectory=/srv\nConditionPathIsDirectory=!/etc/file", true, ""},
		{"glob", "ConditionPathExistsGlob=/etc/conf.d/*.conf", true, ""},
		{"executable", "ConditionFileIsExecutable=/etc/file", false, "ConditionFileIsExecutable=/etc/file"},
		{"conditions before asserts", "AssertPathExists=/etc/nothing\nConditionPathExists=/etc/nothing", false, "ConditionPathExists=/etc/nothing"},
		{"an assert", "ConditionPathExists=/etc/file\nAssertPathExists=/etc/nothing", false, "AssertPathExists=/etc/nothing"},
		{"a condition reset leaves asserts", "AssertPathExists=/etc/nothing\nConditionPathExists=", false, "AssertPathExists=/etc/nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := map[string]string{"/etc/systemd/system/x.service": "[Unit]\n" + tc.unit + "\n[Service]\nExecStart=/bin/true\n"}
			for p, c := range files {
				fs[p] = c
			}
			root := host(t, fs)
			u := load(t, root, "x.service")
			ok, failed, err := u.CheckConditions(root)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if failed != nil {
				got = failed.String()
			}
			if ok != tc.ok || got != tc.failed {
				t.Errorf("CheckConditions = %v, %q; want %v, %q", ok, got, tc.ok, tc.failed)
			}
			if failed != nil && failed.Assert() != strings.HasPrefix(tc.failed, "Assert") {
				t.Errorf("failed.Assert() = %v for %s", failed.Assert(), tc.failed)
			}
		})
	}
	// What the stand-in cannot know is an error, not a guess.
	root := host(t, map[string]string{"/etc/systemd/system/x.service": "[Unit]\nConditionVirtualization=container\n[Service]\nExecStart=/bin/true\n"})
	if _, _, err := load(t, root, "x.service").CheckConditions(root); err == nil {
		t.Error("ConditionVirtualization= evaluated without an error")
	}
}
