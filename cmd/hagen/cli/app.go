// Package cli is hagen's command line: one file per verb, the mapping from
// errors to exit codes, and the one place errors are printed.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/inspect"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
)

// Exit codes, part of the contract (docs/ARCHITECTURE.md).
const (
	exitOK       = 0
	exitSpec     = 1 // the spec or bundle is wrong: the user's to fix
	exitUsage    = 2
	exitInternal = 3 // I/O or internal failure
)

// usageError is a command line that cannot be run as given.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// findingsError is a bundle or spec problem already reported in full; it
// only carries the exit status.
type findingsError struct{ summary string }

func (e findingsError) Error() string { return e.summary }

// Main runs hagen with args (without the program name) and returns its exit
// status. It never calls os.Exit, so tests drive it directly.
func Main(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	args, err := hoistFlags(app, args)
	if err == nil {
		err = app.Run(append([]string{"hagen"}, args...))
	}
	return report(err, stderr)
}

func newApp(stdout, stderr io.Writer) *ucli.App {
	app := &ucli.App{
		Name:      "hagen",
		Usage:     "compile a cluster spec into the files of a highly available Kubernetes control plane",
		UsageText: "hagen COMMAND [options] [arguments]",
		Description: "hagen never touches a machine: it validates a spec and writes a per-host tree\n" +
			"that Ansible, scp, rsync or a tarball lays onto each host, in RUNBOOK.md's order.",
		Writer:         stdout,
		ErrWriter:      stderr,
		HideVersion:    true,
		ExitErrHandler: func(*ucli.Context, error) {}, // Main maps errors to exit codes
		OnUsageError:   onUsageError,
		Commands: []*ucli.Command{
			renderCommand(),
			vetCommand(),
			schemaCommand(),
			certsCommand(),
			verifyCommand(),
			diffCommand(),
			initCommand(),
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	app.Action = func(c *ucli.Context) error {
		if c.NArg() > 0 {
			return usagef("unknown command %q: run 'hagen help' for the list", c.Args().First())
		}
		return ucli.ShowAppHelp(c)
	}
	return app
}

func onUsageError(_ *ucli.Context, err error, _ bool) error {
	return usageError{err.Error()}
}

// report prints err, if any, and returns the exit status it stands for.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var specErr compiler.Error
	var secretsErr *pki.SecretsError
	var notBundle *bundle.NotABundleError
	var badManifest *inspect.ManifestError
	var usage usageError
	var findings findingsError
	var exitCoder ucli.ExitCoder
	switch {
	case errors.As(err, &specErr):
		fmt.Fprintln(stderr, specErr.Error())
		return exitSpec
	case errors.As(err, &secretsErr), errors.As(err, &notBundle), errors.As(err, &badManifest):
		fmt.Fprintf(stderr, "hagen: %s\n", err)
		return exitSpec
	case errors.As(err, &findings):
		fmt.Fprintln(stderr, findings.summary)
		return exitSpec
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "hagen: %s\n", usage.msg)
		return exitUsage
	case errors.As(err, &exitCoder) && strings.HasPrefix(err.Error(), "No help topic"):
		fmt.Fprintf(stderr, "hagen: %s\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "hagen: %s\n", err)
	return exitInternal
}

// printWarnings writes each warning on its own line, prefixed "warning:".
func printWarnings(w io.Writer, warns []compiler.Warning) {
	for _, p := range warns {
		fmt.Fprintf(w, "warning: %s\n", p)
	}
}

// hoistFlags moves a command's flags in front of its positional arguments:
// urfave/cli stops parsing flags at the first positional, but operators
// write "hagen render spec.cue -o out/".
func hoistFlags(app *ucli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	var cmd *ucli.Command
	for _, c := range app.Commands {
		if c.HasName(args[0]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args, nil
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*ucli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, positional []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		// An unknown flag stays a flag, so urfave/cli reports it.
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		flags = append(flags, a)
		if takesValue[name] && !hasValue {
			if i+1 >= len(rest) {
				return nil, usagef("flag %s needs a value", a)
			}
			i++
			flags = append(flags, rest[i])
		}
	}
	out := append([]string{args[0]}, flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out, nil
}
