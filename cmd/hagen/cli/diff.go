package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/inspect"
)

const diffHelp = `Show what changes per host between two rendered bundles, read from disk
through their MANIFEST.json: hosts added and removed, and for each host the
files added, removed or changed (content, mode, owner). For a changed
certificate it names the fields that differ (subject, SANs added and
removed, validity, issuer, key, serial); for a text file it counts the
changed lines and shows them, at most 20, unless the file is secret (mode
0600). Keys never show their content.

The exit status is 0 whether or not the bundles differ, like git diff;
with --exit-code it is 1 when they differ.

Example (the second render after an edit of the spec):

    hagen render examples/stacked-keepalived.cue -o out/
    hagen render examples/stacked-keepalived.cue -o out.new/
    hagen diff out/ out.new/
`

func diffCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "diff",
		Usage:       "show what changes per host between two bundles",
		UsageText:   "hagen diff OLD NEW [--exit-code]",
		Description: diffHelp,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: flagExitCode, Usage: "exit with status 1 if the bundles differ"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 2 {
				return usagef("diff takes two bundle directories, OLD and NEW, got %d arguments (see 'hagen diff --help')", c.NArg())
			}
			oldDir, newDir := c.Args().Get(0), c.Args().Get(1)
			for _, d := range []string{oldDir, newDir} {
				if err := checkBundleDir(d); err != nil {
					return err
				}
			}
			r, err := inspect.Diff(oldDir, newDir)
			if err != nil {
				return err
			}
			if err := r.Write(c.App.Writer); err != nil {
				return err
			}
			if c.Bool(flagExitCode) && !r.Empty() {
				return findingsError{summary: fmt.Sprintf("bundles %s and %s differ", oldDir, newDir)}
			}
			return nil
		},
	}
}
