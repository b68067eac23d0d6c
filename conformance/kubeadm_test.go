package conformance

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
)

const (
	kubeadmYAML     = "/etc/kubernetes/kubeadm/kubeadm.yaml"
	kubeadmJoinYAML = "/etc/kubernetes/kubeadm/kubeadm-join.yaml" // the init host's, for its replacement
)

// kubeadmFor picks the kubeadm binary for plan p's configuration: the
// kubeadm of its own minor or the next one (kubeadm deploys a control plane
// at most one minor older than itself). kubeadm 1.37 validates and issues
// for 1.36 and 1.37, 1.35 for 1.31 to 1.35 (config validate; its
// certificate phase for 1.34 and 1.35), 1.30 for v1beta3.
func kubeadmFor(t testing.TB, p *model.Plan) string {
	t.Helper()
	name := ""
	switch v := p.Kubernetes.Version; {
	case p.Kubernetes.KubeadmAPI == model.KubeadmV1Beta3:
		name = "kubeadm-1.30"
	case p.Kubernetes.KubeadmAPI != model.KubeadmV1Beta4:
		t.Fatalf("no kubeadm binary for %s", p.Kubernetes.KubeadmAPI)
	case v.AtLeast(1, 36):
		name = "kubeadm-1.37"
	default:
		name = "kubeadm-1.35"
	}
	return toolAt(t, filepath.Join(os.Getenv(toolsEnv), name))
}

// yamlDocs splits a multi-document YAML stream and decodes each document.
func yamlDocs(data []byte) ([]map[string]any, error) {
	var docs []map[string]any
	for _, raw := range splitYAML(data) {
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		if m != nil {
			docs = append(docs, m)
		}
	}
	return docs, nil
}

func splitYAML(data []byte) [][]byte {
	var out [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if strings.TrimRight(string(line), " \r\n") == "---" {
			out = append(out, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(out, cur.Bytes())
}

// kubeadmAPIVersion is the one apiVersion every document of a kubeadm
// configuration file shares.
func kubeadmAPIVersion(data []byte) (string, error) {
	docs, err := yamlDocs(data)
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, d := range docs {
		v, _ := d["apiVersion"].(string)
		seen[v] = true
	}
	if len(seen) != 1 {
		return "", fmt.Errorf("want one apiVersion in the file, got %v", sortedKeys(seen))
	}
	for v := range seen {
		return v, nil
	}
	return "", nil
}

// checkKubeadmValidate: kubeadm's own strict decoder and validation
// accept the configuration file at path.
func checkKubeadmValidate(kubeadm, path string) error {
	_, err := run(time.Minute, "", nil, kubeadm, "config", "validate", "--config", path)
	return err
}

func TestKubeadmConfigValidate(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		n := 0
		// The init host's JoinConfiguration for its replacement too.
		for _, file := range append(f.files(kubeadmYAML), f.files(kubeadmJoinYAML)...) {
			api, err := kubeadmAPIVersion(file.Data)
			if err != nil {
				t.Errorf("%s: %v", file.BundlePath(), err)
				continue
			}
			if api != f.plan.Kubernetes.KubeadmAPI {
				t.Errorf("%s: apiVersion %s, the plan says %s", file.BundlePath(), api, f.plan.Kubernetes.KubeadmAPI)
			}
			if api == model.KubeadmV1Alpha1 {
				continue // TestKubeadmV1Alpha1Keys
			}
			if err := checkKubeadmValidate(kubeadmFor(t, f.plan), f.path(file)); err != nil {
				t.Errorf("%s: %v", file.BundlePath(), err)
			}
			n++
		}
		if want := len(f.plan.HostsWith(model.RoleControlPlane)) + len(f.plan.HostsWith(model.RoleWorker)) + 1; f.plan.Kubernetes.KubeadmAPI != model.KubeadmV1Alpha1 && n != want {
			t.Errorf("validated %d kubeadm configurations, want one per control-plane and worker host and the init host's rejoin (%d)", n, want)
		}
	})
}

// ---- v1alpha1: kubeadm 1.10's own types as the schema ----

// goKind is the JSON shape of a Go field type.
type goKind struct {
	kind   string  // struct, list, map, string, bool, number, any
	strct  string  // the struct type's name, for kind struct
	elem   *goKind // for kind list
	goType string  // for messages
}

// goSchema is the JSON view of the struct types of one Go file.
type goSchema map[string]map[string]goKind // type -> json name -> kind

// parseGoSchema reads the struct types of a Go source file and the json
// names of their fields, inlined embeddings included.
func parseGoSchema(path string) (goSchema, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	structs := map[string]*ast.StructType{}
	named := map[string]bool{}
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			named[ts.Name.Name] = true
			if st, ok := ts.Type.(*ast.StructType); ok {
				structs[ts.Name.Name] = st
			}
		}
	}
	var kindOf func(e ast.Expr) goKind
	kindOf = func(e ast.Expr) goKind {
		switch x := e.(type) {
		case *ast.StarExpr:
			return kindOf(x.X)
		case *ast.ArrayType:
			el := kindOf(x.Elt)
			return goKind{kind: "list", elem: &el, goType: "[]" + el.goType}
		case *ast.MapType:
			return goKind{kind: "map", goType: "map"}
		case *ast.Ident:
			switch x.Name {
			case "string":
				return goKind{kind: "string", goType: x.Name}
			case "bool":
				return goKind{kind: "bool", goType: x.Name}
			case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
				return goKind{kind: "number", goType: x.Name}
			}
			if structs[x.Name] != nil {
				return goKind{kind: "struct", strct: x.Name, goType: x.Name}
			}
			return goKind{kind: "any", goType: x.Name}
		case *ast.SelectorExpr:
			name := fmt.Sprint(x.X) + "." + x.Sel.Name
			switch name {
			case "metav1.Duration", "v1.PullPolicy":
				return goKind{kind: "string", goType: name}
			}
			return goKind{kind: "any", goType: name}
		}
		return goKind{kind: "any", goType: fmt.Sprintf("%T", e)}
	}
	schema := goSchema{}
	for name, st := range structs {
		fields := map[string]goKind{}
		for _, fld := range st.Fields.List {
			tag := ""
			if fld.Tag != nil {
				raw, _ := strconv.Unquote(fld.Tag.Value)
				tag = reflect.StructTag(raw).Get("json")
			}
			jsonName, opts, _ := strings.Cut(tag, ",")
			if tag == "-" {
				continue
			}
			if len(fld.Names) == 0 { // embedded
				if strings.Contains(opts, "inline") || jsonName == "" {
					if sel, ok := fld.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "TypeMeta" {
						fields["apiVersion"] = goKind{kind: "string", goType: "string"}
						fields["kind"] = goKind{kind: "string", goType: "string"}
					}
					continue
				}
			}
			if jsonName == "" {
				if len(fld.Names) == 0 {
					continue
				}
				jsonName = fld.Names[0].Name
			}
			fields[jsonName] = kindOf(fld.Type)
		}
		schema[name] = fields
	}
	return schema, nil
}

// checkAgainstGoSchema walks v (decoded YAML) against the Go type typ and
// returns every key the type does not have and every value of the wrong
// JSON shape.
func checkAgainstGoSchema(s goSchema, typ string, v any) error {
	var problems []string
	var walk func(path string, k goKind, v any)
	walk = func(path string, k goKind, v any) {
		switch k.kind {
		case "any":
			return
		case "string":
			if _, ok := v.(string); !ok {
				problems = append(problems, fmt.Sprintf("%s: want a string (%s), got %T", path, k.goType, v))
			}
		case "bool":
			if _, ok := v.(bool); !ok {
				problems = append(problems, fmt.Sprintf("%s: want a bool, got %T", path, v))
			}
		case "number":
			if _, ok := v.(float64); !ok {
				problems = append(problems, fmt.Sprintf("%s: want a number (%s), got %T", path, k.goType, v))
			}
		case "map":
			if _, ok := v.(map[string]any); !ok {
				problems = append(problems, fmt.Sprintf("%s: want a map, got %T", path, v))
			}
		case "list":
			l, ok := v.([]any)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: want a list (%s), got %T", path, k.goType, v))
				return
			}
			for i, e := range l {
				walk(fmt.Sprintf("%s[%d]", path, i), *k.elem, e)
			}
		case "struct":
			m, ok := v.(map[string]any)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: want an object (%s), got %T", path, k.strct, v))
				return
			}
			fields := s[k.strct]
			for _, key := range sortedKeys(m) {
				fk, ok := fields[key]
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: unknown field %q: kubeadm's %s has no such json tag", path, key, k.strct))
					continue
				}
				walk(strings.TrimPrefix(path+"."+key, "."), fk, m[key])
			}
		}
	}
	if s[typ] == nil {
		return fmt.Errorf("kubeadm's types have no %s", typ)
	}
	walk("", goKind{kind: "struct", strct: typ}, v)
	if len(problems) > 0 {
		return fmt.Errorf("not a valid %s:\n    %s", typ, strings.Join(problems, "\n    "))
	}
	return nil
}

// checkV1Alpha1: every document of a v1alpha1 configuration is a
// MasterConfiguration or NodeConfiguration whose every key exists, with
// the right shape, in kubeadm 1.10's own Go types.
func checkV1Alpha1(s goSchema, data []byte) error {
	docs, err := yamlDocs(data)
	if err != nil {
		return err
	}
	if len(docs) == 0 {
		return fmt.Errorf("no documents")
	}
	var e errs
	for _, d := range docs {
		if d["apiVersion"] != model.KubeadmV1Alpha1 {
			e.add(fmt.Errorf("apiVersion %v, want %s", d["apiVersion"], model.KubeadmV1Alpha1))
		}
		kind, _ := d["kind"].(string)
		if kind != "MasterConfiguration" && kind != "NodeConfiguration" {
			e.add(fmt.Errorf("kind %q: kubeadm 1.10 reads MasterConfiguration or NodeConfiguration", kind))
			continue
		}
		e.add(checkAgainstGoSchema(s, kind, d))
	}
	return e.err()
}

var (
	v1alpha1Once   sync.Once
	v1alpha1Schema goSchema
	v1alpha1Err    error
)

// kubeadm110Schema parses kubeadm 1.10's v1alpha1 types from the module
// cache (downloading k8s.io/kubernetes@v1.10.13 through the module proxy
// when needed).
func kubeadm110Schema(t testing.TB) goSchema {
	t.Helper()
	goTool := tool(t, "go")
	v1alpha1Once.Do(func() {
		dir, err := os.MkdirTemp(scratch, "gomod-")
		if err != nil {
			v1alpha1Err = err
			return
		}
		// Outside any module, so go.mod and go.sum stay untouched.
		env := append(os.Environ(), "GOFLAGS=", "GO111MODULE=on")
		out, err := run(5*time.Minute, dir, env, goTool, "mod", "download", "-json", "k8s.io/kubernetes@v1.10.13")
		if err != nil {
			v1alpha1Err = err
			return
		}
		var mod struct{ Dir, Error string }
		if err := json.Unmarshal([]byte(out), &mod); err != nil || mod.Dir == "" {
			v1alpha1Err = fmt.Errorf("go mod download k8s.io/kubernetes@v1.10.13: %v %s\n%s", err, mod.Error, out)
			return
		}
		v1alpha1Schema, v1alpha1Err = parseGoSchema(filepath.Join(mod.Dir, "cmd/kubeadm/app/apis/kubeadm/v1alpha1/types.go"))
	})
	if v1alpha1Err != nil {
		t.Fatal(v1alpha1Err)
	}
	for _, typ := range []string{"MasterConfiguration", "NodeConfiguration", "API", "Etcd", "Networking"} {
		if v1alpha1Schema[typ] == nil {
			t.Fatalf("kubeadm 1.10's v1alpha1 types lack %s", typ)
		}
	}
	return v1alpha1Schema
}

func TestKubeadmV1Alpha1Keys(t *testing.T) {
	needTools(t)
	n := 0
	for _, c := range allCases(t) {
		f := load(t, c)
		if f.plan.Kubernetes.KubeadmAPI != model.KubeadmV1Alpha1 {
			continue
		}
		n++
		t.Run(c.name, func(t *testing.T) {
			s := kubeadm110Schema(t)
			files := f.files(kubeadmYAML)
			if len(files) == 0 {
				t.Fatal("no kubeadm configuration in the bundle")
			}
			for _, file := range files {
				if err := checkV1Alpha1(s, file.Data); err != nil {
					t.Errorf("%s: %v", file.BundlePath(), err)
				}
			}
		})
	}
	if n == 0 {
		t.Error("no case renders kubeadm.k8s.io/v1alpha1: the check ran on nothing")
	}
}

// ---- kubeadm's certificate phase reuses hagen's PKI ----

// initConfigFor rewrites the first control-plane host's init configuration
// for host: its name and address, certificatesDir, and, when etcdLocal, a
// local etcd so that kubeadm also validates the etcd member certificates.
func initConfigFor(initCfg []byte, host *model.Host, certDir string, etcdLocal bool) ([]byte, error) {
	docs, err := yamlDocs(initCfg)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	kinds := map[string]bool{}
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		kinds[kind] = true
		switch kind {
		case "InitConfiguration":
			ep, _ := d["localAPIEndpoint"].(map[string]any)
			if ep == nil {
				ep = map[string]any{}
				d["localAPIEndpoint"] = ep
			}
			ep["advertiseAddress"] = host.Address.String()
			nr, _ := d["nodeRegistration"].(map[string]any)
			if nr == nil {
				nr = map[string]any{}
				d["nodeRegistration"] = nr
			}
			nr["name"] = host.Name
		case "ClusterConfiguration":
			d["certificatesDir"] = certDir
			if etcdLocal {
				d["etcd"] = map[string]any{"local": map[string]any{"dataDir": "/var/lib/etcd"}}
			}
		}
		b, err := yaml.Marshal(d)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if !kinds["InitConfiguration"] || !kinds["ClusterConfiguration"] {
		return nil, fmt.Errorf("not an init configuration: kinds %v", sortedKeys(kinds))
	}
	return bytes.Join(out, []byte("---\n")), nil
}

// checkKubeadmCerts runs `kubeadm init phase certs all` for host on a copy
// of pkiDir and requires that kubeadm reuses every file hagen placed: each
// is reported as existing and every file is byte-identical afterwards.
// With etcdLocal, kubeadm also loads the etcd member certificates and
// checks their chain.
//
// kubeadm's init phase does not check the SANs of a certificate it finds
// (only `join --control-plane` does, and that needs a cluster). So with
// etcdCAKey (the etcd CA key from the secrets file, which no host holds)
// kubeadm also issues its own etcd leaves for host from the CAs alone, and
// every hagen leaf must be a superset of kubeadm's: same CN and O, every
// SAN kubeadm computes, every usage kubeadm sets.
func checkKubeadmCerts(kubeadm string, initCfg []byte, host *model.Host, pkiDir string, etcdLocal bool, etcdCAKey []byte) error {
	tmp, err := os.MkdirTemp(scratch, "certs-"+host.Name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	certDir := filepath.Join(tmp, "pki")
	if err := copyTree(pkiDir, certDir); err != nil {
		return err
	}
	before, err := snapshot(certDir)
	if err != nil {
		return err
	}
	cfg, err := initConfigFor(initCfg, host, certDir, etcdLocal)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(tmp, "kubeadm.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return err
	}
	out, err := run(2*time.Minute, tmp, nil, kubeadm, "init", "phase", "certs", "all", "--config", cfgPath)
	if err != nil {
		return err
	}
	want := []string{
		"Using existing ca certificate authority",
		"Using existing front-proxy-ca certificate authority",
		`Using the existing "sa" key`,
	}
	if etcdLocal {
		want = append(want,
			"Using existing etcd/ca", // "keyless certificate authority": hosts never hold the etcd CA key
			"Using existing etcd/server certificate and key on disk",
			"Using existing etcd/peer certificate and key on disk",
			"Using existing etcd/healthcheck-client certificate and key on disk",
			"Using existing apiserver-etcd-client certificate and key on disk",
		)
	} else {
		want = append(want, "External etcd mode")
	}
	var problems []string
	for _, w := range want {
		if !strings.Contains(out, w) {
			problems = append(problems, fmt.Sprintf("kubeadm did not say %q", w))
		}
	}
	after, err := snapshot(certDir)
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(before) {
		if !bytes.Equal(before[name], after[name]) {
			problems = append(problems, fmt.Sprintf("kubeadm replaced %s", name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("kubeadm init phase certs all (%s):\n    %s\n%s", host.Name, strings.Join(problems, "\n    "), indent(out))
	}
	if etcdLocal && etcdCAKey != nil {
		return compareWithKubeadmLeaves(kubeadm, initCfg, host, certDir, etcdCAKey, tmp)
	}
	return nil
}

// etcdLeaves are the certificates kubeadm issues from the etcd CA.
var etcdLeaves = []string{"etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client"}

// compareWithKubeadmLeaves lets kubeadm issue host's etcd leaves from the
// CAs of ours (a copy holding no leaf) and compares ours with them.
func compareWithKubeadmLeaves(kubeadm string, initCfg []byte, host *model.Host, ours string, etcdCAKey []byte, tmp string) error {
	oracle := filepath.Join(tmp, "kubeadm-pki")
	for _, name := range []string{"ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub", "etcd/ca.crt"} {
		data, err := os.ReadFile(filepath.Join(ours, name))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(oracle, name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(oracle, name), data, 0o600); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(oracle, "etcd/ca.key"), etcdCAKey, 0o600); err != nil {
		return err
	}
	cfg, err := initConfigFor(initCfg, host, oracle, true)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(tmp, "kubeadm-oracle.yaml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		return err
	}
	out, err := run(2*time.Minute, tmp, nil, kubeadm, "init", "phase", "certs", "all", "--config", cfgPath)
	if err != nil {
		return err
	}
	var problems []string
	for _, leaf := range etcdLeaves {
		if !strings.Contains(out, fmt.Sprintf("Generating %q certificate and key", leaf)) {
			problems = append(problems, fmt.Sprintf("kubeadm did not issue its own %s", leaf))
			continue
		}
		theirs, err := parseCertFile(filepath.Join(oracle, leaf+".crt"))
		if err != nil {
			return err
		}
		mine, err := parseCertFile(filepath.Join(ours, leaf+".crt"))
		if err != nil {
			return err
		}
		for _, p := range coversKubeadm(mine, theirs) {
			problems = append(problems, leaf+": "+p)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: hagen's certificates fall short of kubeadm's own (certificate etcd/... is invalid for kubeadm join --control-plane):\n    %s", host.Name, strings.Join(problems, "\n    "))
	}
	return nil
}

// coversKubeadm lists how mine falls short of kubeadm's cert theirs, by
// kubeadm's own rule (every SAN verifies) plus subject and usages.
func coversKubeadm(mine, theirs *x509.Certificate) []string {
	var p []string
	if mine.Subject.CommonName != theirs.Subject.CommonName {
		p = append(p, fmt.Sprintf("CN %q, kubeadm's %q", mine.Subject.CommonName, theirs.Subject.CommonName))
	}
	if !slices.Equal(sortedCopy(mine.Subject.Organization), sortedCopy(theirs.Subject.Organization)) {
		p = append(p, fmt.Sprintf("O %q, kubeadm's %q", mine.Subject.Organization, theirs.Subject.Organization))
	}
	for _, dns := range theirs.DNSNames {
		if err := mine.VerifyHostname(dns); err != nil {
			p = append(p, fmt.Sprintf("no SAN %s: %v", dns, err))
		}
	}
	for _, ip := range theirs.IPAddresses {
		if err := mine.VerifyHostname(ip.String()); err != nil {
			p = append(p, fmt.Sprintf("no IP SAN %s: %v", ip, err))
		}
	}
	for _, u := range theirs.ExtKeyUsage {
		if !slices.Contains(mine.ExtKeyUsage, u) {
			p = append(p, fmt.Sprintf("lacks extended key usage %v that kubeadm sets", u))
		}
	}
	if theirs.KeyUsage&^mine.KeyUsage != 0 {
		p = append(p, fmt.Sprintf("key usage %b lacks kubeadm's %b", mine.KeyUsage, theirs.KeyUsage))
	}
	return p
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// initConfig returns the init host's kubeadm configuration.
func initConfig(f *fixture) ([]byte, error) {
	initHost := f.plan.ControlPlane.Init()
	data, ok := f.hostFile(initHost.Name, kubeadmYAML)
	if !ok {
		return nil, fmt.Errorf("%s has no %s", initHost.Name, kubeadmYAML)
	}
	return data, nil
}

func TestKubeadmCertPhase(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		api := f.plan.Kubernetes.KubeadmAPI
		if api == model.KubeadmV1Alpha1 {
			t.Skip("kubeadm 1.10 cannot run here; its PKI layout is covered by TestCertificates")
		}
		kubeadm := kubeadmFor(t, f.plan)
		cfg, err := initConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		stacked := f.plan.Etcd.Topology == model.TopologyStacked
		etcdCAKey := []byte(f.secrets.CAs[pki.EtcdCA].Key)
		for _, h := range f.plan.ControlPlane.Hosts {
			pkiDir := f.hostPath(h.Name, "/etc/kubernetes/pki")
			if err := checkKubeadmCerts(kubeadm, cfg, h, pkiDir, false, nil); err != nil {
				t.Error(err)
			}
			if stacked {
				if err := checkKubeadmCerts(kubeadm, cfg, h, pkiDir, true, etcdCAKey); err != nil {
					t.Errorf("etcd.local: %v", err)
				}
			}
		}
		if stacked {
			return
		}
		// Dedicated etcd hosts: kubeadm checks their member certificates
		// as if it ran etcd there, with the cluster CAs of the init host.
		for _, m := range f.plan.Etcd.Members {
			merged := t.TempDir()
			if err := copyTree(f.hostPath(f.plan.ControlPlane.Init().Name, "/etc/kubernetes/pki"), merged); err != nil {
				t.Fatal(err)
			}
			if err := copyTree(f.hostPath(m.Host.Name, "/etc/kubernetes/pki"), merged); err != nil {
				t.Fatal(err)
			}
			if err := checkKubeadmCerts(kubeadm, cfg, m.Host, merged, true, etcdCAKey); err != nil {
				t.Errorf("etcd member %s, etcd.local: %v", m.Name, err)
			}
		}
	})
}
