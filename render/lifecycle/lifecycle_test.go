package lifecycle_test

import (
	"os"
	"strings"
	"testing"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/lifecycle"
)

// TestScriptsSayWhatChanged: each script prints a line starting with
// bundle.ChangedMarker where it changes the cluster, which the playbook's
// changed_when reads: a script without one would report every run as
// unchanged, even the one that added a member.
func TestScriptsSayWhatChanged(t *testing.T) {
	for _, example := range []string{"stacked-keepalived.cue", "external-etcd-haproxy.cue"} {
		path := "../../examples/" + example
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := compiler.Compile(path, src)
		if err != nil {
			t.Fatal(err)
		}
		files, err := lifecycle.Files(res.Plan)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("%s: no lifecycle scripts", example)
		}
		for _, f := range files {
			if !strings.Contains(string(f.Data), `echo "`+bundle.ChangedMarker+" ") {
				t.Errorf("%s: %s:%s never says what it changed (echo \"%s ...\")", example, f.Host, f.Path, bundle.ChangedMarker)
			}
		}
	}
}
