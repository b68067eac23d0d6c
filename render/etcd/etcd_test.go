package etcd

import (
	"bytes"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/testplan"
	"github.com/hagen/hagen/render/bundle"
)

// spec is a valid cluster: three stacked masters behind an external load
// balancer and a worker. Tests append CUE to it (CUE unifies repeated
// fields, so `etcd: version: "3.4.23"` adds to it).
const spec = `name: "prod"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
hosts: {
	m0: {address: "10.0.0.10/24", roles: ["control-plane"]}
	m1: {address: "10.0.0.11/24", roles: ["control-plane"], etcd: dataDir: "/data/etcd"}
	m2: {address: "10.0.0.12/24", roles: ["control-plane"]}
	w0: {address: "10.0.0.20", roles: ["worker"]}
}
`

const specIPv6 = `name: "v6"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
hosts: {
	m0: {address: "2001:db8::10", roles: ["control-plane"]}
	m1: {address: "2001:db8::11", roles: ["control-plane"]}
	m2: {address: "2001:db8::12", roles: ["control-plane"]}
}
`

// withEtcd is base with etcd version v and a Kubernetes version whose
// kubeadm accepts it (kubeadm 1.31 and newer want etcd 3.5.24 or newer).
func withEtcd(base, v, rest string) string {
	k8s := "1.35.0"
	switch {
	case strings.HasPrefix(v, "3.1.") || strings.HasPrefix(v, "3.2.") || strings.HasPrefix(v, "3.3."):
		k8s = "1.10.13"
	case strings.HasPrefix(v, "3.4."):
		k8s = "1.30.14"
	case strings.HasPrefix(v, "3.5."):
		k8s = "1.27.16"
	case strings.HasPrefix(v, "3.7."):
		k8s = "1.37.2"
	}
	return strings.Replace(base, `kubernetes: version: "1.35.0"`, `kubernetes: version: "`+k8s+`"`, 1) +
		`etcd: {version: "` + v + `"` + rest + "}\n"
}

func render(t *testing.T, p *model.Plan) []bundle.File {
	t.Helper()
	files, err := Files(p)
	if err != nil {
		t.Fatalf("Files: %v", err)
	}
	return files
}

// flagMap is member host's flags as name -> value.
func flagMap(t *testing.T, p *model.Plan, host string) map[string]string {
	t.Helper()
	m := p.Member(host)
	if m == nil {
		t.Fatalf("no etcd member %s", host)
	}
	fs, err := Flags(p, m)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, f := range fs {
		if _, dup := out[f.Name]; dup {
			t.Errorf("flag --%s given twice", f.Name)
		}
		if i > 0 && fs[i-1].Name >= f.Name {
			t.Errorf("flags not sorted: --%s before --%s", fs[i-1].Name, f.Name)
		}
		out[f.Name] = f.Value
	}
	return out
}

// envVars parses an env file as systemd's EnvironmentFile would (for the
// unquoted values hagen writes), checking that the lines are sorted.
func envVars(t *testing.T, data []byte) map[string]string {
	t.Helper()
	vars := map[string]string{}
	var keys []string
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			if len(keys) > 0 {
				t.Errorf("line %d: comment after the variables", i+1)
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "ETCD_") || strings.TrimSpace(line) != line {
			t.Errorf("line %d: %q is not ETCD_NAME=value", i+1, line)
			continue
		}
		vars[k] = v
		keys = append(keys, k)
	}
	if !sort.StringsAreSorted(keys) {
		t.Errorf("env file not sorted: %v", keys)
	}
	return vars
}

func fileFor(t *testing.T, files []bundle.File, host, path string) bundle.File {
	t.Helper()
	for _, f := range files {
		if f.Host == host && f.Path == path {
			return f
		}
	}
	t.Fatalf("no file %s on %s", path, host)
	return bundle.File{}
}

func TestMemberFlags(t *testing.T) {
	p := testplan.Compile(t, spec)
	const initialCluster = "m0=https://10.0.0.10:2380,m1=https://10.0.0.11:2380,m2=https://10.0.0.12:2380"
	for host, want := range map[string]map[string]string{
		"m0": {"addr": "10.0.0.10", "data": "/var/lib/etcd"},
		"m1": {"addr": "10.0.0.11", "data": "/data/etcd"},
		"m2": {"addr": "10.0.0.12", "data": "/var/lib/etcd"},
	} {
		fl := flagMap(t, p, host)
		a := want["addr"]
		for name, v := range map[string]string{
			"name":                        host,
			"data-dir":                    want["data"],
			"listen-client-urls":          "https://" + a + ":2379,https://127.0.0.1:2379",
			"advertise-client-urls":       "https://" + a + ":2379",
			"listen-peer-urls":            "https://" + a + ":2380",
			"initial-advertise-peer-urls": "https://" + a + ":2380",
			"initial-cluster":             initialCluster,
			"initial-cluster-state":       "new",
			"initial-cluster-token":       "prod",
			"cert-file":                   "/etc/kubernetes/pki/etcd/server.crt",
			"key-file":                    "/etc/kubernetes/pki/etcd/server.key",
			"peer-cert-file":              "/etc/kubernetes/pki/etcd/peer.crt",
			"peer-key-file":               "/etc/kubernetes/pki/etcd/peer.key",
			"trusted-ca-file":             "/etc/kubernetes/pki/etcd/ca.crt",
			"peer-trusted-ca-file":        "/etc/kubernetes/pki/etcd/ca.crt",
			"client-cert-auth":            "true",
			"peer-client-cert-auth":       "true",
			"snapshot-count":              "10000",
			"listen-metrics-urls":         "http://127.0.0.1:2381",
		} {
			if fl[name] != v {
				t.Errorf("%s: --%s = %q, want %q", host, name, fl[name], v)
			}
		}
		if _, ok := fl["discovery"]; ok {
			t.Errorf("%s: --discovery without etcd.discovery", host)
		}
	}
}

func TestOnlyMembersGetFiles(t *testing.T) {
	src := `name: "ext"
kubernetes: version: "1.35.0"
network: podSubnet: "10.32.0.0/12"
controlPlane: loadBalancer: external: endpoint: "lb.example.com:6443"
etcd: topology: "external"
hosts: {
	m0: {address: "10.0.0.10", roles: ["control-plane"]}
	e0: {address: "10.0.0.30", roles: ["etcd"]}
	e1: {address: "10.0.0.31", roles: ["etcd"]}
	e2: {address: "10.0.0.32", roles: ["etcd"]}
}
`
	for _, run := range []string{"systemd", "static-pod"} {
		files := render(t, testplan.Compile(t, src+`etcd: run: "`+run+`"`+"\n"))
		var got []string
		for _, f := range files {
			got = append(got, f.Host+":"+f.Path)
			if f.Mode != bundle.ModePublic {
				t.Errorf("%s:%s mode %o, want %o", f.Host, f.Path, f.Mode, bundle.ModePublic)
			}
		}
		var want []string
		for _, h := range []string{"e0", "e1", "e2"} {
			if run == "systemd" {
				want = append(want, h+":"+EnvFilePath, h+":"+UnitPath)
			} else {
				want = append(want, h+":"+ManifestPath)
			}
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("run %s: files (-want +got):\n%s", run, d)
		}
	}
}

// versionFlags: which version-dependent flags each etcd minor gets.
func TestVersionFlags(t *testing.T) {
	all := []string{
		"listen-metrics-urls", "logger", "log-outputs",
		"experimental-initial-corrupt-check", "experimental-watch-progress-notify-interval",
		"feature-gates", "watch-progress-notify-interval",
	}
	for _, tc := range []struct {
		version string
		want    map[string]string
	}{
		{"3.1.12", map[string]string{}},
		{"3.2.24", map[string]string{}},
		{"3.3.25", map[string]string{"listen-metrics-urls": "http://127.0.0.1:2381"}},
		{"3.4.23", map[string]string{"listen-metrics-urls": "http://127.0.0.1:2381", "logger": "zap", "log-outputs": "stderr"}},
		{"3.5.21", map[string]string{
			"listen-metrics-urls": "http://127.0.0.1:2381", "logger": "zap", "log-outputs": "stderr",
			"experimental-initial-corrupt-check":          "true",
			"experimental-watch-progress-notify-interval": "5s",
		}},
		{"3.6.5", map[string]string{
			"listen-metrics-urls": "http://127.0.0.1:2381", "logger": "zap",
			"feature-gates":                  "InitialCorruptCheck=true",
			"watch-progress-notify-interval": "5s",
		}},
		// 3.7 removed every --experimental-* flag and --discovery; the
		// rest is 3.6's (checked against etcd 3.7.3's own flag set by the
		// conformance suite, which starts members from these files).
		{"3.7.0", map[string]string{
			"listen-metrics-urls": "http://127.0.0.1:2381", "logger": "zap",
			"feature-gates":                  "InitialCorruptCheck=true",
			"watch-progress-notify-interval": "5s",
		}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			fl := flagMap(t, testplan.Compile(t, withEtcd(spec, tc.version, "")), "m0")
			got := map[string]string{}
			for _, n := range all {
				if v, ok := fl[n]; ok {
					got[n] = v
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("version-dependent flags (-want +got):\n%s", d)
			}
			if fl["name"] != "m0" || fl["initial-cluster-state"] != "new" {
				t.Errorf("base flags missing: %v", fl)
			}
		})
	}
}

func TestDiscoveryReplacesInitialCluster(t *testing.T) {
	const url = "https://discovery.example.com/3e86b59982e49066c5d813af1c2e2579cbf573de"
	p := testplan.Compile(t, withEtcd(spec, "3.5.21", `, discovery: "`+url+`"`))
	for _, m := range p.Etcd.Members {
		fl := flagMap(t, p, m.Name)
		if fl["discovery"] != url {
			t.Errorf("%s: --discovery = %q, want %q", m.Name, fl["discovery"], url)
		}
		if v, ok := fl["initial-cluster"]; ok {
			t.Errorf("%s: --initial-cluster=%q next to --discovery (etcd refuses both)", m.Name, v)
		}
		if fl["initial-advertise-peer-urls"] != m.PeerURL() {
			t.Errorf("%s: --initial-advertise-peer-urls = %q", m.Name, fl["initial-advertise-peer-urls"])
		}
	}
	env := envVars(t, fileFor(t, render(t, p), "m1", EnvFilePath).Data)
	if env["ETCD_DISCOVERY"] != url || env["ETCD_INITIAL_CLUSTER"] != "" {
		t.Errorf("env: ETCD_DISCOVERY=%q ETCD_INITIAL_CLUSTER=%q", env["ETCD_DISCOVERY"], env["ETCD_INITIAL_CLUSTER"])
	}
}

func TestIPv6(t *testing.T) {
	p := testplan.Compile(t, specIPv6)
	fl := flagMap(t, p, "m1")
	for name, want := range map[string]string{
		"listen-client-urls":          "https://[2001:db8::11]:2379,https://[::1]:2379",
		"advertise-client-urls":       "https://[2001:db8::11]:2379",
		"listen-peer-urls":            "https://[2001:db8::11]:2380",
		"initial-advertise-peer-urls": "https://[2001:db8::11]:2380",
		"initial-cluster":             "m0=https://[2001:db8::10]:2380,m1=https://[2001:db8::11]:2380,m2=https://[2001:db8::12]:2380",
	} {
		if fl[name] != want {
			t.Errorf("--%s = %q, want %q", name, fl[name], want)
		}
	}
	// The static pod carries the same URLs and its annotation is bracketed.
	pod := decodePod(t, fileFor(t, render(t, testplan.Compile(t, specIPv6+`etcd: run: "static-pod"`+"\n")), "m1", ManifestPath).Data)
	if got := pod.Annotations["kubeadm.kubernetes.io/etcd.advertise-client-urls"]; got != "https://[2001:db8::11]:2379" {
		t.Errorf("annotation = %q", got)
	}
}

func TestSystemd(t *testing.T) {
	for _, version := range []string{"3.4.23", "3.5.21", "3.6.5", "3.7.0"} {
		t.Run(version, func(t *testing.T) {
			p := testplan.Compile(t, withEtcd(spec, version, ""))
			files := render(t, p)
			if len(files) != 2*len(p.Etcd.Members) {
				t.Fatalf("%d files for %d members", len(files), len(p.Etcd.Members))
			}
			var units [][]byte
			for _, m := range p.Etcd.Members {
				env := fileFor(t, files, m.Name, EnvFilePath)
				if !bytes.HasPrefix(env.Data, []byte("# ")) {
					t.Errorf("%s: env file has no header comment", m.Name)
				}
				want := map[string]string{}
				for n, v := range flagMap(t, p, m.Name) {
					want["ETCD_"+strings.ToUpper(strings.ReplaceAll(n, "-", "_"))] = v
				}
				if d := cmp.Diff(want, envVars(t, env.Data)); d != "" {
					t.Errorf("%s: env file vs flags (-want +got):\n%s", m.Name, d)
				}
				units = append(units, fileFor(t, files, m.Name, UnitPath).Data)
			}
			for i := 1; i < len(units); i++ {
				if !bytes.Equal(units[0], units[i]) {
					t.Errorf("unit differs between members")
				}
			}
			u := string(units[0])
			for _, line := range []string{
				"[Unit]", "Documentation=https://etcd.io/docs/",
				"After=network-online.target", "Wants=network-online.target",
				"[Service]", "Type=notify", "EnvironmentFile=/etc/etcd.env",
				"ExecStart=/usr/local/bin/etcd", "Restart=always", "RestartSec=5s",
				"LimitNOFILE=40000", "TimeoutStartSec=0",
				"[Install]", "WantedBy=multi-user.target",
			} {
				if !strings.Contains("\n"+u, "\n"+line+"\n") {
					t.Errorf("unit lacks line %q", line)
				}
			}
		})
	}
}

func TestEnvFileRefusesUnsafeValues(t *testing.T) {
	p := testplan.Compile(t, spec)
	p.Etcd.Members[0].DataDir = "/var/lib/my etcd"
	if _, err := Files(p); err == nil || !strings.Contains(err.Error(), "ETCD_DATA_DIR") {
		t.Errorf("Files with a space in a value: err = %v, want one naming ETCD_DATA_DIR", err)
	}
	// A static pod passes argv without a shell: the same value is fine.
	p.Etcd.Run = model.RunStaticPod
	if _, err := Files(p); err != nil {
		t.Errorf("static pod: %v", err)
	}
}

func decodePod(t *testing.T, data []byte) *corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		t.Fatalf("manifest does not decode strictly into a Pod: %v\n%s", err, data)
	}
	return &pod
}

func TestStaticPod(t *testing.T) {
	p := testplan.Compile(t, spec+`etcd: run: "static-pod"`+"\n")
	files := render(t, p)
	for _, m := range p.Etcd.Members {
		f := fileFor(t, files, m.Name, ManifestPath)
		for _, noise := range []string{"creationTimestamp", "status:"} {
			if bytes.Contains(f.Data, []byte(noise)) {
				t.Errorf("%s: manifest has %q", m.Name, noise)
			}
		}
		pod := decodePod(t, f.Data)
		if pod.APIVersion != "v1" || pod.Kind != "Pod" || pod.Name != "etcd" || pod.Namespace != "kube-system" {
			t.Errorf("%s: %s/%s %s/%s", m.Name, pod.APIVersion, pod.Kind, pod.Namespace, pod.Name)
		}
		if d := cmp.Diff(map[string]string{"component": "etcd", "tier": "control-plane"}, pod.Labels); d != "" {
			t.Errorf("%s: labels (-want +got):\n%s", m.Name, d)
		}
		if got := pod.Annotations["kubeadm.kubernetes.io/etcd.advertise-client-urls"]; got != m.ClientURL() {
			t.Errorf("%s: advertise annotation %q, want %q", m.Name, got, m.ClientURL())
		}
		s := pod.Spec
		if !s.HostNetwork || s.PriorityClassName != "system-node-critical" ||
			s.SecurityContext == nil || s.SecurityContext.SeccompProfile == nil ||
			s.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: pod spec: hostNetwork %v, priorityClass %q, securityContext %+v", m.Name, s.HostNetwork, s.PriorityClassName, s.SecurityContext)
		}
		if len(s.Containers) != 1 {
			t.Fatalf("%s: %d containers", m.Name, len(s.Containers))
		}
		c := s.Containers[0]
		if c.Name != "etcd" || c.Image != "registry.k8s.io/etcd:3.6.5-0" || c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("%s: container %q image %q pull %q", m.Name, c.Name, c.Image, c.ImagePullPolicy)
		}
		// The command is exactly the member's flags, in order.
		fs, _ := Flags(p, m)
		want := []string{"etcd"}
		for _, fl := range fs {
			want = append(want, "--"+fl.Name+"="+fl.Value)
		}
		if d := cmp.Diff(want, c.Command); d != "" {
			t.Errorf("%s: command (-want +got):\n%s", m.Name, d)
		}
		if cpu, mem := c.Resources.Requests[corev1.ResourceCPU], c.Resources.Requests[corev1.ResourceMemory]; cpu.String() != "100m" || mem.String() != "100Mi" {
			t.Errorf("%s: requests cpu %s memory %s", m.Name, cpu.String(), mem.String())
		}
		// Mounts resolve to hostPath volumes: the member's data dir and the PKI.
		vols := map[string]corev1.Volume{}
		for _, v := range s.Volumes {
			vols[v.Name] = v
		}
		wantMounts := map[string]string{"etcd-data": m.DataDir, "etcd-certs": "/etc/kubernetes/pki/etcd"}
		if len(c.VolumeMounts) != len(wantMounts) || len(s.Volumes) != len(wantMounts) {
			t.Errorf("%s: %d mounts, %d volumes", m.Name, len(c.VolumeMounts), len(s.Volumes))
		}
		for _, vm := range c.VolumeMounts {
			v, ok := vols[vm.Name]
			if !ok || v.HostPath == nil {
				t.Errorf("%s: mount %s has no hostPath volume", m.Name, vm.Name)
				continue
			}
			if vm.MountPath != wantMounts[vm.Name] || v.HostPath.Path != wantMounts[vm.Name] ||
				v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectoryOrCreate || vm.ReadOnly {
				t.Errorf("%s: mount %s at %s from %+v", m.Name, vm.Name, vm.MountPath, v.HostPath)
			}
		}
	}
	// The per-host data dir override reaches the pod.
	pod := decodePod(t, fileFor(t, files, "m1", ManifestPath).Data)
	if got := pod.Spec.Containers[0].VolumeMounts[0].MountPath; got != "/data/etcd" {
		t.Errorf("m1 data mount %q, want /data/etcd", got)
	}
}

func TestStaticPodImageRepository(t *testing.T) {
	p := testplan.Compile(t, withEtcd(spec, "3.5.21", `, run: "static-pod"`)+`
kubernetes: imageRepository: "registry.example.com/k8s"
`)
	pod := decodePod(t, fileFor(t, render(t, p), "m0", ManifestPath).Data)
	if got := pod.Spec.Containers[0].Image; got != "registry.example.com/k8s/etcd:3.5.21-0" {
		t.Errorf("image %q", got)
	}
}

func TestStaticPodProbes(t *testing.T) {
	type probes struct{ Live, Startup, Ready string }
	for _, tc := range []struct {
		version string
		want    probes
	}{
		{"3.7.0", probes{"/livez", "/livez", "/readyz"}},
		{"3.6.5", probes{"/livez", "/livez", "/readyz"}},
		{"3.5.21", probes{"/health?exclude=NOSPACE&serializable=true", "/health?exclude=NOSPACE&serializable=true", "/health?serializable=false"}},
		{"3.4.23", probes{"/health", "/health", ""}},
		{"3.3.25", probes{"/health", "/health", ""}},
		{"3.2.24", probes{}},
		{"3.1.12", probes{}},
	} {
		t.Run(tc.version, func(t *testing.T) {
			p := testplan.Compile(t, withEtcd(spec, tc.version, `, run: "static-pod"`))
			c := decodePod(t, fileFor(t, render(t, p), "m2", ManifestPath).Data).Spec.Containers[0]
			path := func(name string, pr *corev1.Probe) string {
				if pr == nil {
					return ""
				}
				g := pr.HTTPGet
				if g == nil || g.Host != "127.0.0.1" || g.Port.IntValue() != 2381 || g.Scheme != corev1.URISchemeHTTP {
					t.Errorf("%s probe %+v: want plain HTTP on 127.0.0.1:2381", name, g)
					return "?"
				}
				if pr.TimeoutSeconds == 0 || pr.FailureThreshold == 0 || pr.PeriodSeconds == 0 {
					t.Errorf("%s probe without timings: %+v", name, pr)
				}
				return g.Path
			}
			got := probes{path("liveness", c.LivenessProbe), path("startup", c.StartupProbe), path("readiness", c.ReadinessProbe)}
			if got != tc.want {
				t.Errorf("probe paths %+v, want %+v", got, tc.want)
			}
			// A probe needs the metrics listener it dials.
			hasMetrics := slicesContains(c.Command, "--listen-metrics-urls=http://127.0.0.1:2381")
			if (got.Live != "") != hasMetrics {
				t.Errorf("liveness probe %q but --listen-metrics-urls present: %v", got.Live, hasMetrics)
			}
		})
	}
}

func slicesContains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestDeterministic(t *testing.T) {
	for _, src := range []string{
		spec,
		spec + `etcd: run: "static-pod"` + "\n",
		withEtcd(specIPv6, "3.5.21", `, run: "static-pod"`),
	} {
		a, b := render(t, testplan.Compile(t, src)), render(t, testplan.Compile(t, src))
		if d := cmp.Diff(a, b); d != "" {
			t.Errorf("two renders differ:\n%s", d)
		}
		// Rendering does not depend on state left by an earlier render of
		// another plan either.
		render(t, testplan.Compile(t, specIPv6))
		if c := render(t, testplan.Compile(t, src)); !cmp.Equal(a, c) {
			t.Errorf("render after another plan differs")
		}
	}
}
