package kubelet

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	kubeletapis "k8s.io/kubelet/pkg/apis"
)

// flagKind says how a flag takes its value, which is what parsing needs:
// a bool flag never consumes the next argument, a value flag always does
// when written without "=".
type flagKind int

const (
	valueFlag flagKind = iota
	boolFlag
)

// knownFlags is every flag the real kubelet 1.37 accepts on Linux, read
// from cmd/kubelet/app/options/options.go (KubeletFlags, container runtime
// and KubeletConfiguration flags), component-base's logging flags, the
// global flags (cadvisor's housekeeping interval, --version) and --help.
// The stand-in must know them all: a flag the real kubelet accepts must not
// fail the lab, and a flag it rejects must fail it. Only the flags in
// actedFlags change what the stand-in does; the others are noted in the log.
var knownFlags = map[string]flagKind{
	"address": valueFlag, "allowed-unsafe-sysctls": valueFlag, "anonymous-auth": boolFlag,
	"authentication-token-webhook": boolFlag, "authentication-token-webhook-cache-ttl": valueFlag,
	"authorization-mode": valueFlag, "authorization-webhook-cache-authorized-ttl": valueFlag,
	"authorization-webhook-cache-unauthorized-ttl": valueFlag, "bootstrap-kubeconfig": valueFlag,
	"cert-dir": valueFlag, "cgroup-driver": valueFlag, "cgroup-root": valueFlag, "cgroups-per-qos": boolFlag,
	"client-ca-file": valueFlag, "cloud-provider": valueFlag, "cluster-dns": valueFlag, "cluster-domain": valueFlag,
	"config": valueFlag, "config-dir": valueFlag, "container-log-max-files": valueFlag,
	"container-log-max-size": valueFlag, "container-runtime-endpoint": valueFlag, "contention-profiling": boolFlag,
	"cpu-cfs-quota": boolFlag, "cpu-cfs-quota-period": valueFlag, "cpu-manager-policy": valueFlag,
	"cpu-manager-policy-options": valueFlag, "cpu-manager-reconcile-period": valueFlag,
	"enable-controller-attach-detach": boolFlag, "enable-debugging-handlers": boolFlag, "enable-server": boolFlag,
	"enforce-node-allocatable": valueFlag, "event-burst": valueFlag, "event-qps": valueFlag,
	"eviction-hard": valueFlag, "eviction-max-pod-grace-period": valueFlag, "eviction-minimum-reclaim": valueFlag,
	"eviction-pressure-transition-period": valueFlag, "eviction-soft": valueFlag,
	"eviction-soft-grace-period": valueFlag, "exit-on-lock-contention": boolFlag,
	"experimental-allocatable-ignore-eviction": boolFlag, "experimental-mounter-path": valueFlag,
	"fail-cgroupv1": boolFlag, "fail-swap-on": boolFlag, "feature-gates": valueFlag,
	"file-check-frequency": valueFlag, "hairpin-mode": valueFlag, "healthz-bind-address": valueFlag,
	"healthz-port": valueFlag, "hostname-override": valueFlag, "http-check-frequency": valueFlag,
	"image-credential-provider-bin-dir": valueFlag, "image-credential-provider-config": valueFlag,
	"image-gc-high-threshold": valueFlag, "image-gc-low-threshold": valueFlag,
	"image-service-endpoint": valueFlag, "kernel-memcg-notification": boolFlag, "kube-api-burst": valueFlag,
	"kube-api-content-type": valueFlag, "kube-api-qps": valueFlag, "kube-reserved": valueFlag,
	"kube-reserved-cgroup": valueFlag, "kubeconfig": valueFlag, "kubelet-cgroups": valueFlag,
	"local-storage-capacity-isolation": boolFlag, "lock-file": valueFlag, "make-iptables-util-chains": boolFlag,
	"manifest-url": valueFlag, "manifest-url-header": valueFlag, "max-open-files": valueFlag,
	"max-pods": valueFlag, "maximum-dead-containers": valueFlag, "maximum-dead-containers-per-container": valueFlag,
	"memory-manager-policy": valueFlag, "minimum-container-ttl-duration": valueFlag,
	"minimum-image-ttl-duration": valueFlag, "node-ip": valueFlag, "node-labels": valueFlag,
	"node-status-max-images": valueFlag, "node-status-update-frequency": valueFlag, "oom-score-adj": valueFlag,
	"pod-cidr": valueFlag, "pod-manifest-path": valueFlag, "pod-max-pids": valueFlag, "pods-per-core": valueFlag,
	"port": valueFlag, "protect-kernel-defaults": boolFlag, "provider-id": valueFlag, "qos-reserved": valueFlag,
	"read-only-port": valueFlag, "register-node": boolFlag, "register-with-taints": valueFlag,
	"registry-burst": valueFlag, "registry-qps": valueFlag, "reserved-cpus": valueFlag,
	"reserved-memory": valueFlag, "resolv-conf": valueFlag, "root-dir": valueFlag,
	"rotate-certificates": boolFlag, "rotate-server-certificates": boolFlag, "runonce": boolFlag,
	"runtime-cgroups": valueFlag, "runtime-request-timeout": valueFlag, "seccomp-default": boolFlag,
	"serialize-image-pulls": boolFlag, "streaming-connection-idle-timeout": valueFlag,
	"sync-frequency": valueFlag, "system-cgroups": valueFlag, "system-reserved": valueFlag,
	"system-reserved-cgroup": valueFlag, "tls-cert-file": valueFlag, "tls-cipher-suites": valueFlag,
	"tls-min-version": valueFlag, "tls-private-key-file": valueFlag, "topology-manager-policy": valueFlag,
	"topology-manager-policy-options": valueFlag, "topology-manager-scope": valueFlag,
	"volume-plugin-dir": valueFlag, "volume-stats-agg-period": valueFlag,
	// component-base logging
	"logging-format": valueFlag, "v": valueFlag, "vmodule": valueFlag, "log-flush-frequency": valueFlag,
	"log-text-split-stream": boolFlag, "log-text-info-buffer-size": valueFlag,
	"log-json-split-stream": boolFlag, "log-json-info-buffer-size": valueFlag,
	// global flags
	"housekeeping-interval": valueFlag, "version": boolFlag, "help": boolFlag,
}

// shorthands are the real kubelet's one-letter flags.
var shorthands = map[string]string{"v": "v", "h": "help"}

// actedFlags are the flags the stand-in acts on; every other known flag is
// accepted and logged as ignored.
var actedFlags = []string{
	"bootstrap-kubeconfig", "cert-dir", "config", "container-runtime-endpoint", "healthz-bind-address",
	"healthz-port", "help", "hostname-override", "kubeconfig", "max-pods", "node-ip", "node-labels",
	"node-status-update-frequency", "pod-manifest-path", "register-node", "register-with-taints",
	"rotate-certificates", "v", "version",
}

// DefaultCertDir is the kubelet's --cert-dir default.
const DefaultCertDir = "/var/lib/kubelet/pki"

// options is the parsed command line.
type options struct {
	Config, KubeConfig, BootstrapKubeConfig string
	HostnameOverride                        string
	NodeIPs                                 []string
	NodeLabels                              map[string]string
	CertDir                                 string
	Verbosity                               int
	Version                                 string // "", "true", "raw", or a version to report
	Help                                    bool
	// Taints is nil unless --register-with-taints was given.
	Taints []corev1.Taint
	// set holds the raw value of every flag given, by its normalised name,
	// for the flags that override KubeletConfiguration fields.
	set map[string]string
	// ignored lists the flags given that the stand-in does not act on.
	ignored []string
}

// parseFlags parses a kubelet command line the way the real kubelet's
// pflag set does: --name=value, --name value, bools as --name or
// --name=bool, -v N and -h shorthands, "_" read as "-", "--" ending the
// flags. Like the real kubelet it rejects unknown flags, a value flag
// without a value, and any argument that is not a flag.
func parseFlags(args []string) (*options, error) {
	o := &options{CertDir: DefaultCertDir, set: map[string]string{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) {
				return nil, fmt.Errorf("unknown command %s", args[i+1])
			}
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return nil, fmt.Errorf("unknown command %s", a)
		}
		var name, value string
		hasValue := false
		if long, ok := strings.CutPrefix(a, "--"); ok {
			name, value, hasValue = strings.Cut(long, "=")
			name = strings.ReplaceAll(name, "_", "-")
			if name == "" || strings.HasPrefix(name, "-") {
				return nil, fmt.Errorf("failed to parse kubelet flag: bad flag syntax: %s", a)
			}
			if _, ok := knownFlags[name]; !ok {
				return nil, fmt.Errorf("failed to parse kubelet flag: unknown flag: --%s", name)
			}
		} else {
			// A shorthand: -h, -v N, -v=N or -vN.
			short := a[1:2]
			long, ok := shorthands[short]
			if !ok {
				return nil, fmt.Errorf("failed to parse kubelet flag: unknown shorthand flag: %q in %s", short, a)
			}
			name = long
			if rest := a[2:]; rest != "" {
				if knownFlags[name] == boolFlag {
					return nil, fmt.Errorf("failed to parse kubelet flag: unknown shorthand flag: %q in %s", rest[:1], a)
				}
				value, hasValue = strings.TrimPrefix(rest, "="), true
			}
		}
		if !hasValue {
			if knownFlags[name] == boolFlag {
				value = "true"
			} else {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("failed to parse kubelet flag: flag needs an argument: --%s", name)
				}
				i++
				value = args[i]
			}
		}
		if err := o.apply(name, value); err != nil {
			return nil, fmt.Errorf("failed to parse kubelet flag: invalid argument %q for \"--%s\" flag: %w", value, name, err)
		}
	}
	return o, nil
}

// apply records one flag.
func (o *options) apply(name, value string) error {
	if knownFlags[name] == boolFlag && name != "version" {
		if _, err := strconv.ParseBool(value); err != nil {
			return err
		}
	}
	if !slices.Contains(actedFlags, name) {
		if !slices.Contains(o.ignored, name) {
			o.ignored = append(o.ignored, name)
		}
		return nil
	}
	o.set[name] = value
	switch name {
	case "config":
		o.Config = value
	case "kubeconfig":
		o.KubeConfig = value
	case "bootstrap-kubeconfig":
		o.BootstrapKubeConfig = value
	case "hostname-override":
		o.HostnameOverride = value
	case "cert-dir":
		o.CertDir = value
	case "help":
		o.Help, _ = strconv.ParseBool(value)
	case "version":
		if b, err := strconv.ParseBool(value); err == nil {
			o.Version = ""
			if b {
				o.Version = "true"
			}
		} else {
			o.Version = value
		}
	case "v":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return fmt.Errorf("not a verbosity level")
		}
		o.Verbosity = n
	case "node-ip":
		o.NodeIPs = nil
		for ip := range strings.SplitSeq(value, ",") {
			o.NodeIPs = append(o.NodeIPs, strings.TrimSpace(ip))
		}
	case "node-labels":
		// Repeated --node-labels add to each other, as cliflag.MapStringString does.
		if o.NodeLabels == nil {
			o.NodeLabels = map[string]string{}
		}
		for kv := range strings.SplitSeq(value, ",") {
			if strings.TrimSpace(kv) == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("malformed pair, expect string=string")
			}
			o.NodeLabels[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	case "register-with-taints":
		t, err := parseTaints(value)
		if err != nil {
			return err
		}
		o.Taints = t
	case "healthz-port", "max-pods":
		if _, err := strconv.ParseInt(value, 10, 32); err != nil {
			return err
		}
	case "node-status-update-frequency":
		if _, err := time.ParseDuration(value); err != nil {
			return err
		}
	case "rotate-certificates", "register-node":
		// checked as bools above
	}
	return nil
}

// parseTaints reads --register-with-taints: key[=value]:Effect, comma
// separated, as the kubelet's RegisterWithTaintsVar does.
func parseTaints(s string) ([]corev1.Taint, error) {
	taints := []corev1.Taint{}
	if s == "" {
		return taints, nil
	}
	for spec := range strings.SplitSeq(s, ",") {
		kv, effect, ok := strings.Cut(spec, ":")
		if !ok {
			return nil, fmt.Errorf("invalid taint spec: %v", spec)
		}
		switch e := corev1.TaintEffect(effect); e {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("invalid taint effect: %v, unsupported taint effect", effect)
		}
		key, value, _ := strings.Cut(kv, "=")
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, fmt.Errorf("invalid taint key %q: %s", key, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			return nil, fmt.Errorf("invalid taint value %q: %s", value, strings.Join(errs, "; "))
		}
		taints = append(taints, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)})
	}
	return taints, nil
}

// validateNodeLabels is the real kubelet's ValidateKubeletFlags check:
// --node-labels may not set labels in the kubernetes.io or k8s.io
// namespaces except those the kubelet may set on itself (NodeRestriction
// would reject them anyway, later and less clearly).
func validateNodeLabels(labels map[string]string) error {
	var unknown, invalid []string
	for k, v := range labels {
		if isKubernetesLabel(k) && !kubeletapis.IsKubeletLabel(k) {
			unknown = append(unknown, k)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			invalid = append(invalid, fmt.Sprintf("'%s' - %s", k, strings.Join(errs, ", ")))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			invalid = append(invalid, fmt.Sprintf("'%s' - %s", v, strings.Join(errs, ", ")))
		}
	}
	slices.Sort(unknown)
	slices.Sort(invalid)
	if len(unknown) > 0 {
		return fmt.Errorf("unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: %v\n--node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix (%s) or be in the specifically allowed set (%s)",
			unknown, strings.Join(kubeletapis.KubeletLabelNamespaces(), ", "), strings.Join(kubeletapis.KubeletLabels(), ", "))
	}
	if len(invalid) > 0 {
		return fmt.Errorf("invalid node labels: %s", strings.Join(invalid, "; "))
	}
	return nil
}

func isKubernetesLabel(key string) bool {
	ns, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	return ns == "kubernetes.io" || strings.HasSuffix(ns, ".kubernetes.io") ||
		ns == "k8s.io" || strings.HasSuffix(ns, ".k8s.io")
}
