package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ignconfig "github.com/coreos/ignition/v2/config/v3_4"

	"github.com/hagen/hagen/render/cloudinit"
	"github.com/hagen/hagen/render/ignition"
)

// validateCloudConfig runs cloud-init's own schema validation (what
// `cloud-init schema --config-file` runs) over every file, in one Python
// process: one process per file costs seconds each.
const validateCloudConfig = `
import sys
from cloudinit.config.schema import get_schema, validate_cloudconfig_file, SchemaValidationError
schema = get_schema()
bad = 0
for path in sys.argv[1:]:
    try:
        validate_cloudconfig_file(path, schema)
    except SchemaValidationError as e:
        print(path + ": " + str(e))
        bad += 1
sys.exit(1 if bad else 0)
`

// cloudInitPython is the interpreter cloud-init runs with (its shebang):
// the schema module is importable there.
func cloudInitPython(t testing.TB) string {
	t.Helper()
	f, err := os.Open(tool(t, "cloud-init"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "#!") {
		t.Fatalf("cloud-init is not a Python script with a shebang: %q", line)
	}
	return strings.Fields(strings.TrimPrefix(line, "#!"))[0]
}

// checkCloudConfig validates every host's user-data of the bundle in dir
// with cloud-init's schema, and the first also with the CLI itself.
func checkCloudConfig(t testing.TB, dir string, hosts []string) error {
	var files []string
	for _, h := range hosts {
		files = append(files, filepath.Join(dir, cloudinit.Path(h)))
	}
	if _, err := run(2*time.Minute, dir, nil, cloudInitPython(t), append([]string{"-c", validateCloudConfig}, files...)...); err != nil {
		return err
	}
	_, err := run(time.Minute, dir, nil, tool(t, "cloud-init"), "schema", "--config-file", files[0])
	return err
}

// checkIgnition parses every host's config with Ignition's own config
// package: any error, and any warning (an unknown key, a bad mode), fails.
func checkIgnition(dir string, hosts []string) error {
	var e errs
	for _, h := range hosts {
		raw, err := os.ReadFile(filepath.Join(dir, ignition.Path(h)))
		if err != nil {
			return err
		}
		_, report, err := ignconfig.Parse(raw)
		if err != nil {
			e.add(fmt.Errorf("%s: %v\n%s", ignition.Path(h), err, report))
			continue
		}
		if len(report.Entries) > 0 {
			e.add(fmt.Errorf("%s: %s", ignition.Path(h), report))
		}
	}
	return e.err()
}

func TestCloudInitSchema(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		if err := checkCloudConfig(t, f.dir, hostNames(f)); err != nil {
			t.Error(err)
		}
	})
}

func TestIgnitionParses(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		if err := checkIgnition(f.dir, hostNames(f)); err != nil {
			t.Error(err)
		}
	})
}

// TestBrokenUserData: cloud-init's schema refuses a misspelt key, and
// Ignition's parser a file mode given as a string.
func TestBrokenUserData(t *testing.T) {
	f := caseNamed(t, "example-stacked-keepalived")
	hosts := hostNames(f)
	for _, tc := range []struct {
		what, path, old, new, want string
		check                      func(dir string) error
	}{
		{"cloud-init: a misspelt key", cloudinit.Path(hosts[0]), "  encoding: gz+b64\n", "  encodin: gz+b64\n", "encodin",
			func(dir string) error { return checkCloudConfig(t, dir, hosts) }},
		{"Ignition: a mode as a string", ignition.Path(hosts[0]), `"mode": 420,`, `"mode": "0644",`, "mode",
			func(dir string) error { return checkIgnition(dir, hosts) }},
	} {
		dir := t.TempDir()
		if err := copyTree(f.dir, dir); err != nil {
			t.Fatal(err)
		}
		mustPass(t, tc.what, tc.check(dir))
		p := filepath.Join(dir, tc.path)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		broken := bytes.Replace(raw, []byte(tc.old), []byte(tc.new), 1)
		if bytes.Equal(broken, raw) {
			t.Fatalf("%s: %s has no %q", tc.what, tc.path, tc.old)
		}
		if err := os.WriteFile(p, broken, 0o600); err != nil {
			t.Fatal(err)
		}
		mustFail(t, tc.what, tc.check(dir), tc.want)
	}
}

// hostNames are the bundle's hosts, in the manifest's order.
func hostNames(f *fixture) []string {
	var out []string
	for _, h := range f.plan.Hosts {
		out = append(out, h.Name)
	}
	return out
}
