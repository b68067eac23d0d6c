// Package e2e runs hagen-lab on the examples a lab can host and on bundles
// broken on purpose (make lab; it needs root, and the lab's binaries from
// tools/build.sh lab). Each run is a process of its own, one at a time:
// two labs would share two cores.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render"
	"github.com/hagen/hagen/render/bundle"
)

// labEnv enables the package: without it, a plain go test ./... passes it
// by (it takes a quarter of an hour and root). make lab sets it, and then
// nothing is skipped: a missing tool fails the run.
const labEnv = "HAGEN_LAB"

var labBinary string

func TestMain(m *testing.M) {
	if os.Getenv(labEnv) != "1" {
		fmt.Println("lab/e2e: set HAGEN_LAB=1 (make lab) to run the lab")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "hagen-lab-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	labBinary = filepath.Join(dir, "hagen-lab")
	build := exec.Command("go", "build", "-o", labBinary, "github.com/hagen/hagen/cmd/hagen-lab")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hagen-lab:", err)
		os.Exit(3)
	}
	// What a killed earlier run left (its hosts died with it; its
	// namespaces did not).
	clean := exec.Command(labBinary, "--clean")
	clean.Stdout, clean.Stderr = os.Stderr, os.Stderr
	if err := clean.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "hagen-lab --clean:", err)
		os.Exit(3)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// renderExample renders examples/<name> with fresh secrets into dir, after
// applying edits to the spec's text.
func renderExample(t *testing.T, name, dir string, edits ...string) string {
	t.Helper()
	return renderCluster(t, name, name, dir, edits...)
}

// renderCluster renders examples/<name> as the next render of the cluster
// key: with the secrets (and the history they keep) of key's earlier
// renders, as renders with one secrets file are.
func renderCluster(t *testing.T, key, name, dir string, edits ...string) string {
	t.Helper()
	path := filepath.Join("..", "..", "examples", name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(edits); i += 2 {
		if !bytes.Contains(src, []byte(edits[i])) {
			t.Fatalf("%s has no %q", name, edits[i])
		}
		src = bytes.Replace(src, []byte(edits[i]), []byte(edits[i+1]), 1)
	}
	var opts compiler.Options
	if old := secrets[key]; old != nil {
		opts = compiler.Options{History: old.History, Cluster: old.Cluster, Secrets: key}
	}
	res, err := compiler.CompileWith(path, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := (&pki.Issuer{}).Ensure(res.Plan, secrets[key])
	if err != nil {
		t.Fatal(err)
	}
	secrets[key] = issued.Secrets
	b, err := render.Render(res.Plan, issued.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.Write(dir, b, false); err != nil {
		t.Fatal(err)
	}
	return dir
}

// secrets keeps each cluster's secrets, so that a next render of the same
// cluster reuses its CAs and knows its membership, as a render with the
// same secrets file does.
var secrets = map[string]*pki.Secrets{}

// lab runs hagen-lab on bundles and returns its report and exit status.
func lab(t *testing.T, bundles ...string) (string, int) {
	t.Helper()
	return labArgs(t, nil, bundles...)
}

// labArgs is lab with more of hagen-lab's flags.
func labArgs(t *testing.T, flags []string, bundles ...string) (string, int) {
	t.Helper()
	bin := os.Getenv("HAGEN_TOOLS_BIN")
	if bin == "" {
		t.Fatal("HAGEN_TOOLS_BIN is not set: make lab sets it")
	}
	// A bound past every hagen-lab --timeout below (it cleans up first).
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, labBinary, append(append([]string{"--bin", bin, "--timeout", "20m"}, flags...), bundles...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	report := out.String()
	t.Logf("hagen-lab %s (exit %d, %s):\n%s", strings.Join(bundles, " "), code, time.Since(start).Round(time.Second), report)
	return report, code
}

// TestExamples: the examples a lab can host come up, pass every check and
// drill, and take every step a second time without a disturbance.
func TestExamples(t *testing.T) {
	for _, tc := range []struct {
		example string
		next    []string // spec edits for a next render, if any
	}{
		// stacked-keepalived.cue (stacked etcd under systemd, a VIP) is
		// TestAnsible's case, brought up by its playbook and drilled; a
		// next render is TestChanges' (grow, then replace).
		// external-etcd-haproxy.cue (external etcd as static pods, VIP
		// and HAProxy) is TestChanges' 3 -> 5 -> 3 case, drilled after
		// its last bundle: not run twice.
		{"cloud-lb.cue", nil},
		{"ipv6.cue", nil},
	} {
		t.Run(tc.example, func(t *testing.T) {
			dir := t.TempDir()
			bundles := []string{renderExample(t, tc.example, filepath.Join(dir, "first"))}
			if tc.next != nil {
				bundles = append(bundles, renderExample(t, tc.example, filepath.Join(dir, "next"), tc.next...))
			}
			// Every bundle is checked and re-applied; the drills run
			// after the last (a next render's drills are the same drills).
			report, code := labArgs(t, []string{"--drill-last"}, bundles...)
			if code != 0 || !strings.Contains(report, "\nPASSED: ") {
				t.Fatalf("hagen-lab exited %d; want every check and drill passed", code)
			}
			for name, n := range map[string]int{"etcd": len(bundles), "endpoint": len(bundles), "re-apply": len(bundles), "kube-proxy": len(bundles), "repoint kube-proxy": len(bundles),
				"drill: apiserver stopped": 1, "drill: master halted": 1, "drill: master back": 1} {
				// The report's line for the check of that name, as
				// lab/cli writes it (the name padded to its column).
				want := fmt.Sprintf("\nok   %-28s ", name)
				if got := strings.Count(report, want); got != n {
					t.Errorf("the report has %d lines %q, want %d", got, want, n)
				}
			}
		})
	}
}

// TestAnsible: the stacked example brought up by its own playbook, run
// from the operator's workstation over SSH; a second run of the whole
// play changes nothing on any host, nor does --check --diff, neither
// disturbs the cluster, and the drills pass after them.
func TestAnsible(t *testing.T) {
	out := renderExample(t, "stacked-keepalived.cue", filepath.Join(t.TempDir(), "out"))
	// Three plays and the drills: 17 min on the 2-core CI machine.
	report, code := labArgs(t, []string{"--transport", "ansible", "--timeout", "35m"}, out)
	if code != 0 || !strings.Contains(report, "\nPASSED: ") {
		t.Fatalf("hagen-lab exited %d; want every check and drill passed", code)
	}
	for name, n := range map[string]int{"playbook": 1, "playbook again": 1, "playbook --check --diff": 1,
		"etcd": 1, "endpoint": 1, "nodes": 1, "kube-proxy": 1, "repoint kube-proxy": 1, "re-apply": 0,
		"drill: apiserver stopped": 1, "drill: master halted": 1, "drill: master back": 1} {
		want := fmt.Sprintf("\nok   %-28s ", name)
		if got := strings.Count(report, want); got != n {
			t.Errorf("the report has %d lines %q, want %d", got, want, n)
		}
	}
	for _, want := range []string{"playbook again               changed=0 on every host", "playbook --check --diff      changed=0 on every host"} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

// breakBundle changes host files of a rendered bundle and puts their new
// digests into MANIFEST.json, as someone editing a bundle by hand would
// have to for it to be laid at all.
func breakBundle(t *testing.T, dir string, edit func(host, path string, data []byte) []byte) {
	t.Helper()
	mpath := filepath.Join(dir, bundle.ManifestName)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	var m bundle.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for host, mh := range m.Hosts {
		for i, f := range mh.Files {
			p := filepath.Join(dir, "hosts", host, f.Path)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out := edit(host, f.Path, data)
			if bytes.Equal(out, data) {
				continue
			}
			changed++
			if err := os.WriteFile(p, out, 0o600); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(out)
			mh.Files[i].SHA256 = hex.EncodeToString(sum[:])
		}
		m.Hosts[host] = mh
	}
	if changed == 0 {
		t.Fatal("the edit changed no file")
	}
	out, err := bundle.MarshalManifest(&m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mpath, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// breakSteps edits the steps' commands in MANIFEST.json.
func breakSteps(t *testing.T, dir, old, new string) {
	t.Helper()
	mpath := filepath.Join(dir, bundle.ManifestName)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("MANIFEST.json has no %q", old)
	}
	if err := os.WriteFile(mpath, bytes.ReplaceAll(raw, []byte(old), []byte(new)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// breakClusterFile changes one of the bundle's cluster/ files (those run
// once with kubectl) and puts its new digest into MANIFEST.json.
func breakClusterFile(t *testing.T, dir, path, old, new string) {
	t.Helper()
	p := filepath.Join(dir, path)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s has no %q", path, old)
	}
	data = bytes.ReplaceAll(data, []byte(old), []byte(new))
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, bundle.ManifestName)
	raw, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	var m bundle.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	found := false
	for i, f := range m.Files {
		if f.Path == path {
			sum := sha256.Sum256(data)
			m.Files[i].SHA256 = hex.EncodeToString(sum[:])
			found = true
		}
	}
	if !found {
		t.Fatalf("MANIFEST.json lists no %s", path)
	}
	out, err := bundle.MarshalManifest(&m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mpath, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenBundles: a bundle broken on purpose fails the lab (exit 1)
// with a finding that names the fault.
func TestBrokenBundles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		example string
		breakIt func(t *testing.T, dir string)
		want    []string // phrases the report must hold
	}{
		{
			name: "wrong etcd client certificate for the apiserver", example: "stacked-keepalived.cue",
			breakIt: func(t *testing.T, dir string) {
				// Another cluster's client pair: it chains to a CA etcd does
				// not trust.
				other := renderOther(t, "stacked-keepalived.cue")
				breakBundle(t, dir, func(host, path string, data []byte) []byte {
					if host == "master0" && strings.HasPrefix(path, "/etc/kubernetes/pki/apiserver-etcd-client.") {
						b, err := os.ReadFile(filepath.Join(other, "hosts", host, path))
						if err != nil {
							t.Fatal(err)
						}
						return b
					}
					return data
				})
			},
			want: []string{"FAIL steps", "step kubeadm-init on master0", "ExternalEtcdVersion", "certificate"},
		},
		{
			name: "HAProxy pointing at the wrong port", example: "external-etcd-haproxy.cue",
			breakIt: func(t *testing.T, dir string) {
				breakBundle(t, dir, func(host, path string, data []byte) []byte {
					if path == "/etc/haproxy/haproxy.cfg" {
						return bytes.ReplaceAll(data, []byte(":6443 check"), []byte(":6444 check"))
					}
					return data
				})
			},
			want: []string{"FAIL steps", "kubeadm-init (check) on master0", "backend 'apiservers' has no server available"},
		},
		{
			name: "a keepalived check script that never fails", example: "stacked-keepalived.cue",
			breakIt: func(t *testing.T, dir string) {
				breakBundle(t, dir, func(host, path string, data []byte) []byte {
					if path == "/etc/keepalived/check_apiserver.sh" {
						return []byte("#!/bin/sh\nexit 0\n")
					}
					return data
				})
			},
			want: []string{"FAIL drill: apiserver stopped", "the endpoint did not serve again within 1m0s after the apiserver on master0 stopped"},
		},
		{
			name: "a preflight ignore kubeadm does not have", example: "cloud-lb.cue",
			breakIt: func(t *testing.T, dir string) {
				breakSteps(t, dir, "FileAvailable--etc-kubernetes-manifests-etcd.yaml", "DirAvailable--etc-kubernetes-manifests")
			},
			want: []string{"FAIL steps", "step kubeadm-init on cp-a", "[ERROR FileAvailable--etc-kubernetes-manifests-etcd.yaml]"},
		},
		{
			// kubeadm points kube-proxy at the endpoint itself, so only the
			// check that mis-points it first can tell.
			name: "a kube-proxy re-pointing script that does not change the server", example: "stacked-keepalived.cue",
			breakIt: func(t *testing.T, dir string) {
				breakClusterFile(t, dir, "cluster/kube-proxy-repoint.sh", "patch configmap kube-proxy --type merge", "patch configmap kube-proxy --dry-run=server --type merge")
			},
			want: []string{"FAIL repoint kube-proxy", "the kube-proxy ConfigMap dials https://10.0.0.10:6443, want https://10.0.0.100:6443"},
		},
		{
			name: "a kube-proxy re-pointing script that always restarts", example: "stacked-keepalived.cue",
			breakIt: func(t *testing.T, dir string) {
				breakClusterFile(t, dir, "cluster/kube-proxy-repoint.sh", `if [ "$before" != "$after" ]; then`, "if true; then")
			},
			want: []string{"FAIL repoint kube-proxy", "a second run of kube-proxy-repoint.sh", "restarted kube-proxy or changed its configuration: the DaemonSet (generation"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := renderExample(t, tc.example, filepath.Join(t.TempDir(), "broken"))
			tc.breakIt(t, dir)
			report, code := lab(t, dir)
			if code != 1 {
				t.Errorf("hagen-lab exited %d on a broken bundle, want 1 (a check failed)", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(report, w) {
					t.Errorf("the report does not name the fault: no %q", w)
				}
			}
		})
	}
}

// renderOther renders an example with secrets of its own: another
// cluster's keys and certificates.
func renderOther(t *testing.T, name string) string {
	t.Helper()
	saved := secrets[name]
	delete(secrets, name)
	dir := renderExample(t, name, filepath.Join(t.TempDir(), "other"))
	secrets[name] = saved
	return dir
}

// Spec edits that keep the change cases small: one worker each.
var (
	// growOne is examples/grow/1-one-master.cue with one worker.
	growOne = []string{
		"\t\"node-b1\": {address: \"10.132.1.21\", roles: [\"worker\"], zone: \"europe-west1-b\"}\n", "",
		"\t\"node-b2\": {address: \"10.132.1.22\", roles: [\"worker\"], zone: \"europe-west1-b\"}\n", "",
	}
	// growThree is examples/grow/3-three-masters.cue with one worker.
	growThree = append(slices.Clone(growOne),
		"\t\"node-c0\": {address: \"10.132.2.20\", roles: [\"worker\"], zone: \"europe-west1-c\"}\n", "",
		"\t\"node-c1\": {address: \"10.132.2.21\", roles: [\"worker\"], zone: \"europe-west1-c\"}\n", "",
		"\t\"node-c2\": {address: \"10.132.2.22\", roles: [\"worker\"], zone: \"europe-west1-c\"}\n", "",
		"\t\"node-d0\": {address: \"10.132.3.20\", roles: [\"worker\"], zone: \"europe-west1-d\"}\n", "",
		"\t\"node-d1\": {address: \"10.132.3.21\", roles: [\"worker\"], zone: \"europe-west1-d\"}\n", "",
		"\t\"node-d2\": {address: \"10.132.3.22\", roles: [\"worker\"], zone: \"europe-west1-d\"}\n", "",
	)
	// externalThree is examples/external-etcd-haproxy.cue (external etcd
	// as static pods, keepalived and HAProxy: conformance's
	// change-external-3-5-3-static-pod) with one worker; externalFive
	// adds two etcd members.
	externalThree = []string{"\tworker1: {address: \"192.168.10.31\", roles: [\"worker\"]}\n", ""}
	externalFive  = append(slices.Clone(externalThree),
		"\tetcd2: {address: \"192.168.10.22\", roles: [\"etcd\"]}\n",
		"\tetcd2: {address: \"192.168.10.22\", roles: [\"etcd\"]}\n\tetcd3: {address: \"192.168.10.23\", roles: [\"etcd\"]}\n\tetcd4: {address: \"192.168.10.24\", roles: [\"etcd\"]}\n")
)

// TestChanges: changes of membership applied in turn to one live cluster
// (hagen-lab with several bundles, the renders of one secrets file), then
// a member replaced by a wiped machine. After each bundle every etcd
// member is healthy, the data written after the first is read back from
// each, the endpoint serves and the Nodes are exactly the bundle's.
func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		renders []struct {
			example string
			edits   []string
		}
		replace string
		flags   []string
		want    []string // report lines, each at least once
		count   map[string]int
	}{
		{
			// The seed post's walk: one master grows to three, stacked
			// etcd under systemd behind the cloud's load balancer; then
			// the init host is replaced.
			name: "grow 1 to 3 masters, stacked, then replace the init host",
			renders: []struct {
				example string
				edits   []string
			}{{"grow/1-one-master.cue", growOne}, {"grow/3-three-masters.cue", growThree}},
			replace: "master-b",
			want: []string{
				"drills skipped: apiserver stopped, master halted and master back mean failing over to another master, and first has 1",
				"ok   membership steps ", "add-etcd-member-master-c", "promote-etcd-member-master-d",
				"ok   data kept ", "ok   drill: replace master-b", "ok   replaced member ",
			},
			count: map[string]int{"ok   etcd ": 3, "ok   nodes ": 3, "ok   data kept ": 2, "ok   drill: master halted": 1},
		},
		{
			// External etcd as static pods, keepalived and HAProxy: two
			// members added, then removed again (the init host's masters
			// stay); then an etcd member replaced.
			name: "external etcd 3 to 5 to 3, static pods",
			renders: []struct {
				example string
				edits   []string
			}{{"external-etcd-haproxy.cue", externalThree}, {"external-etcd-haproxy.cue", externalFive}, {"external-etcd-haproxy.cue", externalThree}},
			replace: "etcd0",
			// The failover drills once, on the last bundle: the cluster
			// is the example's, drilled by TestExamples too.
			flags: []string{"--drill-last"},
			want: []string{
				"drills skipped on first (--drill-last)", "drills skipped on second (--drill-last)",
				"ok   membership steps ", "add-etcd-member-etcd3", "remove-etcd-member-etcd4",
				"the render drops etcd3: its machine is powered off",
				"ok   drill: replace etcd0", "ok   replaced member ",
			},
			count: map[string]int{"ok   etcd ": 4, "ok   data kept ": 3, "ok   re-apply ": 3, "ok   drill: master halted": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key := "change: " + tc.name
			var bundles []string
			names := []string{"first", "second", "third"}
			for i, r := range tc.renders {
				bundles = append(bundles, renderCluster(t, key, r.example, filepath.Join(dir, names[i]), r.edits...))
			}
			report, code := labArgs(t, append(tc.flags, "--replace", tc.replace), bundles...)
			if code != 0 || !strings.Contains(report, "\nPASSED: ") {
				t.Fatalf("hagen-lab exited %d; want every check and drill passed", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(report, w) {
					t.Errorf("the report has no %q", w)
				}
			}
			for w, n := range tc.count {
				if got := strings.Count(report, w); got != n {
					t.Errorf("the report has %d lines %q, want %d", got, w, n)
				}
			}
		})
	}
}

// TestBrokenChange: a change of membership whose new member starts as a
// new cluster (--initial-cluster-state new, where a member added to a
// running cluster needs existing) fails the lab with a finding that
// names the step and the member.
func TestBrokenChange(t *testing.T) {
	dir := t.TempDir()
	key := "broken change"
	first := renderCluster(t, key, "grow/1-one-master.cue", filepath.Join(dir, "first"), growOne...)
	next := renderCluster(t, key, "grow/3-three-masters.cue", filepath.Join(dir, "next"), growThree...)
	breakBundle(t, next, func(host, path string, data []byte) []byte {
		if host == "master-c" && path == "/etc/etcd.env" {
			return bytes.ReplaceAll(data, []byte("ETCD_INITIAL_CLUSTER_STATE=existing"), []byte("ETCD_INITIAL_CLUSTER_STATE=new"))
		}
		return data
	})
	report, code := lab(t, first, next)
	if code != 1 {
		t.Errorf("hagen-lab exited %d on a broken change, want 1 (a check failed)", code)
	}
	for _, w := range []string{"FAIL steps", "start-etcd-member-master-c", "master-c"} {
		if !strings.Contains(report, w) {
			t.Errorf("the report does not name the fault: no %q", w)
		}
	}
}

// TestBrokenAnsible: a playbook whose task claims a change on every run
// (changed_when: true where hagen's script prints what it changed) must
// fail the second run, naming the task and host. The seed post's one
// master and a worker behind the lab's load balancer keep it short, and
// put an operator action (the load balancer) before the play.
func TestBrokenAnsible(t *testing.T) {
	out := renderCluster(t, "broken ansible", "grow/1-one-master.cue", filepath.Join(t.TempDir(), "out"), growOne...)
	site := filepath.Join(out, "ansible", "site.yml")
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	const reads = "changed_when: hagen_step_out.stdout_lines | select('match', 'changed:') | list | length > 0"
	if !bytes.Contains(data, []byte(reads)) {
		t.Fatalf("%s has no %q", site, reads)
	}
	// The first is hagen-bootstrap-token's, on master-b.
	if err := os.WriteFile(site, bytes.Replace(data, []byte(reads), []byte("changed_when: true"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	report, code := labArgs(t, []string{"--transport", "ansible"}, out)
	if code != 1 {
		t.Errorf("hagen-lab exited %d on a playbook that does not converge, want 1 (a check failed)", code)
	}
	for _, w := range []string{"\nok   playbook ", "\nFAIL playbook again ", "did not converge: master-b changed=1; changed: Run hagen-bootstrap-token on master-b"} {
		if !strings.Contains(report, w) {
			t.Errorf("the report does not name the fault: no %q", w)
		}
	}
}
