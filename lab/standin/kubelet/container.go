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

// buildContainer turns one container of a static pod into the process the
// agent runs: argv from command and args, the environment an image and the
// spec would give it, its volume mounts, and the labels that identify it.
func buildContainer(pod *corev1.Pod, c *corev1.Container, attempt int, imgDir, hostname string) (agent.Container, error) {
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
	env := []string{"PATH=" + imgDir + ":" + basePath, "HOSTNAME=" + hostname, "HOME=/root"}
	vars := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			return agent.Container{}, &configError{fmt.Sprintf("env %q: valueFrom is not supported by the lab's kubelet", e.Name)}
		}
		v := expand(e.Value, vars)
		vars[e.Name] = v
		env = setEnv(env, e.Name, v)
	}
	var argv []string
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		argv = append(argv, expand(a, vars))
	}
	if !strings.Contains(argv[0], "/") {
		if p := filepath.Join(imgDir, argv[0]); isExecutable(p) {
			argv[0] = p
		}
	}

	vols := map[string]*corev1.HostPathVolumeSource{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v.HostPath
	}
	var mounts []agent.Mount
	for _, m := range c.VolumeMounts {
		hp := vols[m.Name]
		if hp == nil {
			return agent.Container{}, &configError{fmt.Sprintf("volume %q is not a hostPath volume", m.Name)}
		}
		if m.SubPathExpr != "" {
			return agent.Container{}, &configError{fmt.Sprintf("volumeMount %q: subPathExpr is not supported by the lab's kubelet", m.Name)}
		}
		src := filepath.Join(hp.Path, m.SubPath)
		// A host path mounted where it is needs no mount: the process
		// sees the host's filesystem.
		if filepath.Clean(src) != filepath.Clean(m.MountPath) {
			mounts = append(mounts, agent.Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
		}
	}

	return agent.Container{
		ID:     containerID(pod, c.Name, attempt),
		Labels: containerLabels(pod, c.Name, attempt),
		Argv:   argv,
		Env:    env,
		Mounts: mounts,
	}, nil
}

func containerLabels(pod *corev1.Pod, name string, attempt int) map[string]string {
	return map[string]string{
		labelPodName:       pod.Name,
		labelPodNamespace:  pod.Namespace,
		labelPodUID:        string(pod.UID),
		labelContainerName: name,
		labelConfigHash:    pod.Annotations[annConfigHash],
		labelAttempt:       strconv.Itoa(attempt),
		labelGrace:         strconv.FormatInt(*pod.Spec.TerminationGracePeriodSeconds, 10),
	}
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
