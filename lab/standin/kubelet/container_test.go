package kubelet

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

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

// kube-proxy's container as kubeadm's DaemonSet makes it: NODE_NAME from
// spec.nodeName expanded into --hostname-override, and the image's
// /usr/local/bin/kube-proxy the lab's binary. The other downward API
// fields resolve as the kubelet resolves them, a value from the downward
// API is not expanded, $$ escapes, and an absolute path the image lacks
// is the host's.
func TestDownwardAPIEnvAndCommand(t *testing.T) {
	pod, _, _ := kubeProxyObjects(t)
	imgDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(imgDir, "kube-proxy"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	in := containerInput{Pod: pod, Container: &pod.Spec.Containers[0], Source: sourceAPI, ImageDir: imgDir, Hostname: "cp-a",
		HostIPs: []string{"172.31.0.10", "fd00::10"}, Volumes: map[string]hostVolume{
			"kube-proxy": {Path: "/v/cm", ReadOnly: true}, "xtables-lock": {Path: "/run/xtables.lock", HostPath: true},
			"lib-modules": {Path: "/lib/modules", HostPath: true}, pod.Spec.Volumes[3].Name: {Path: "/v/sa", ReadOnly: true}},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")}}
	ct, err := buildContainer(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(imgDir, "kube-proxy"), "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=cp-a"}; !slices.Equal(ct.Argv, want) {
		t.Errorf("argv %q, want %q", ct.Argv, want)
	}
	if !slices.Contains(ct.Env, "NODE_NAME=cp-a") {
		t.Errorf("env %v", ct.Env)
	}

	c := pod.Spec.Containers[0].DeepCopy()
	c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	resourceRef := func(name, res, divisor string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: res, Divisor: resource.MustParse(divisor)}}}
	}
	c.Env = []corev1.EnvVar{
		field("POD", "metadata.name"), field("NS", "metadata.namespace"), field("UID", "metadata.uid"),
		field("APP", "metadata.labels['k8s-app']"), field("SA", "spec.serviceAccountName"),
		field("POD_IP", "status.podIP"), field("HOST_IPS", "status.hostIPs"),
		{Name: "LITERAL", Value: "$(POD)"}, field("NOT_EXPANDED", "metadata.labels['nothing']"),
		resourceRef("CPU_MILLI", "requests.cpu", "1m"), resourceRef("MEM_MI", "limits.memory", "1Mi"), resourceRef("CPU_LIMIT", "limits.cpu", "1"),
	}
	c.Command = []string{"/bin/sh", "-c", "echo $(POD) $$(POD) $(NS)/$(APP) $(MISSING)"}
	in.Container = c
	ct, err = buildContainer(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{
		"POD=" + pod.Name, "NS=kube-system", "UID=" + string(pod.UID), "APP=kube-proxy", "SA=kube-proxy",
		"POD_IP=172.31.0.10", "HOST_IPS=172.31.0.10,fd00::10", "LITERAL=" + pod.Name, "NOT_EXPANDED=",
		"CPU_MILLI=250", "MEM_MI=4096", "CPU_LIMIT=2",
	} {
		if !slices.Contains(ct.Env, kv) {
			t.Errorf("env lacks %s: %v", kv, ct.Env)
		}
	}
	if want := []string{"/bin/sh", "-c", "echo " + pod.Name + " $(POD) kube-system/kube-proxy $(MISSING)"}; !slices.Equal(ct.Argv, want) {
		t.Errorf("argv %q, want %q", ct.Argv, want)
	}

	var ce *configError
	for name, env := range map[string]corev1.EnvVar{
		"unknown field":     field("X", "status.phase"),
		"configMapKeyRef":   {Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "k"}}},
		"secretKeyRef":      {Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
		"unknown resource":  resourceRef("X", "limits.nvidia.com/gpu", "1"),
		"unknown container": {Name: "X", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu"}}},
	} {
		c := pod.Spec.Containers[0].DeepCopy()
		c.Env = []corev1.EnvVar{env}
		in.Container = c
		if _, err := buildContainer(in); !errors.As(err, &ce) {
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
