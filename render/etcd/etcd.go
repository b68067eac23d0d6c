// Package etcd renders what runs each etcd member: an environment file and
// a systemd unit (etcd.run "systemd"), or a kubelet static pod manifest
// (etcd.run "static-pod"). Both carry the same flags, chosen for the etcd
// version in the plan: a flag the version does not know is never emitted.
package etcd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
)

// Target paths on each member.
const (
	EnvFilePath  = "/etc/etcd.env"
	UnitPath     = "/etc/systemd/system/etcd.service"
	ManifestPath = "/etc/kubernetes/manifests/etcd.yaml"
	BinaryPath   = "/usr/local/bin/etcd"
	// RejoinEnvPath overrides a systemd member's initial-cluster flags
	// for a first start on a replacement machine (hagen-etcd-rejoin
	// writes it; it goes with the next reboot).
	RejoinEnvPath = "/run/etcd-rejoin.env"
	DefaultImages = "registry.k8s.io"
)

// PKIDir is the directory of the etcd CA and every member certificate, the
// static pod's one PKI mount.
func PKIDir() string { return path.Dir(pki.CA(pki.EtcdCA).CertPath()) }

// MetricsHost is where member m (etcd >= 3.3) serves /metrics and its
// health endpoints over plain HTTP: loopback only, as the static pod's probes
// dial it, never the client port, which demands a client certificate. A
// member whose own address is a loopback address (several members on one
// test machine) uses that address, so the members' sockets do not clash.
func MetricsHost(m *model.Member) string {
	if m.Host.Address.IsLoopback() {
		return m.Host.Address.String()
	}
	return "127.0.0.1"
}

// MetricsURL is member m's plain-HTTP metrics and health URL.
func MetricsURL(m *model.Member) string {
	return "http://" + net.JoinHostPort(MetricsHost(m), strconv.Itoa(model.EtcdMetricsPort))
}

// Flag is one etcd command-line flag, without its leading dashes.
type Flag struct {
	Name, Value string
}

// EnvName is the flag's environment variable: etcd reads ETCD_<FLAG> for
// every flag (upper case, '-' as '_') when the flag is not given.
func (f Flag) EnvName() string {
	return "ETCD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
}

// Files renders every etcd member's files, member by member in plan order.
// It is pure: the same plan gives the same bytes.
func Files(p *model.Plan) ([]bundle.File, error) {
	var out []bundle.File
	for _, m := range p.Etcd.Members {
		flags, err := Flags(p, m)
		if err != nil {
			return nil, err
		}
		switch p.Etcd.Run {
		case model.RunSystemd:
			env, err := envFile(p, m, flags)
			if err != nil {
				return nil, err
			}
			out = append(out,
				bundle.File{Host: m.Host.Name, Path: EnvFilePath, Mode: bundle.ModePublic, Data: env},
				bundle.File{Host: m.Host.Name, Path: UnitPath, Mode: bundle.ModePublic, Data: []byte(unit)},
			)
		case model.RunStaticPod:
			manifest, err := staticPod(p, m, flags)
			if err != nil {
				return nil, err
			}
			out = append(out, bundle.File{Host: m.Host.Name, Path: ManifestPath, Mode: bundle.ModePublic, Data: manifest})
		default:
			return nil, fmt.Errorf("internal error: etcd.run %q is neither %q nor %q", p.Etcd.Run, model.RunSystemd, model.RunStaticPod)
		}
	}
	return out, nil
}

// Flags are member m's etcd flags for the plan's etcd version, sorted by
// name. The systemd env file and the static pod carry exactly these.
func Flags(p *model.Plan, m *model.Member) ([]Flag, error) {
	v := p.Etcd.Version
	if v.Major != 3 || !v.AtLeast(3, 1) {
		return nil, fmt.Errorf("internal error: etcd %s: hagen writes flags for etcd 3.1 and newer only", v)
	}
	loopback := "127.0.0.1"
	if m.Host.Address.Is6() && !m.Host.Address.Is4In6() {
		loopback = "::1"
	}
	ca := pki.CA(pki.EtcdCA).CertPath()
	server, peer := pki.Cert(pki.EtcdServer), pki.Cert(pki.EtcdPeer)
	fs := []Flag{
		{"name", m.Name},
		{"data-dir", m.DataDir},
		{"listen-client-urls", listenClientURLs(m, loopback)},
		{"advertise-client-urls", m.ClientURL()},
		{"listen-peer-urls", m.PeerURL()},
		{"initial-advertise-peer-urls", m.PeerURL()},
		{"cert-file", server.CertPath()},
		{"key-file", server.KeyPath()},
		{"trusted-ca-file", ca},
		{"client-cert-auth", "true"},
		{"peer-cert-file", peer.CertPath()},
		{"peer-key-file", peer.KeyPath()},
		{"peer-trusted-ca-file", ca},
		{"peer-client-cert-auth", "true"},
		{"initial-cluster-token", p.Name},
		{"initial-cluster-state", initialClusterState(m)},
		{"snapshot-count", "10000"},
	}
	if p.Etcd.Discovery != "" {
		// v2 discovery: a URL holding the cluster's token. etcd refuses
		// --discovery together with --initial-cluster. etcd 3.6 still
		// reads --discovery but can no longer serve the v2 API a discovery
		// service needs, and 3.7 dropped the flag: as ETCD_DISCOVERY it
		// is ignored with a warning and every member would bootstrap a
		// cluster of its own. The compiler refuses it from 3.6 on.
		if v.AtLeast(3, 6) {
			return nil, fmt.Errorf("internal error: etcd %s cannot bootstrap through v2 discovery", v)
		}
		fs = append(fs, Flag{"discovery", p.Etcd.Discovery})
	} else {
		fs = append(fs, Flag{"initial-cluster", m.InitialCluster})
	}
	if v.AtLeast(3, 3) {
		fs = append(fs, Flag{"listen-metrics-urls", MetricsURL(m)})
	}
	if v.AtLeast(3, 4) {
		// 3.4 defaults to the deprecated capnslog logger; 3.5 and 3.6
		// default to zap. Say it everywhere so that logs look alike.
		fs = append(fs, Flag{"logger", "zap"})
	}
	if v.AtLeast(3, 4) && !v.AtLeast(3, 6) {
		fs = append(fs, Flag{"log-outputs", "stderr"})
	}
	switch {
	case v.AtLeast(3, 6):
		// 3.6 deprecated the --experimental-* forms; 3.7 removed them.
		// These are the flags kubeadm 1.36 and 1.37 pass to etcd 3.6/3.7
		// (cmd/kubeadm/app/phases/etcd/local.go); InitialCorruptCheck is
		// still an etcd 3.7 feature gate (alpha, off by default).
		fs = append(fs,
			Flag{"feature-gates", "InitialCorruptCheck=true"},
			Flag{"watch-progress-notify-interval", "5s"},
		)
	case v.AtLeast(3, 5):
		fs = append(fs,
			Flag{"experimental-initial-corrupt-check", "true"},
			Flag{"experimental-watch-progress-notify-interval", "5s"},
		)
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	return fs, nil
}

// initialClusterState is "existing" for a member added to a running
// cluster, which etcd then joins rather than bootstrapping a new one. etcd
// reads it, like --initial-cluster, on the member's first start only.
func initialClusterState(m *model.Member) string {
	if m.Existing {
		return "existing"
	}
	return "new"
}

// listenClientURLs is the member's client URL and loopback's, so that local
// clients (etcdctl, a stacked kube-apiserver) need not know the address. A
// member on loopback itself listens once: etcd cannot bind a URL twice.
func listenClientURLs(m *model.Member, loopback string) string {
	local := "https://" + net.JoinHostPort(loopback, strconv.Itoa(model.EtcdClientPort))
	if m.Host.Address.IsLoopback() {
		return m.ClientURL()
	}
	return m.ClientURL() + "," + local
}

// unit is the same on every member: all configuration is in the env file.
const unit = `# Written by hagen. The member's configuration is in /etc/etcd.env.
[Unit]
Description=etcd key-value store
Documentation=https://etcd.io/docs/
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
EnvironmentFile=/etc/etcd.env
# Written by hagen-etcd-rejoin for a replacement machine's first start.
EnvironmentFile=-` + RejoinEnvPath + `
ExecStart=/usr/local/bin/etcd
Restart=always
RestartSec=5s
LimitNOFILE=40000
TimeoutStartSec=0

[Install]
WantedBy=multi-user.target
`

// envFile is /etc/etcd.env: the member's flags as ETCD_* variables, sorted.
func envFile(p *model.Plan, m *model.Member, flags []Flag) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# etcd %s member %s of cluster %s. Written by hagen: edit the spec and\n", p.Etcd.Version, m.Name, p.Name)
	b.WriteString("# render again rather than this file. etcd reads each ETCD_<FLAG> as its\n")
	b.WriteString("# --<flag>; etcd.service passes no flags, so none of these is shadowed.\n")
	lines := make([]string, 0, len(flags))
	for _, f := range flags {
		if err := envSafe(f.Value); err != nil {
			return nil, fmt.Errorf("etcd member %s: %s=%q: %v", m.Name, f.EnvName(), f.Value, err)
		}
		lines = append(lines, f.EnvName()+"="+f.Value+"\n")
	}
	sort.Strings(lines)
	for _, l := range lines {
		b.WriteString(l)
	}
	return []byte(b.String()), nil
}

// envSafe reports values that systemd's EnvironmentFile parser would alter:
// it strips surrounding whitespace and interprets quotes and backslashes.
// Values are written unquoted, so these are refused rather than escaped.
func envSafe(v string) error {
	for _, r := range v {
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("control character %q cannot go into %s", r, EnvFilePath)
		case r == ' ' || r == '"' || r == '\'' || r == '\\' || r == '$' || r == '`':
			return fmt.Errorf("character %q cannot go into %s unquoted", r, EnvFilePath)
		}
	}
	return nil
}

// Probe endpoints and timings, kubeadm's (cmd/kubeadm/app/util/staticpod).
const (
	probeLivezPath  = "/livez"
	probeReadyzPath = "/readyz"
	// etcd 3.5 has no /livez: a serializable /health that ignores the
	// NOSPACE alarm answers "is this process alive" without a quorum read.
	probeHealth35Live  = "/health?exclude=NOSPACE&serializable=true"
	probeHealth35Ready = "/health?serializable=false"
	// etcd 3.3 and 3.4 know only plain /health, which fails while the
	// member has no leader.
	probeHealth34 = "/health"
)

// staticPod is /etc/kubernetes/manifests/etcd.yaml for member m.
func staticPod(p *model.Plan, m *model.Member, flags []Flag) ([]byte, error) {
	repo := p.Kubernetes.ImageRepository
	if repo == "" {
		repo = DefaultImages
	}
	command := []string{"etcd"}
	for _, f := range flags {
		command = append(command, "--"+f.Name+"="+f.Value)
	}
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	priority := int32(2000001000) // system-node-critical, as kubeadm sets it
	c := corev1.Container{
		Name:            "etcd",
		Image:           repo + "/etcd:" + p.Etcd.Version.String() + "-0",
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         command,
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("100m"),
				corev1.ResourceMemory: resource.MustParse("100Mi"),
			},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "etcd-data", MountPath: m.DataDir},
			{Name: "etcd-certs", MountPath: PKIDir()},
		},
	}
	v := p.Etcd.Version
	host := MetricsHost(m)
	switch {
	case v.AtLeast(3, 6):
		c.LivenessProbe = liveness(host, probeLivezPath)
		c.StartupProbe = startup(host, probeLivezPath)
		c.ReadinessProbe = readiness(host, probeReadyzPath)
	case v.AtLeast(3, 5):
		c.LivenessProbe = liveness(host, probeHealth35Live)
		c.StartupProbe = startup(host, probeHealth35Live)
		c.ReadinessProbe = readiness(host, probeHealth35Ready)
	case v.AtLeast(3, 3):
		c.LivenessProbe = liveness(host, probeHealth34)
		c.StartupProbe = startup(host, probeHealth34)
	default:
		// etcd before 3.3 has no --listen-metrics-urls: its health endpoint
		// is only on the client port, which requires a client certificate
		// (client-cert-auth), and the kubelet's HTTP probes cannot present
		// one. No probe beats a probe that always fails and restarts a
		// healthy member; the kubelet still restarts etcd if it exits.
	}
	pod := corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			// The kubelet names the mirror pod etcd-<node name>.
			Name:      "etcd",
			Namespace: metav1.NamespaceSystem,
			Labels:    map[string]string{"component": "etcd", "tier": "control-plane"},
			Annotations: map[string]string{
				"kubeadm.kubernetes.io/etcd.advertise-client-urls": m.ClientURL(),
			},
		},
		Spec: corev1.PodSpec{
			Containers:        []corev1.Container{c},
			HostNetwork:       true,
			Priority:          &priority,
			PriorityClassName: "system-node-critical",
			SecurityContext: &corev1.PodSecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Volumes: []corev1.Volume{
				hostPathVolume("etcd-certs", PKIDir(), &dirOrCreate),
				hostPathVolume("etcd-data", m.DataDir, &dirOrCreate),
			},
		},
	}
	return marshal(&pod)
}

func hostPathVolume(name, dir string, t *corev1.HostPathType) corev1.Volume {
	return corev1.Volume{
		Name:         name,
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: t}},
	}
}

func httpProbe(host, path string, initialDelay, timeout, failures, period int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Host:   host,
			Path:   path,
			Port:   intstr.FromInt32(model.EtcdMetricsPort),
			Scheme: corev1.URISchemeHTTP,
		}},
		InitialDelaySeconds: initialDelay,
		TimeoutSeconds:      timeout,
		FailureThreshold:    failures,
		PeriodSeconds:       period,
	}
}

func liveness(host, path string) *corev1.Probe  { return httpProbe(host, path, 10, 15, 8, 10) }
func readiness(host, path string) *corev1.Probe { return httpProbe(host, path, 0, 15, 3, 1) }

// startup allows 24 x 10s = 4 minutes, kubeadm's control-plane timeout.
func startup(host, path string) *corev1.Probe { return httpProbe(host, path, 10, 15, 24, 10) }

// marshal writes pod as YAML without the fields a manifest never sets
// (metadata.creationTimestamp: null, status: {}), whichever of them the
// API types emit. Keys come out sorted, so the bytes are deterministic.
func marshal(pod *corev1.Pod) ([]byte, error) {
	j, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber() // keep integers integers
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return yaml.Marshal(obj)
}
