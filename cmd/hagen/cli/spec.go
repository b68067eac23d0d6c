package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/pki"
)

// compiled is a spec compiled against the history in its secrets file.
type compiled struct {
	specPath    string
	res         *compiler.Result
	secretsPath string
	// secrets is the file's content as read, nil if there is none, and
	// raw its bytes: a render compares them under the lock.
	secrets *pki.Secrets
	raw     []byte
}

// compileSpec reads the one spec file a verb takes and its secrets file
// (--secrets, or secrets.yaml beside the spec), compiles the spec against
// the cluster's history in that file. The caller prints the warnings.
func compileSpec(c *ucli.Context) (*compiled, error) {
	if c.NArg() != 1 {
		return nil, usagef("%s takes exactly one spec file, got %d arguments (see 'hagen %s --help')", c.Command.Name, c.NArg(), c.Command.Name)
	}
	path := c.Args().First()
	src, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, usagef("spec file %s does not exist", path)
		}
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	out := &compiled{specPath: path, secretsPath: secretsPathFor(c, path)}
	if err := out.readSecrets(); err != nil {
		return nil, err
	}
	var opts compiler.Options
	if s := out.secrets; s != nil {
		opts = compiler.Options{History: s.History, Cluster: s.Cluster, Secrets: out.secretsPath}
	}
	out.res, err = compiler.CompileWith(path, src, opts)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readSecrets reads and checks the secrets file, if there is one.
func (cs *compiled) readSecrets() error {
	raw, err := os.ReadFile(cs.secretsPath)
	if os.IsNotExist(err) {
		cs.secrets, cs.raw = nil, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading secrets: %w", err)
	}
	s, err := pki.ParseSecrets(cs.secretsPath, raw)
	if err != nil {
		return err
	}
	cs.secrets, cs.raw = s, raw
	return nil
}
