package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/schema"
)

const schemaHelp = `Print the CUE schema every spec is checked against. Its #Cluster is the top
level of a spec file, whether written in CUE, YAML or JSON. With --openapi,
print it as an OpenAPI 3 document (CUE's own encoder) for editors: point the
YAML language server at components.schemas.Cluster to get completion and
checks while writing a YAML spec.

Example:

    hagen schema --openapi > hagen.openapi.json
`

func schemaCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "schema",
		Usage:       "print the embedded CUE schema (or, with --openapi, as OpenAPI)",
		UsageText:   "hagen schema [--openapi]",
		Description: schemaHelp,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: flagOpenAPI, Usage: "print the schema as an OpenAPI 3 document"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usagef("schema takes no arguments")
			}
			if c.Bool(flagOpenAPI) {
				out, err := schema.OpenAPI()
				if err != nil {
					return err
				}
				_, err = c.App.Writer.Write(out)
				return err
			}
			_, err := fmt.Fprint(c.App.Writer, schema.Source)
			return err
		},
	}
}
