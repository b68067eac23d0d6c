package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/compiler"
)

// compileSpec reads and compiles the one spec file a verb takes, printing
// the compiler's warnings.
func compileSpec(c *ucli.Context) (string, *compiler.Result, error) {
	if c.NArg() != 1 {
		return "", nil, usagef("%s takes exactly one spec file, got %d arguments (see 'hagen %s --help')", c.Command.Name, c.NArg(), c.Command.Name)
	}
	path := c.Args().First()
	src, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "", nil, usagef("spec file %s does not exist", path)
		}
		return "", nil, fmt.Errorf("reading spec: %w", err)
	}
	res, err := compiler.Compile(path, src)
	if err != nil {
		return "", nil, err
	}
	printWarnings(c.App.ErrWriter, res.Warnings)
	return path, res, nil
}
