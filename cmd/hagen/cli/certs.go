package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/pki"
)

const certsHelp = `List every certificate in a secrets file: the CAs, then each host's leaves,
with subject, SANs, key algorithm, expiry and days left. --json prints the
same as a JSON array for monitoring; --at DATE counts the days left from
DATE instead of today.

Example (render creates the secrets file beside the spec):

    hagen render examples/stacked-keepalived.cue -o out/
    hagen certs --secrets examples/secrets.yaml
`

func certsCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "certs",
		Usage:       "list the certificates in a secrets file with their expiry",
		UsageText:   "hagen certs [--secrets FILE] [--json] [--at DATE]",
		Description: certsHelp,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: flagSecrets, Value: "secrets.yaml", Usage: "the secrets `FILE`"},
			&ucli.BoolFlag{Name: flagJSON, Usage: "print JSON"},
			atFlag(),
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usagef("certs takes no arguments (the file is --secrets)")
			}
			at, err := atTime(c)
			if err != nil {
				return err
			}
			path := c.String(flagSecrets)
			raw, err := os.ReadFile(path)
			if err != nil {
				if os.IsNotExist(err) {
					return usagef("secrets file %s does not exist (render creates it; --secrets names another)", path)
				}
				return err
			}
			s, err := pki.ParseSecrets(path, raw)
			if err != nil {
				return err
			}
			certs, err := s.Inventory(at)
			if err != nil {
				return err
			}
			out := c.App.Writer
			if c.Bool(flagJSON) {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(certs)
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tHOST\tCN\tSANS\tALGORITHM\tNOT AFTER\tDAYS LEFT")
			for _, ci := range certs {
				host := ci.Host
				if host == "" {
					host = "-"
				}
				sans := strings.Join(ci.SANs, ",")
				if sans == "" {
					sans = "-"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", ci.Name, host, ci.CN, sans, ci.Algorithm, ci.NotAfter.Format(time.DateOnly), ci.DaysLeft)
			}
			return w.Flush()
		},
	}
}
