package cli

import (
	ucli "github.com/urfave/cli/v2"
)

const renderHelp = `Compile a spec into the bundle: one tree per host mirroring its root
filesystem, MANIFEST.json and RUNBOOK.md. Flags may follow the spec.

Keys and certificates come from the secrets file (default secrets.yaml beside
the spec), which render creates when absent (mode 0600) and reuses when
present: the same spec and secrets file always give the same bytes.

Example:

    hagen render examples/stacked-keepalived.cue -o out/
`

func renderCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "render",
		Usage:       "write the per-host bundle for a spec",
		UsageText:   "hagen render SPEC -o DIR [--secrets FILE] [--tar]",
		Description: renderHelp,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: flagOut, Aliases: []string{"o"}, Usage: "write the bundle to `DIR`"},
			&ucli.StringFlag{Name: flagSecrets, Usage: "the secrets `FILE` (default: secrets.yaml beside the spec)"},
			&ucli.BoolFlag{Name: flagTar, Usage: "also write tar/<host>.tar.gz for every host"},
			&ucli.BoolFlag{Name: flagForce, Usage: "replace -o even if it is a non-empty directory that is not a hagen bundle"},
		},
		Action: runRender,
	}
}

func runRender(c *ucli.Context) error {
	if c.String(flagOut) == "" {
		return usagef("render needs -o DIR, the directory to write the bundle to")
	}
	_, _, err := compileSpec(c)
	if err != nil {
		return err
	}
	return errNoBundleYet
}
