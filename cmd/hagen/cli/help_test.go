package cli

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// exampleLines returns the commands of a help text's worked example: the
// indented lines after a line that starts with "Example".
func exampleLines(help string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(help, "\n") {
		switch {
		case strings.HasPrefix(l, "Example"):
			in = true
		case in && strings.HasPrefix(l, "    "):
			out = append(out, strings.TrimSpace(l))
		case in && strings.TrimSpace(l) != "":
			in = false
		}
	}
	return out
}

// TestHelpExamples runs every verb's worked example, as shown, in a fresh
// directory holding the repository's examples/: a help text that shows a
// command that fails is a bug.
func TestHelpExamples(t *testing.T) {
	examples, err := filepath.Abs("../../../examples")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	// The test binary is hagen when called by that name (TestMain).
	if err := os.Symlink(os.Args[0], filepath.Join(bin, "hagen")); err != nil {
		t.Fatal(err)
	}
	app := newApp(io.Discard, io.Discard)
	for _, cmd := range app.Commands {
		lines := exampleLines(cmd.Description)
		if len(lines) == 0 {
			t.Errorf("hagen %s: the help shows no example", cmd.Name)
			continue
		}
		t.Run(cmd.Name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(filepath.Join(dir, "examples"), os.DirFS(examples)); err != nil {
				t.Fatal(err)
			}
			for _, line := range lines {
				if !strings.HasPrefix(line, "hagen ") {
					t.Fatalf("example line %q does not run hagen", line)
				}
				sh := exec.Command("sh", "-ec", line)
				sh.Dir = dir
				sh.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
				if out, err := sh.CombinedOutput(); err != nil {
					t.Errorf("%s: %v\n%s", line, err, out)
				}
			}
		})
	}
}

func TestExampleLines(t *testing.T) {
	got := exampleLines("Text.\n\nExample (note):\n\n    hagen a\n    hagen b > x\n\nMore.\n    not this\n")
	if strings.Join(got, "|") != "hagen a|hagen b > x" {
		t.Errorf("got %q", got)
	}
}
