package kubelet

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

// config is what the stand-in takes from the KubeletConfiguration and the
// flags that override it, with the real kubelet's defaults applied
// (pkg/kubelet/apis/config/v1beta1/defaults.go).
type config struct {
	StaticPodPath             string
	HealthzBindAddress        string
	HealthzPort               int32
	RotateCertificates        bool
	NodeLeaseDurationSeconds  int32
	NodeStatusUpdateFrequency time.Duration
	MaxPods                   int32
	RegisterNode              bool
	RegisterWithTaints        []corev1.Taint
	// MaxContainerRestartPeriod caps CrashLoopBackOff (crashLoopBackOff,
	// honoured because KubeletCrashLoopBackOffMax is on by default in 1.37).
	MaxContainerRestartPeriod time.Duration
	EvictionHard              map[string]string
	KubeReserved              map[string]string
	SystemReserved            map[string]string
	ContainerRuntimeEndpoint  string
	Verbosity                 int
	// Ignored names the fields set in the file that the stand-in does not
	// act on, for the log.
	Ignored []string
	// Lenient is the strict-decoding error the file was accepted despite,
	// as the real kubelet accepts it with a warning.
	Lenient error
}

// actedFields are the KubeletConfiguration fields the stand-in acts on.
var actedFields = []string{
	"apiVersion", "kind", "staticPodPath", "healthzBindAddress", "healthzPort", "rotateCertificates",
	"nodeLeaseDurationSeconds", "nodeStatusUpdateFrequency", "maxPods", "registerNode",
	"registerWithTaints", "crashLoopBackOff", "evictionHard", "kubeReserved", "systemReserved",
	"containerRuntimeEndpoint", "logging",
}

// defaultEvictionHard is the kubelet's default hard eviction on Linux: it
// is what allocatable memory and ephemeral storage are reduced by.
var defaultEvictionHard = map[string]string{
	"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%", "imagefs.available": "15%",
}

// loadConfig reads the KubeletConfiguration at path. Without --config the
// kubelet runs on its defaults alone.
func loadConfig(path string) (*config, error) {
	kc := &kubeletv1beta1.KubeletConfiguration{}
	c := &config{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("failed to load kubelet config file, path: %s, error: %w", path, err)
		}
		if c, kc, err = decodeConfig(data); err != nil {
			return nil, fmt.Errorf("failed to load kubelet config file, path: %s, error: failed to decode: %w", path, err)
		}
	}
	c.StaticPodPath = kc.StaticPodPath
	c.HealthzBindAddress = kc.HealthzBindAddress
	if c.HealthzBindAddress == "" {
		c.HealthzBindAddress = "127.0.0.1"
	}
	c.HealthzPort = 10248
	if kc.HealthzPort != nil {
		c.HealthzPort = *kc.HealthzPort
	}
	c.RotateCertificates = kc.RotateCertificates
	c.NodeLeaseDurationSeconds = kc.NodeLeaseDurationSeconds
	if c.NodeLeaseDurationSeconds == 0 {
		c.NodeLeaseDurationSeconds = 40
	}
	c.NodeStatusUpdateFrequency = kc.NodeStatusUpdateFrequency.Duration
	if c.NodeStatusUpdateFrequency == 0 {
		c.NodeStatusUpdateFrequency = 10 * time.Second
	}
	c.MaxPods = kc.MaxPods
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	c.RegisterNode = kc.RegisterNode == nil || *kc.RegisterNode
	c.RegisterWithTaints = kc.RegisterWithTaints
	c.MaxContainerRestartPeriod = 300 * time.Second
	if p := kc.CrashLoopBackOff.MaxContainerRestartPeriod; p != nil && p.Duration > 0 {
		c.MaxContainerRestartPeriod = p.Duration
	}
	c.EvictionHard = kc.EvictionHard
	if c.EvictionHard == nil {
		c.EvictionHard = defaultEvictionHard
	}
	c.KubeReserved, c.SystemReserved = kc.KubeReserved, kc.SystemReserved
	c.ContainerRuntimeEndpoint = kc.ContainerRuntimeEndpoint
	c.Verbosity = int(kc.Logging.Verbosity)
	return c, nil
}

// decodeConfig decodes a KubeletConfiguration as the kubelet's codec does:
// strictly first; a file that only fails strict decoding (an unknown or
// duplicate field) is accepted leniently, with the error kept for a
// warning; anything else is refused.
func decodeConfig(data []byte) (*config, *kubeletv1beta1.KubeletConfiguration, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, nil, err
	}
	if tm.Kind == "" {
		return nil, nil, fmt.Errorf("Object 'Kind' is missing in '%s'", firstLine(data))
	}
	if tm.APIVersion != kubeletv1beta1.SchemeGroupVersion.String() || tm.Kind != "KubeletConfiguration" {
		return nil, nil, fmt.Errorf("no kind %q is registered for version %q", tm.Kind, tm.APIVersion)
	}
	kc := &kubeletv1beta1.KubeletConfiguration{}
	c := &config{}
	if err := yaml.UnmarshalStrict(data, kc); err != nil {
		kc = &kubeletv1beta1.KubeletConfiguration{}
		if lerr := yaml.Unmarshal(data, kc); lerr != nil {
			return nil, nil, err
		}
		c.Lenient = err
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, nil, err
	}
	for k, v := range raw {
		if !slices.Contains(actedFields, k) && !isZero(v) {
			c.Ignored = append(c.Ignored, k)
		}
	}
	slices.Sort(c.Ignored)
	return c, kc, nil
}

// isZero says whether a decoded YAML value is a zero value: kubeadm writes
// every field of the KubeletConfiguration, most as 0, 0s or {}, and those
// are not worth a note.
func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		if v == "" || v == "0" {
			return true
		}
		d, err := time.ParseDuration(v)
		return err == nil && d == 0
	case []any:
		return len(v) == 0
	case map[string]any:
		for _, x := range v {
			if !isZero(x) {
				return false
			}
		}
		return true
	}
	return false
}

// firstLine is the start of a file, for an error about it.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// applyFlags gives the flags that set KubeletConfiguration fields
// precedence over the file, as the real kubelet does
// (kubeletConfigFlagPrecedence).
func (c *config) applyFlags(o *options) {
	for name, v := range o.set {
		switch name {
		case "pod-manifest-path":
			c.StaticPodPath = v
		case "healthz-bind-address":
			c.HealthzBindAddress = v
		case "healthz-port":
			n, _ := strconv.ParseInt(v, 10, 32)
			c.HealthzPort = int32(n)
		case "rotate-certificates":
			c.RotateCertificates, _ = strconv.ParseBool(v)
		case "register-node":
			c.RegisterNode, _ = strconv.ParseBool(v)
		case "node-status-update-frequency":
			c.NodeStatusUpdateFrequency, _ = time.ParseDuration(v)
		case "max-pods":
			n, _ := strconv.ParseInt(v, 10, 32)
			c.MaxPods = int32(n)
		case "container-runtime-endpoint":
			c.ContainerRuntimeEndpoint = v
		case "v":
			c.Verbosity = o.Verbosity
		}
	}
	if o.Taints != nil {
		c.RegisterWithTaints = o.Taints
	}
}

// logValues are the settings the stand-in acts on, as log key-values.
func (c *config) logValues() []any {
	return []any{
		"staticPodPath", c.StaticPodPath, "healthz", fmt.Sprintf("%s:%d", c.HealthzBindAddress, c.HealthzPort),
		"rotateCertificates", c.RotateCertificates, "nodeLeaseDurationSeconds", c.NodeLeaseDurationSeconds,
		"nodeStatusUpdateFrequency", c.NodeStatusUpdateFrequency.String(), "maxContainerRestartPeriod", c.MaxContainerRestartPeriod.String(),
	}
}
