package kubelet

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/yaml"
)

// The annotations the kubelet puts on static pods and their mirror pods
// (k8s.io/kubernetes/pkg/kubelet/types and core/v1's ConfigMirror key).
const (
	annConfigHash   = "kubernetes.io/config.hash"
	annConfigSource = "kubernetes.io/config.source"
	annConfigSeen   = "kubernetes.io/config.seen"
	annConfigMirror = corev1.MirrorPodAnnotationKey
)

// maxManifestSize is the real kubelet's limit on one manifest (10 MB).
const maxManifestSize = 10 << 20

// The kubelet's pod sources, as its config.source annotation names them.
const (
	sourceFile = "file"
	sourceAPI  = "api"
)

// desiredPod is a pod the kubelet is to run: a static pod, one manifest
// file read as a pod with the identity the kubelet gives it
// (pkg/kubelet/config/common.go applyDefaults), or a pod the API server
// bound to the node.
type desiredPod struct {
	// Source is sourceFile or sourceAPI.
	Source string
	// Path is a static pod's manifest.
	Path string
	// Pod of a static pod carries the identity: Name <name>-<node>, UID
	// and the config.hash annotation both the hash of the manifest,
	// spec.nodeName, the NoExecute toleration, and the defaults the
	// stand-in acts on. Pod of an API pod is the informer's object, shared
	// and never modified.
	Pod *corev1.Pod
	// Volumes are where an API pod's volumes made from API objects
	// (configMap, secret, projected, downwardAPI) are on the host, by
	// volume name, once they are made; VolumeErr says why they are not.
	Volumes   map[string]string
	VolumeErr string
}

// UID is the pod's identity: a different manifest is a different pod.
func (s *desiredPod) UID() types.UID { return s.Pod.UID }

// FullName is namespace/name, which only one pod may hold at a time.
func (s *desiredPod) FullName() string { return s.Pod.Namespace + "/" + s.Pod.Name }

// static says whether the pod comes from a manifest.
func (s *desiredPod) static() bool { return s.Source == sourceFile }

// terminating says whether the kubelet is to stop the pod's containers
// and start none: an API pod being deleted, or one whose phase is
// already terminal (the pod workers' terminating state).
func (s *desiredPod) terminating() bool {
	if s.static() {
		return false
	}
	return s.Pod.DeletionTimestamp != nil || terminalPhase(s.Pod.Status.Phase)
}

func terminalPhase(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// readManifests reads every manifest in dir as the kubelet's file source
// does: files whose names do not start with a dot (the deb ships
// .kubelet-keep there), no recursion, symlinks followed. A file that does
// not decode is reported and skipped; the others still run. A missing dir
// is no pods, not an error, as with the real kubelet.
func readManifests(dir, node string) ([]*desiredPod, []error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("unable to read config path %q: %w", dir, err)}
	}
	var pods []*desiredPod
	var errs []error
	names := sets.New[string]()
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		st, err := os.Stat(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		if st.IsDir() {
			errs = append(errs, fmt.Errorf("not recursing into manifest path %q", path))
			continue
		}
		if !st.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("manifest path %q is not a regular file, ignoring", path))
			continue
		}
		if st.Size() > maxManifestSize {
			errs = append(errs, fmt.Errorf("%s: manifest is larger than 10 MB", path))
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sp, err := decodeManifest(path, data, node)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: couldn't parse as pod: %w", path, err))
			continue
		}
		// Two manifests naming one pod: the kubelet keeps the first it
		// read and drops the other, with a warning.
		if names.Has(sp.FullName()) {
			errs = append(errs, fmt.Errorf("%s: pod %s is already defined by another manifest, ignoring", path, sp.FullName()))
			continue
		}
		names.Insert(sp.FullName())
		pods = append(pods, sp)
	}
	return pods, errs
}

// decodeManifest decodes one manifest strictly into a v1 Pod and gives it
// its static-pod identity.
func decodeManifest(path string, data []byte, node string) (*desiredPod, error) {
	pod := &corev1.Pod{}
	if err := yaml.UnmarshalStrict(data, pod); err != nil {
		return nil, err
	}
	if pod.Kind == "" {
		return nil, errors.New("Object 'Kind' is missing")
	}
	if pod.APIVersion != "v1" || pod.Kind != "Pod" {
		return nil, fmt.Errorf("invalid pod: %s %s is not a v1 Pod", pod.APIVersion, pod.Kind)
	}
	if pod.Name == "" {
		return nil, errors.New("invalid pod: name is needed for the pod")
	}
	if err := validatePod(pod); err != nil {
		return nil, fmt.Errorf("invalid pod: %w", err)
	}
	setPodDefaults(pod)

	// The real kubelet hashes the decoded object; the stand-in hashes the
	// file, which changes whenever the object does. Both then add the node
	// and the path, so the same manifest on two nodes or in two files is
	// two pods.
	h := fnv.New128a()
	h.Write(data)
	fmt.Fprintf(h, "host:%s", node)
	fmt.Fprintf(h, "file:%s", path)
	pod.UID = types.UID(hex.EncodeToString(h.Sum(nil)))

	pod.Name = pod.Name + "-" + strings.ToLower(node)
	pod.Spec.NodeName = node
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[annConfigHash] = string(pod.UID)
	pod.Annotations[annConfigSource] = "file"
	noExecute := corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}
	if !slices.ContainsFunc(pod.Spec.Tolerations, func(t corev1.Toleration) bool { return t.MatchToleration(&noExecute) }) {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, noExecute)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	return &desiredPod{Source: sourceFile, Path: path, Pod: pod}, nil
}

// validatePod is the part of the API server's pod validation that the
// stand-in depends on; the real kubelet runs all of it and skips a pod
// that fails, as this does.
func validatePod(pod *corev1.Pod) error {
	if len(pod.Spec.Containers) == 0 {
		return errors.New("spec.containers: Required value")
	}
	vols := sets.New[string]()
	for i, v := range pod.Spec.Volumes {
		if v.Name == "" || vols.Has(v.Name) {
			return fmt.Errorf("spec.volumes[%d].name: invalid or duplicate name %q", i, v.Name)
		}
		vols.Insert(v.Name)
		if hp := v.HostPath; hp != nil {
			if hp.Path == "" {
				return fmt.Errorf("spec.volumes[%d].hostPath.path: Required value", i)
			}
			if hp.Type != nil && !slices.Contains(hostPathTypes, *hp.Type) {
				return fmt.Errorf("spec.volumes[%d].hostPath.type: Unsupported value: %q", i, *hp.Type)
			}
		}
	}
	names := sets.New[string]()
	all := append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...)
	for i, c := range all {
		if c.Name == "" || names.Has(c.Name) {
			return fmt.Errorf("container %d: invalid or duplicate name %q", i, c.Name)
		}
		names.Insert(c.Name)
		if c.Image == "" {
			return fmt.Errorf("container %q: image: Required value", c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !vols.Has(m.Name) {
				return fmt.Errorf("container %q: volumeMounts %q: Not found", c.Name, m.Name)
			}
			if !filepath.IsAbs(m.MountPath) {
				return fmt.Errorf("container %q: volumeMounts %q: mountPath must be absolute", c.Name, m.Name)
			}
		}
		for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if p == nil {
				continue
			}
			n := 0
			for _, set := range []bool{p.Exec != nil, p.HTTPGet != nil, p.TCPSocket != nil, p.GRPC != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("container %q: a probe must specify exactly one handler", c.Name)
			}
		}
	}
	switch pod.Spec.RestartPolicy {
	case "", corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		return fmt.Errorf("spec.restartPolicy: Unsupported value: %q", pod.Spec.RestartPolicy)
	}
	return nil
}

var hostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
	corev1.HostPathCharDev, corev1.HostPathBlockDev,
}

// setPodDefaults applies the API defaults the stand-in acts on, as the
// kubelet's decoder does (pkg/apis/core/v1/defaults.go).
func setPodDefaults(pod *corev1.Pod) {
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	if pod.Spec.RestartPolicy == "" {
		pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if pod.Spec.TerminationGracePeriodSeconds == nil {
		g := int64(corev1.DefaultTerminationGracePeriodSeconds)
		pod.Spec.TerminationGracePeriodSeconds = &g
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for j := range c.Ports {
			if c.Ports[j].Protocol == "" {
				c.Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
		for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if p == nil {
				continue
			}
			if p.TimeoutSeconds == 0 {
				p.TimeoutSeconds = 1
			}
			if p.PeriodSeconds == 0 {
				p.PeriodSeconds = 10
			}
			if p.SuccessThreshold == 0 {
				p.SuccessThreshold = 1
			}
			if p.FailureThreshold == 0 {
				p.FailureThreshold = 3
			}
			if g := p.HTTPGet; g != nil {
				if g.Path == "" {
					g.Path = "/"
				}
				if g.Scheme == "" {
					g.Scheme = corev1.URISchemeHTTP
				}
			}
		}
	}
}

// podProblem says why the stand-in will not run a pod at all, with the
// reason its containers then wait with. A pod without the host's network
// needs a pod network, which the lab has not: the real kubelet refuses to
// sync such a pod with this very message. The others are what the lab
// does not implement; they are refused loudly rather than run wrong.
func podProblem(dp *desiredPod) (reason, message string) {
	pod := dp.Pod
	if !pod.Spec.HostNetwork {
		return "ContainerCreating", "network is not ready: " + networkNotReady
	}
	for _, v := range pod.Spec.Volumes {
		if msg := volumeProblem(&v, dp.static()); msg != "" {
			return "ContainerCreating", msg
		}
	}
	if len(pod.Spec.InitContainers) > 0 || len(pod.Spec.EphemeralContainers) > 0 {
		return "ContainerCreating", "the lab's kubelet does not run init or ephemeral containers"
	}
	return "", ""
}
