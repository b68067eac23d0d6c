package cli

import (
	"fmt"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/inspect"
)

const verifyHelp = `Re-check a rendered bundle on disk, without the spec or the secrets file:
before copying it to the hosts, or after it went through git, a CI artifact
store or a colleague's laptop.

  - every file MANIFEST.json lists is present, with its sha256 and its mode,
    and nothing else is in the tree;
  - no private key is readable by group or other;
  - every certificate under etc/kubernetes/pki chains to the CA on the same
    host, for the usages it serves (etcd server and peer certs for server
    and client auth), and every key matches its certificate (the
    service-account key: its public half);
  - the CAs and the service-account key pair are the same bytes on every
    host that holds them;
  - each etcd member's server and peer certificates name its host name and
    the address MANIFEST.json gives it;
  - nothing has expired (by --at DATE, if given). A certificate that
    expires within 30 days is a warning.

Each problem is printed on stderr as "PATH: what is wrong", where PATH is a
path in the bundle or HOST:/target/path; the exit status is then 1.

Example:

    hagen render examples/stacked-keepalived.cue -o out/
    hagen verify out/
`

func verifyCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "verify",
		Usage:       "re-check a bundle: manifest hashes, cert chains, SANs, expiry, modes",
		UsageText:   "hagen verify DIR [--at DATE]",
		Description: verifyHelp,
		Flags:       []ucli.Flag{atFlag()},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("verify takes exactly one bundle directory, got %d arguments (see 'hagen verify --help')", c.NArg())
			}
			dir := c.Args().First()
			if err := checkBundleDir(dir); err != nil {
				return err
			}
			at, err := atTime(c)
			if err != nil {
				return err
			}
			findings, warnings, err := inspect.Verify(dir, at)
			if err != nil {
				return err
			}
			for _, w := range warnings {
				fmt.Fprintf(c.App.ErrWriter, "warning: %s\n", w)
			}
			if len(findings) > 0 {
				lines := make([]string, 0, len(findings)+1)
				for _, f := range findings {
					lines = append(lines, f.String())
				}
				lines = append(lines, fmt.Sprintf("bundle %s: %d %s", dir, len(findings), plural(len(findings), "problem")))
				return findingsError{summary: strings.Join(lines, "\n")}
			}
			m, err := inspect.ReadManifest(dir)
			if err != nil {
				return err
			}
			files := len(m.Files)
			for _, h := range m.Hosts {
				files += len(h.Files)
			}
			_, err = fmt.Fprintf(c.App.Writer, "bundle %s: %d files on %d hosts verified\n", dir, files, len(m.Hosts))
			return err
		},
	}
}

// checkBundleDir turns a bundle argument that is not a directory into a
// usage error: the command line names the wrong thing.
func checkBundleDir(dir string) error {
	info, err := os.Stat(dir)
	if os.IsNotExist(err) {
		return usagef("bundle directory %s does not exist", dir)
	}
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return usagef("%s is not a directory: a bundle is the directory render -o wrote", dir)
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
