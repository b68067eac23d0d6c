package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
)

// toolsEnv names the directory of the tools built by `make tools`. Its
// presence switches the suite on: without it every test skips, with it a
// missing tool fails.
const toolsEnv = "HAGEN_TOOLS_BIN"

// scratch is the suite's root temporary directory, removed by TestMain.
var scratch string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv(toolsEnv) != "" {
			dir, err := os.MkdirTemp("", "hagen-conformance-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 3
			}
			// keepalived refuses check scripts below a directory that
			// others can write to; MkdirTemp makes it 0700 already.
			scratch = dir
			defer os.RemoveAll(dir)
		}
		return m.Run()
	}()
	os.Exit(code)
}

// needTools skips t unless the suite is switched on.
func needTools(t testing.TB) {
	t.Helper()
	if os.Getenv(toolsEnv) == "" {
		t.Skip("run make conformance (" + toolsEnv + " is not set)")
	}
}

// tool returns the path of a required program. Programs built by `make
// tools` are looked up in $HAGEN_TOOLS_BIN, the others in PATH and the sbin
// directories. A missing tool fails the test: the suite never skips a
// check silently.
func tool(t testing.TB, name string) string {
	t.Helper()
	needTools(t)
	if p := filepath.Join(os.Getenv(toolsEnv), name); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p
		}
	}
	t.Fatalf("required tool %q not found in $%s (%s) or PATH: run make tools", name, toolsEnv, os.Getenv(toolsEnv))
	return ""
}

// toolAt returns path after checking it is executable.
func toolAt(t testing.TB, path string) string {
	t.Helper()
	needTools(t)
	if !isExecutable(path) {
		t.Fatalf("required tool %s is missing: run make tools", path)
	}
	return path
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// run executes a command with a deadline and returns its combined output.
// A non-zero exit, a timeout or a failure to start is an error that quotes
// the output.
func run(timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	var out bytes.Buffer
	err := runTo(&out, &out, timeout, dir, env, name, args...)
	if err != nil {
		return out.String(), fmt.Errorf("%w\n%s", err, indent(out.String()))
	}
	return out.String(), nil
}

// runTo is run with separate stdout and stderr; its error does not quote
// the output.
func runTo(stdout, stderr *bytes.Buffer, timeout time.Duration, dir string, env []string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: timed out after %s", filepath.Base(name), strings.Join(args, " "), timeout)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return nil
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// shq quotes s for sh.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fixture is one rendered spec: the bundle written to disk and the inputs
// that made it.
type fixture struct {
	name    string
	dir     string // the bundle directory, as `hagen render -o` writes it
	plan    *model.Plan
	secrets *pki.Secrets
	bundle  *bundle.Bundle
}

// hostPath is where the bundle keeps host's file at absolute path p.
func (f *fixture) hostPath(host, p string) string {
	return filepath.Join(f.dir, "hosts", host, filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

// hostFile returns host's file at p and whether it exists.
func (f *fixture) hostFile(host, p string) ([]byte, bool) {
	file, ok := f.bundle.Get(bundle.File{Host: host, Path: p}.BundlePath())
	return file.Data, ok
}

// files lists the bundle files (host files and bundle-level ones) whose
// target path matches the glob pattern, sorted by bundle path.
func (f *fixture) files(pattern string) []bundle.File {
	var out []bundle.File
	for _, file := range f.bundle.Files() {
		if ok, _ := filepath.Match(pattern, file.Path); ok {
			out = append(out, file)
		}
	}
	return out
}

func (f *fixture) path(file bundle.File) string {
	return filepath.Join(f.dir, filepath.FromSlash(file.BundlePath()))
}

// renderSpec compiles src (its format chosen by filename's extension),
// issues its secrets and writes its bundle below dir. It is the whole
// `hagen render` pipeline, minus the CLI.
func renderSpec(dir, filename string, src []byte, earlier ...string) (*fixture, error) {
	// The renders before this one leave their history in the secrets.
	var old *pki.Secrets
	compile := func(src []byte) (*compiler.Result, error) {
		var opts compiler.Options
		if old != nil {
			opts = compiler.Options{History: old.History, Cluster: old.Cluster}
		}
		return compiler.CompileWith(filename, src, opts)
	}
	for i, e := range earlier {
		res, err := compile([]byte(e))
		if err != nil {
			return nil, fmt.Errorf("compile render %d of %s: %w", i+1, filename, err)
		}
		sec, err := (&pki.Issuer{}).Ensure(res.Plan, old)
		if err != nil {
			return nil, fmt.Errorf("secrets for render %d of %s: %w", i+1, filename, err)
		}
		old = sec.Secrets
	}
	res, err := compile(src)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", filename, err)
	}
	sec, err := (&pki.Issuer{}).Ensure(res.Plan, old)
	if err != nil {
		return nil, fmt.Errorf("secrets for %s: %w", filename, err)
	}
	// Every case carries the optional transports too, so that each is
	// checked by its consumer and hagen verify.
	b, err := render.RenderWith(res.Plan, sec.Secrets, render.Options{CloudInit: true, Ignition: true})
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", filename, err)
	}
	out := filepath.Join(dir, "out")
	if err := bundle.Write(out, b, false); err != nil {
		return nil, fmt.Errorf("write %s: %w", filename, err)
	}
	return &fixture{name: filename, dir: out, plan: res.Plan, secrets: sec.Secrets, bundle: b}, nil
}

// renderFresh renders src into a directory of t's own.
func renderFresh(t testing.TB, filename, src string) *fixture {
	t.Helper()
	f, err := renderSpec(t.TempDir(), filename, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Rendered fixtures are shared by every test: each case renders once.
var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixtureOnce{}
)

type fixtureOnce struct {
	once sync.Once
	f    *fixture
	err  error
}

// load returns c rendered, rendering it on first use.
func load(t testing.TB, c specCase) *fixture {
	t.Helper()
	needTools(t)
	fixturesMu.Lock()
	fo := fixtures[c.name]
	if fo == nil {
		fo = &fixtureOnce{}
		fixtures[c.name] = fo
	}
	fixturesMu.Unlock()
	fo.once.Do(func() {
		dir := filepath.Join(scratch, "fixtures", c.name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			fo.err = err
			return
		}
		fo.f, fo.err = renderSpec(dir, c.filename, []byte(c.src), c.earlier...)
	})
	if fo.err != nil {
		t.Fatalf("case %s: %v", c.name, fo.err)
	}
	return fo.f
}

// forEachCase runs fn as a parallel subtest for every case.
func forEachCase(t *testing.T, fn func(t *testing.T, f *fixture)) {
	needTools(t)
	for _, c := range allCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fn(t, load(t, c))
		})
	}
}

// errs joins the non-nil errors of a check run over many files.
type errs []error

func (e *errs) add(err error) {
	if err != nil {
		*e = append(*e, err)
	}
}

func (e errs) err() error { return errors.Join(e...) }

// snapshot maps every regular file below dir to its contents.
func snapshot(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		out[rel] = data
		return err
	})
	return out, err
}

// copyTree copies the regular files and directories of src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
