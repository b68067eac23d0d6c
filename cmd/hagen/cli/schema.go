package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/schema"
)

const schemaHelp = `Print the CUE schema every spec is checked against. Its #Cluster is the top
level of a spec file, whether written in CUE, YAML or JSON.

Example:

    hagen schema > cluster.cue
`

func schemaCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "schema",
		Usage:       "print the embedded CUE schema",
		UsageText:   "hagen schema",
		Description: schemaHelp,
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usagef("schema takes no arguments")
			}
			_, err := fmt.Fprint(c.App.Writer, schema.Source)
			return err
		},
	}
}
