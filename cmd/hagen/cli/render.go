package cli

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
)

const renderHelp = `Compile a spec into the bundle: one tree per host mirroring its root
filesystem (hosts/<host>/), MANIFEST.json and RUNBOOK.md. Flags may follow
the spec.

Keys and certificates come from the secrets file (default secrets.yaml beside
the spec), which render creates when absent (mode 0600) and reuses when
present: the same spec and secrets file always give the same bytes. A CA is
never regenerated; a leaf certificate is re-issued only when the spec asks
for a different one or it nears expiry, with a warning that says which.

The bundle is written beside DIR and swapped into place, so DIR is either as
it was or complete. A DIR that is non-empty but not a hagen bundle is
refused unless --force is given.

With --cloud-init or --ignition, every host also gets user-data that lays
its files as the machine boots and starts what may start then (keepalived,
HAProxy); RUNBOOK.md's steps that need other hosts still run in order.

Examples:

    hagen render examples/stacked-keepalived.cue -o out/
    hagen render examples/stacked-keepalived.cue -o out/ --ignition
`

func renderCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "render",
		Usage:       "write the per-host bundle for a spec",
		UsageText:   "hagen render SPEC -o DIR [--secrets FILE] [--tar] [--cloud-init] [--ignition] [--force]",
		Description: renderHelp,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: flagOut, Aliases: []string{"o"}, Usage: "write the bundle to `DIR`"},
			&ucli.StringFlag{Name: flagSecrets, Usage: "the secrets `FILE` (default: secrets.yaml beside the spec)"},
			&ucli.BoolFlag{Name: flagTar, Usage: "also write tar/<host>.tar.gz for every host"},
			&ucli.BoolFlag{Name: flagCloud, Usage: "also write cloud-init/<host>.yaml, a #cloud-config user-data for every host (it holds the host's keys)"},
			&ucli.BoolFlag{Name: flagIgnition, Usage: "also write ignition/<host>.ign, an Ignition config (spec 3.4.0) for every host (it holds the host's keys)"},
			&ucli.BoolFlag{Name: flagForce, Usage: "replace DIR even if it is a non-empty directory that is not a hagen bundle"},
		},
		Action: runRender,
	}
}

func runRender(c *ucli.Context) error {
	out := c.String(flagOut)
	if out == "" {
		return usagef("render needs -o DIR, the directory to write the bundle to")
	}
	cs, err := compileSpec(c)
	if err != nil {
		return err
	}
	plan := cs.res.Plan
	if err := bundle.CheckTarget(out, c.Bool(flagForce)); err != nil {
		return err
	}
	secretsPath := cs.secretsPath
	unlock, err := lockSecrets(secretsPath)
	if err != nil {
		return err
	}
	defer unlock()
	// The plan was made from the file as read before the lock; another
	// render may have written it since: then plan again from what it
	// wrote (the lock is held now).
	before := cs.raw
	if err := cs.readSecrets(); err != nil {
		return err
	}
	if !bytes.Equal(before, cs.raw) {
		if cs, err = compileSpec(c); err != nil {
			return err
		}
		plan = cs.res.Plan
	}
	printWarnings(c.App.ErrWriter, cs.res.Warnings)
	old := cs.secrets
	issued, err := (&pki.Issuer{}).Ensure(plan, old)
	if err != nil {
		return withFile(secretsPath, err)
	}
	warn := c.App.ErrWriter
	for _, w := range issued.Warnings {
		fmt.Fprintf(warn, "warning: %s\n", w)
	}
	for _, r := range issued.Reissued {
		fmt.Fprintf(warn, "warning: re-issued %s for %s (%s): copy the new files, then restart %s there\n", r.Cert, r.Host, r.Reason, r.Restart)
	}
	b, err := render.RenderWith(plan, issued.Secrets, render.Options{Tarballs: c.Bool(flagTar), CloudInit: c.Bool(flagCloud), Ignition: c.Bool(flagIgnition)})
	if err != nil {
		return err
	}

	stdout := c.App.Writer
	if issued.Changed {
		data, err := issued.Secrets.Marshal()
		if err != nil {
			return err
		}
		if err := pki.WriteFileAtomic(secretsPath, data, 0o600); err != nil {
			return fmt.Errorf("writing secrets: %w", err)
		}
		if old == nil {
			fmt.Fprintf(stdout, "created %s: every CA and key of cluster %s. Keep it safe and backed up: losing it means new CAs\n", secretsPath, plan.Name)
		}
	}
	summary := fmt.Sprintf("%d files for %d hosts", len(b.Files()), len(plan.Hosts))
	if bundle.Unchanged(out, b) {
		fmt.Fprintf(stdout, "%s is up to date (%s)\n", out, summary)
		return nil
	}
	if err := bundle.Write(out, b, c.Bool(flagForce)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s); apply it in the order of %s\n", out, summary, filepath.Join(out, "RUNBOOK.md"))
	return nil
}

// secretsPathFor is --secrets, or secrets.yaml beside the spec.
func secretsPathFor(c *ucli.Context, specPath string) string {
	if p := c.String(flagSecrets); p != "" {
		return p
	}
	return filepath.Join(filepath.Dir(specPath), "secrets.yaml")
}

// withFile names the secrets file in a SecretsError that lacks it.
func withFile(path string, err error) error {
	var se *pki.SecretsError
	if errors.As(err, &se) && se.File == "" {
		se.File = path
	}
	return err
}
