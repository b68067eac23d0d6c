package kubelet

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/hagen/hagen/lab/agent"
)

// staticInput is what the pod manager builds a static pod's container
// from, on node cp-a.
func staticInput(sp *desiredPod, c *corev1.Container, attempt int, imgDir string) containerInput {
	return containerInput{Pod: sp.Pod, Container: c, Attempt: attempt, Source: sp.Source, ImageDir: imgDir,
		Hostname: "cp-a", HostIPs: []string{"172.31.0.10"}, Volumes: podVolumes("", sp)}
}

func decodeTestdata(t *testing.T, name string) *desiredPod {
	t.Helper()
	sp, err := decodeManifest("/etc/kubernetes/manifests/"+filepath.Base(name), testdata(t, name), "cp-a")
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// What each control-plane manifest becomes: its command line with the
// binary from its image, the image's PATH, its labels, and no mount at
// all, since kubeadm mounts every host path where it is.
func TestContainersOfTheControlPlane(t *testing.T) {
	imgDir := t.TempDir()
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"} {
		if err := os.WriteFile(filepath.Join(imgDir, b), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range []string{"kubeadm/kube-apiserver.yaml", "kubeadm/kube-controller-manager.yaml", "kubeadm/kube-scheduler.yaml", "hagen/etcd.yaml"} {
		sp := decodeTestdata(t, file)
		c := &sp.Pod.Spec.Containers[0]
		ct, err := buildContainer(staticInput(sp, c, 2, imgDir))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if ct.Argv[0] != filepath.Join(imgDir, c.Command[0]) || !slices.Equal(ct.Argv[1:], c.Command[1:]) {
			t.Errorf("%s: argv %v", file, ct.Argv)
		}
		if ct.Env[0] != "PATH="+imgDir+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" || !slices.Contains(ct.Env, "HOSTNAME=cp-a") {
			t.Errorf("%s: env %v", file, ct.Env)
		}
		if len(ct.Mounts) != 0 {
			t.Errorf("%s: mounts %v for host paths mounted where they are", file, ct.Mounts)
		}
		want := map[string]string{
			labelPodName: sp.Pod.Name, labelPodNamespace: "kube-system", labelPodUID: string(sp.Pod.UID),
			labelContainerName: c.Name, labelConfigHash: string(sp.Pod.UID), labelAttempt: "2", labelGrace: "30",
		}
		for k, v := range want {
			if ct.Labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q", file, k, ct.Labels[k], v)
			}
		}
		if ct.ID != containerID(sp.Pod, c.Name, 2) || !strings.HasSuffix(ct.ID, "_2") {
			t.Errorf("%s: ID %s", file, ct.ID)
		}
	}
}

// kubeadm's extraVolumes are the only mounts whose mountPath is not their
// hostPath: those become mounts of the container's own.
func TestExtraVolumesBecomeMounts(t *testing.T) {
	sp := decodeTestdata(t, "kubeadm/kube-apiserver-extravolumes.yaml")
	ct, err := buildContainer(staticInput(sp, &sp.Pod.Spec.Containers[0], 0, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	want := []agent.Mount{
		{Source: "/var/log/kubernetes/audit", Target: "/var/log/audit"},
		{Source: "/etc/kubernetes/hagen/audit-policy.yaml", Target: "/etc/kubernetes/audit-policy.yaml", ReadOnly: true},
	}
	if !slices.Equal(ct.Mounts, want) {
		t.Errorf("mounts %v, want %v", ct.Mounts, want)
	}
}

func TestContainerEnvAndCommand(t *testing.T) {
	sp := decodeTestdata(t, "kubeadm/kube-scheduler.yaml")
	pod := sp.Pod
	c := pod.Spec.Containers[0].DeepCopy()
	c.Command = []string{"sh", "-c", "echo $(GREETING) $$(NOT) $(UNSET)"}
	c.Env = []corev1.EnvVar{
		{Name: "NAME", Value: "lab"},
		{Name: "GREETING", Value: "hello $(NAME)"},
		{Name: "PATH", Value: "/opt/bin"},
		{Name: "https_proxy", Value: "http://proxy:3128"},
	}
	ct, err := buildContainer(staticInput(sp, c, 0, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	// A command the image lacks is left to PATH.
	if want := []string{"sh", "-c", "echo hello lab $(NOT) $(UNSET)"}; !slices.Equal(ct.Argv, want) {
		t.Errorf("argv %q, want %q", ct.Argv, want)
	}
	if !slices.Contains(ct.Env, "PATH=/opt/bin") || !slices.Contains(ct.Env, "https_proxy=http://proxy:3128") ||
		!slices.Contains(ct.Env, "GREETING=hello lab") {
		t.Errorf("env %v: the container's variables override the image's", ct.Env)
	}

	var ce *configError
	for name, edit := range map[string]func(*corev1.Container){
		"valueFrom":  func(c *corev1.Container) { c.Env = []corev1.EnvVar{{Name: "N", ValueFrom: &corev1.EnvVarSource{}}} },
		"no command": func(c *corev1.Container) { c.Command = nil },
		"workingDir": func(c *corev1.Container) { c.WorkingDir = "/w" },
		"exec probe": func(c *corev1.Container) {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		},
	} {
		c := pod.Spec.Containers[0].DeepCopy()
		edit(c)
		if _, err := buildContainer(staticInput(sp, c, 0, "/img")); !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a container config error", name, err)
		}
	}
}

// An image the lab's map does not name is a pull error, never another
// image.
func TestImageMap(t *testing.T) {
	dir := t.TempDir()
	etcdDir := filepath.Join(dir, "etcd")
	if err := os.Mkdir(etcdDir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := writeTemp(t, "images.json", []byte(`{"registry.k8s.io/etcd:3.7.0-0": "`+etcdDir+`", "registry.k8s.io/gone:1": "/nonexistent"}`))
	if d, err := imageDir(file, "registry.k8s.io/etcd:3.7.0-0"); err != nil || d != etcdDir {
		t.Errorf("etcd's image: %q, %v", d, err)
	}
	var pe *pullError
	for _, image := range []string{"registry.k8s.io/etcd:3.6.0-0", "registry.k8s.io/etcd", "etcd:3.7.0-0", "registry.k8s.io/gone:1"} {
		if d, err := imageDir(file, image); !errors.As(err, &pe) {
			t.Errorf("%s: %q, %v; want a pull error", image, d, err)
		}
	}
	if _, err := imageDir(filepath.Join(dir, "missing.json"), "registry.k8s.io/etcd:3.7.0-0"); !errors.As(err, &pe) {
		t.Errorf("no image map: %v", err)
	}
	if _, err := imageDir(writeTemp(t, "bad.json", []byte("{")), "registry.k8s.io/etcd:3.7.0-0"); !errors.As(err, &pe) {
		t.Errorf("a broken image map: %v", err)
	}
}

func TestHostPathTypes(t *testing.T) {
	root := t.TempDir()
	typ := func(s corev1.HostPathType) *corev1.HostPathType { return &s }
	pod := func(p string, tp corev1.HostPathType) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: p, Type: typ(tp)}}}}}}
	}
	// kubeadm's types: what is missing is made.
	if err := prepareHostPaths(root, pod("/etc/kubernetes/pki", corev1.HostPathDirectoryOrCreate)); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(root, "etc/kubernetes/pki")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
		t.Errorf("DirectoryOrCreate made %v, %v", st, err)
	}
	if err := prepareHostPaths(root, pod("/etc/kubernetes/scheduler.conf", corev1.HostPathFileOrCreate)); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(root, "etc/kubernetes/scheduler.conf")); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o644 {
		t.Errorf("FileOrCreate made %v, %v", st, err)
	}
	for name, p := range map[string]*corev1.Pod{
		"FileOrCreate without its parent": pod("/no/parent/file", corev1.HostPathFileOrCreate),
		"DirectoryOrCreate on a file":     pod("/etc/kubernetes/scheduler.conf", corev1.HostPathDirectoryOrCreate),
		"FileOrCreate on a directory":     pod("/etc/kubernetes/pki", corev1.HostPathFileOrCreate),
		"Directory missing":               pod("/var/lib/etcd", corev1.HostPathDirectory),
		"File missing":                    pod("/etc/missing", corev1.HostPathFile),
		"Socket that is a file":           pod("/etc/kubernetes/scheduler.conf", corev1.HostPathSocket),
	} {
		if err := prepareHostPaths(root, p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "no")); err == nil {
		t.Error("FileOrCreate made a parent directory")
	}
}
