package conformance

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/compiler/model"
)

const etcdManifest = "/etc/kubernetes/manifests/etcd.yaml"

// decodePod decodes a static Pod strictly: an unknown or misplaced field
// (a YAML indentation slip) is an error, as in the kubelet.
func decodePod(data []byte) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		return nil, fmt.Errorf("not a strict v1 Pod: %w", err)
	}
	return &pod, nil
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// checkStaticPod: the etcd manifest decodes strictly into a v1 Pod the
// kubelet runs as intended: host network, one etcd container, every mount
// backed by a hostPath at the same path (so the files the flags name are
// the bundle's), plain-HTTP probes on the metrics listener etcd actually
// opens, and the image of etcdVersion.
func checkStaticPod(data []byte, etcdVersion string) error {
	pod, err := decodePod(data)
	if err != nil {
		return err
	}
	var problems []string
	addf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if pod.APIVersion != "v1" || pod.Kind != "Pod" {
		addf("apiVersion/kind %s/%s, want v1/Pod", pod.APIVersion, pod.Kind)
	}
	if pod.Namespace != "kube-system" {
		addf("namespace %q, want kube-system", pod.Namespace)
	}
	if !pod.Spec.HostNetwork {
		addf("hostNetwork is false: etcd must listen on the host's addresses")
	}
	if len(pod.Spec.Containers) != 1 {
		return fmt.Errorf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if len(c.Command) == 0 || c.Command[0] != "etcd" {
		addf("command %q does not run etcd", c.Command)
	}
	if !strings.HasSuffix(c.Image, ":"+etcdVersion) && !strings.Contains(c.Image, ":"+etcdVersion+"-") {
		addf("image %s is not etcd %s", c.Image, etcdVersion)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		switch {
		case !ok:
			addf("volumeMount %s: no such volume", m.Name)
		case v.HostPath == nil:
			addf("volume %s is not a hostPath", m.Name)
		case v.HostPath.Path != m.MountPath:
			addf("volume %s: hostPath %s mounted at %s", m.Name, v.HostPath.Path, m.MountPath)
		}
	}
	args := append(c.Command[1:len(c.Command):len(c.Command)], c.Args...)
	if dataDir, ok := flagValue(args, "data-dir"); !ok || !mounted(c, dataDir) {
		addf("--data-dir %q is not on a mounted volume: the data would die with the container", dataDir)
	}
	for _, flag := range []string{"cert-file", "key-file", "trusted-ca-file", "peer-cert-file", "peer-key-file", "peer-trusted-ca-file"} {
		if p, ok := flagValue(args, flag); !ok || !mounted(c, p) {
			addf("--%s %q is not on a mounted volume", flag, p)
		}
	}
	metrics, _ := flagValue(args, "listen-metrics-urls")
	listening := map[string]bool{}
	for _, raw := range strings.Split(metrics, ",") {
		if u, err := url.Parse(raw); err == nil && u.Scheme == "http" {
			listening[u.Host] = true
		}
	}
	probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}
	for name, p := range probes {
		if p == nil {
			if name != "readiness" {
				addf("no %s probe", name)
			}
			continue
		}
		if p.HTTPGet == nil {
			addf("%s probe is not an HTTP GET", name)
			continue
		}
		g := p.HTTPGet
		if g.Scheme != corev1.URISchemeHTTP {
			addf("%s probe scheme %s: etcd's client port wants a client certificate, probe the plain-HTTP metrics listener", name, g.Scheme)
		}
		hp := net.JoinHostPort(g.Host, strconv.Itoa(g.Port.IntValue()))
		if g.Port.IntValue() != model.EtcdMetricsPort || !listening[hp] {
			addf("%s probe dials %s, but etcd's plain-HTTP listeners are %q", name, hp, metrics)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("etcd static pod:\n    %s", strings.Join(problems, "\n    "))
	}
	return nil
}

func mounted(c corev1.Container, p string) bool {
	for _, m := range c.VolumeMounts {
		if p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

func TestStaticPods(t *testing.T) {
	forEachCase(t, func(t *testing.T, f *fixture) {
		files := f.files(etcdManifest)
		want := 0
		if f.plan.Etcd.Run == model.RunStaticPod {
			want = len(f.plan.Etcd.Members)
		}
		if len(files) != want {
			t.Errorf("%d etcd static pods, want %d", len(files), want)
		}
		for _, file := range files {
			if err := checkStaticPod(file.Data, f.plan.Etcd.Version.String()); err != nil {
				t.Errorf("%s: %v", file.BundlePath(), err)
			}
		}
	})
}
