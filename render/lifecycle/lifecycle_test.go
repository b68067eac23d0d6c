package lifecycle_test

import (
	"strings"
	"testing"

	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/lifecycle"
)

// TestScriptsSayWhatChanged: each script prints a line starting with
// bundle.ChangedMarker where it changes the cluster, which the playbook's
// changed_when reads: a script without one would report every run as
// unchanged, even the one that added a member.
func TestScriptsSayWhatChanged(t *testing.T) {
	for _, example := range []string{"stacked-keepalived.cue", "external-etcd-haproxy.cue"} {
		files, err := lifecycle.Files(testplan.Example(t, example))
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
