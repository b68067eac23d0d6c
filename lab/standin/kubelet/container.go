package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/hagen/hagen/lab/agent"
)

// ImagesFile is where the lab says which directory holds each image's
// binaries: a JSON object from an exact image reference
// ("registry.k8s.io/etcd:3.7.0-0") to a directory.
const ImagesFile = "/etc/hagen-lab/images.json"

// The labels the stand-in puts on every container, so that a restarted
// kubelet finds its containers again, as the real kubelet finds its own
// through containerd's labels and annotations.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	labelConfigHash    = annConfigHash
	labelAttempt       = "io.kubernetes.container.restartCount"
	// labelGrace lets a kubelet that no longer has the manifest stop the
	// container with the grace period it was started under.
	labelGrace = "io.kubernetes.pod.terminationGracePeriod"
	// labelConfigSource is the pod's source (sourceFile, sourceAPI): a
	// kubelet started again leaves the containers of API pods alone until
	// it has listed the API's pods. Containers without it are static
	// pods' of an earlier stand-in.
	labelConfigSource = annConfigSource
)

// basePath is the PATH of a container after its image's directory: the
// Debian default, where a command the image lacks would be found.
const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// pullError is an image the lab has no binaries for: ErrImagePull, then
// ImagePullBackOff, as an image missing from its registry would be.
type pullError struct{ msg string }

func (e *pullError) Error() string { return e.msg }

// configError is a container the stand-in cannot create from its spec:
// CreateContainerConfigError, retried, as the real kubelet does with a
// container whose environment it cannot resolve.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// imageDir finds image's directory in the lab's image map. Every miss is a
// pull error: an image is never silently replaced by another.
func imageDir(imagesFile, image string) (string, error) {
	data, err := os.ReadFile(imagesFile)
	if err != nil {
		return "", &pullError{fmt.Sprintf("failed to pull image %q: the lab's image map: %v", image, err)}
	}
	var images map[string]string
	if err := json.Unmarshal(data, &images); err != nil {
		return "", &pullError{fmt.Sprintf("failed to pull image %q: the lab's image map %s: %v", image, imagesFile, err)}
	}
	dir, ok := images[image]
	if !ok {
		return "", &pullError{fmt.Sprintf("failed to pull image %q: not found: the lab's image map %s has no such image", image, imagesFile)}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", &pullError{fmt.Sprintf("failed to pull image %q: the lab's directory %s for it is missing", image, dir)}
	}
	return dir, nil
}

// containerID names one attempt of one container of one pod. The pod UID
// makes it unique across pods and across versions of one manifest.
func containerID(pod *corev1.Pod, name string, attempt int) string {
	return fmt.Sprintf("%s_%s_%s_%d", pod.Name, name, string(pod.UID)[:8], attempt)
}

// containerInput is what one attempt of one container is built from.
type containerInput struct {
	Pod       *corev1.Pod
	Container *corev1.Container
	Attempt   int
	Source    string // sourceFile or sourceAPI
	// ImageDir holds the image's binaries (the lab's image map).
	ImageDir string
	// Hostname is the HOSTNAME of a host-network container.
	Hostname string
	// HostIPs are the node's IPs, the host and pod IPs of the downward
	// API.
	HostIPs []string
	// Volumes are where the pod's volumes are on the host (podVolumes).
	Volumes map[string]hostVolume
	// Allocatable is the node's, what resourceFieldRef limits default to.
	Allocatable corev1.ResourceList
}

// hostVolume is a pod's volume as the host has it.
type hostVolume struct {
	// Path is the volume on the host. A hostPath volume's is its path as
	// written, the host's own.
	Path string
	// HostPath marks a hostPath volume: one mounted where it is needs no
	// mount.
	HostPath bool
	// ReadOnly is the plugin's attribute: the kubelet mounts configMap,
	// secret, projected and downwardAPI volumes read-only whatever the
	// volumeMount says.
	ReadOnly bool
}

// podVolumes is where each volume of a pod is on the host: hostPath
// volumes where they say, emptyDirs in the pod's directory under root,
// and the volumes made from API objects where the API side made them.
// A volume not made yet is missing.
func podVolumes(root string, dp *desiredPod) map[string]hostVolume {
	vols := map[string]hostVolume{}
	for _, v := range dp.Pod.Spec.Volumes {
		switch {
		case v.HostPath != nil:
			vols[v.Name] = hostVolume{Path: v.HostPath.Path, HostPath: true}
		case v.EmptyDir != nil:
			vols[v.Name] = hostVolume{Path: volumeDir(root, dp.Pod.UID, pluginEmptyDir, v.Name)}
		default:
			if p, ok := dp.Volumes[v.Name]; ok {
				vols[v.Name] = hostVolume{Path: p, ReadOnly: true}
			}
		}
	}
	return vols
}

// buildContainer turns one container of a pod into the process the agent
// runs: argv from command and args, the environment an image and the
// spec would give it, its volume mounts, and the labels that identify it.
func buildContainer(in containerInput) (agent.Container, error) {
	pod, c := in.Pod, in.Container
	if len(c.Command) == 0 {
		return agent.Container{}, &configError{"the container has no command, and the lab's kubelet knows no image entrypoint"}
	}
	if c.WorkingDir != "" {
		return agent.Container{}, &configError{"workingDir is not supported by the lab's kubelet"}
	}
	if len(c.EnvFrom) > 0 {
		return agent.Container{}, &configError{"envFrom is not supported by the lab's kubelet"}
	}
	for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if p != nil && (p.Exec != nil || p.GRPC != nil) {
			return agent.Container{}, &configError{"exec and grpc probes are not supported by the lab's kubelet"}
		}
	}

	// The image's environment, then the container's, which overrides it.
	// A value is expanded against the variables defined before it; a
	// value from the downward API is taken as it is (makeEnvironmentVariables).
	env := []string{"PATH=" + in.ImageDir + ":" + basePath, "HOSTNAME=" + in.Hostname, "HOME=/root"}
	vars := map[string]string{}
	for _, e := range c.Env {
		v, err := envValue(in, &e, vars)
		if err != nil {
			return agent.Container{}, &configError{fmt.Sprintf("env %q: %v", e.Name, err)}
		}
		vars[e.Name] = v
		env = setEnv(env, e.Name, v)
	}
	var argv []string
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		argv = append(argv, expand(a, vars))
	}
	argv[0] = imageBinary(in.ImageDir, argv[0])

	var mounts []agent.Mount
	for _, m := range c.VolumeMounts {
		v, ok := in.Volumes[m.Name]
		if !ok {
			return agent.Container{}, &configError{fmt.Sprintf("volume %q is not set up", m.Name)}
		}
		if m.SubPathExpr != "" {
			return agent.Container{}, &configError{fmt.Sprintf("volumeMount %q: subPathExpr is not supported by the lab's kubelet", m.Name)}
		}
		src := filepath.Join(v.Path, m.SubPath)
		// A host path mounted where it is needs no mount: the process
		// sees the host's filesystem.
		if v.HostPath && filepath.Clean(src) == filepath.Clean(m.MountPath) {
			continue
		}
		mounts = append(mounts, agent.Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly || v.ReadOnly})
	}

	return agent.Container{
		ID:     containerID(pod, c.Name, in.Attempt),
		Labels: containerLabels(pod, c.Name, in.Attempt, in.Source),
		Argv:   argv,
		Env:    env,
		Mounts: mounts,
	}, nil
}

// envValue is one env var's value: its value expanded, or what its
// valueFrom reads from the downward API. Values from configMaps and
// secrets are not supported: the container waits with
// CreateContainerConfigError, saying so.
func envValue(in containerInput, e *corev1.EnvVar, vars map[string]string) (string, error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return expand(e.Value, vars), nil
	case from.FieldRef != nil:
		return podFieldValue(in.Pod, from.FieldRef.FieldPath, in.HostIPs)
	case from.ResourceFieldRef != nil:
		return resourceFieldValue(in.Pod, in.Container, from.ResourceFieldRef, in.Allocatable)
	case from.ConfigMapKeyRef != nil:
		return "", errors.New("valueFrom.configMapKeyRef is not supported by the lab's kubelet")
	case from.SecretKeyRef != nil:
		return "", errors.New("valueFrom.secretKeyRef is not supported by the lab's kubelet")
	}
	return "", errors.New("this valueFrom is not supported by the lab's kubelet")
}

// imageBinary maps a container's command to the binary the lab runs. The
// lab keeps an image as a directory of binaries (the image map), not as
// a filesystem: a command named without a directory ("kube-apiserver")
// is the image's binary of that name when the image has one, else left
// to PATH; a command named by an absolute path whose base name is a
// binary of the image ("/usr/local/bin/kube-proxy") is that binary, the
// path being where the image keeps it; any other path is the host's
// ("/bin/sh").
func imageBinary(imgDir, cmd string) string {
	if strings.Contains(cmd, "/") && !filepath.IsAbs(cmd) {
		return cmd
	}
	if p := filepath.Join(imgDir, filepath.Base(cmd)); imgDir != "" && isExecutable(p) {
		return p
	}
	return cmd
}

func containerLabels(pod *corev1.Pod, name string, attempt int, source string) map[string]string {
	return map[string]string{
		labelPodName:       pod.Name,
		labelPodNamespace:  pod.Namespace,
		labelPodUID:        string(pod.UID),
		labelContainerName: name,
		labelConfigHash:    pod.Annotations[annConfigHash],
		labelConfigSource:  source,
		labelAttempt:       strconv.Itoa(attempt),
		labelGrace:         strconv.FormatInt(specGrace(pod), 10),
	}
}

// specGrace is the pod's terminationGracePeriodSeconds (the API default
// for a pod built without one).
func specGrace(pod *corev1.Pod) int64 {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

func setEnv(env []string, name, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			env[i] = name + "=" + value
			return env
		}
	}
	return append(env, name+"="+value)
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// expand replaces $(VAR) with the value of VAR when it is defined, leaves
// it as written when not, and reads $$ as $, as the kubelet expands
// command, args and env values (third_party/forked/golang/expansion).
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// prepareHostPaths checks and creates a pod's hostPath volumes the way the
// kubelet's hostPath plugin does before it starts any container: the
// ...OrCreate types create what is missing (a directory 0755, an empty
// file 0644, not its parent), the others must already be what they say.
// root prefixes every path (the tests' stand-in for /).
func prepareHostPaths(root string, pod *corev1.Pod) error {
	for _, v := range pod.Spec.Volumes {
		hp := v.HostPath
		if hp == nil || hp.Type == nil {
			continue
		}
		p := filepath.Join(root, hp.Path)
		st, err := os.Stat(p)
		missing := errors.Is(err, os.ErrNotExist)
		if err != nil && !missing {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		fail := func(what string) error {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q : hostPath type check failed: %s is not a %s", v.Name, hp.Path, what)
		}
		switch *hp.Type {
		case corev1.HostPathDirectoryOrCreate:
			if missing {
				if err := os.MkdirAll(p, 0o755); err != nil {
					return fmt.Errorf("volume %q: %w", v.Name, err)
				}
			} else if !st.IsDir() {
				return fail("directory")
			}
		case corev1.HostPathFileOrCreate:
			if missing {
				f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
				if err != nil {
					return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
				}
				f.Close()
			} else if !st.Mode().IsRegular() {
				return fail("file")
			}
		case corev1.HostPathDirectory:
			if missing || !st.IsDir() {
				return fail("directory")
			}
		case corev1.HostPathFile:
			if missing || !st.Mode().IsRegular() {
				return fail("file")
			}
		case corev1.HostPathSocket:
			if missing || st.Mode()&os.ModeSocket == 0 {
				return fail("socket file")
			}
		case corev1.HostPathCharDev:
			if missing || st.Mode()&os.ModeCharDevice == 0 {
				return fail("character device")
			}
		case corev1.HostPathBlockDev:
			if missing || st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
				return fail("block device")
			}
		}
	}
	return nil
}
