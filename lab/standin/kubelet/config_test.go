package kubelet

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// kubeadm's config.yaml: the fields the stand-in acts on are read, the
// kubelet's defaults fill what kubeadm leaves zero, and what it does not
// act on is named for the log, without the zero values kubeadm writes.
func TestKubeadmKubeletConfig(t *testing.T) {
	c, err := loadConfig(filepath.Join("testdata", "kubeadm", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.StaticPodPath != "/etc/kubernetes/manifests" || c.HealthzBindAddress != "127.0.0.1" || c.HealthzPort != 10248 ||
		!c.RotateCertificates || !c.RegisterNode {
		t.Errorf("config %+v", c)
	}
	if c.NodeLeaseDurationSeconds != 40 || c.NodeStatusUpdateFrequency != 10*time.Second || c.MaxPods != 110 ||
		c.MaxContainerRestartPeriod != 5*time.Minute {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.EvictionHard["memory.available"] != "100Mi" {
		t.Errorf("default hard eviction %v", c.EvictionHard)
	}
	if c.ContainerRuntimeEndpoint != "unix:///var/run/containerd/containerd.sock" {
		t.Errorf("containerRuntimeEndpoint %q", c.ContainerRuntimeEndpoint)
	}
	want := []string{"authentication", "authorization", "cgroupDriver", "clusterDNS", "clusterDomain",
		"shutdownGracePeriod", "shutdownGracePeriodCriticalPods"}
	if !slices.Equal(c.Ignored, want) {
		t.Errorf("not acted on: %v, want %v", c.Ignored, want)
	}
	if c.Lenient != nil {
		t.Errorf("kubeadm's file decoded only leniently: %v", c.Lenient)
	}
}

func TestHagenStandaloneConfig(t *testing.T) {
	c, err := loadConfig(filepath.Join("testdata", "hagen", "kubelet-etcd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.StaticPodPath != "/etc/kubernetes/manifests" || c.RotateCertificates || c.HealthzPort != 10248 {
		t.Errorf("config %+v", c)
	}
	if !slices.Contains(c.Ignored, "address") || !slices.Contains(c.Ignored, "authorization") {
		t.Errorf("address and authorization are not acted on, and should say so: %v", c.Ignored)
	}
}

func TestConfigOverrides(t *testing.T) {
	p := writeTemp(t, "c.yaml", []byte(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
healthzPort: 0
nodeLeaseDurationSeconds: 20
nodeStatusUpdateFrequency: 4s
crashLoopBackOff:
  maxContainerRestartPeriod: 30s
registerWithTaints:
- key: a
  effect: NoSchedule
`))
	c, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.HealthzPort != 0 || c.NodeLeaseDurationSeconds != 20 || c.NodeStatusUpdateFrequency != 4*time.Second ||
		c.MaxContainerRestartPeriod != 30*time.Second || len(c.RegisterWithTaints) != 1 {
		t.Errorf("config %+v", c)
	}
	// Flags win over the file, as in the real kubelet.
	o, err := parseFlags([]string{"--healthz-port=10300", "--pod-manifest-path=/m", "--register-with-taints=b:NoExecute"})
	if err != nil {
		t.Fatal(err)
	}
	c.applyFlags(o)
	if c.HealthzPort != 10300 || c.StaticPodPath != "/m" || c.RegisterWithTaints[0].Key != "b" {
		t.Errorf("flags did not override: %+v", c)
	}
}

func TestBadConfigs(t *testing.T) {
	for name, data := range map[string]string{
		"not yaml":     "apiVersion: [",
		"no kind":      "apiVersion: kubelet.config.k8s.io/v1beta1\n",
		"wrong kind":   "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n",
		"wrong group":  "apiVersion: kubeadm.k8s.io/v1beta4\nkind: KubeletConfiguration\n",
		"wrong type":   "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nhealthzPort: ten\n",
		"bad duration": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nnodeStatusUpdateFrequency: often\n",
	} {
		if c, err := loadConfig(writeTemp(t, "c.yaml", []byte(data))); err == nil {
			t.Errorf("%s: loaded %+v, want an error", name, c)
		}
	}
	if _, err := loadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil ||
		!strings.Contains(err.Error(), "failed to load kubelet config file") {
		t.Errorf("a missing file: %v", err)
	}
}

// An unknown field fails strict decoding only: the real kubelet then
// decodes leniently and warns, and so does the stand-in.
func TestUnknownFieldIsAWarning(t *testing.T) {
	c, err := loadConfig(writeTemp(t, "c.yaml", []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: /m\nstaticPodPth: /x\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Lenient == nil || c.StaticPodPath != "/m" {
		t.Errorf("lenient %v, staticPodPath %q", c.Lenient, c.StaticPodPath)
	}
}
