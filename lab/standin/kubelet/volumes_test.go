package kubelet

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hagen/hagen/lab/agent"
)

// The atomic writer's layout: files in a timestamped directory, ..data
// pointing at it, each top-level name a symlink through ..data; nothing
// written when nothing changed; a name dropped from the payload goes.
func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	payload := map[string]fileProjection{
		"config.conf":     {Data: []byte("a"), Mode: 0o644},
		"certs/ca.crt":    {Data: []byte("ca"), Mode: 0o600},
		"kubeconfig.conf": {Data: []byte("k"), Mode: 0o644},
	}
	if wrote, err := writeAtomic(dir, payload); err != nil || !wrote {
		t.Fatalf("first write: %v %v", wrote, err)
	}
	first, err := os.Readlink(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	for p, f := range payload {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(got) != string(f.Data) {
			t.Errorf("%s: %q %v", p, got, err)
		}
		if st, _ := os.Stat(filepath.Join(dir, p)); st.Mode().Perm() != fs.FileMode(f.Mode) {
			t.Errorf("%s: mode %v", p, st.Mode())
		}
	}
	if target, _ := os.Readlink(filepath.Join(dir, "certs")); target != filepath.Join(dataDirName, "certs") {
		t.Errorf("certs links to %q", target)
	}
	if wrote, err := writeAtomic(dir, payload); err != nil || wrote {
		t.Errorf("an unchanged payload was written again: %v %v", wrote, err)
	}
	if now, _ := os.Readlink(filepath.Join(dir, dataDirName)); now != first {
		t.Error("..data moved for nothing")
	}

	delete(payload, "kubeconfig.conf")
	payload["config.conf"] = fileProjection{Data: []byte("b"), Mode: 0o644}
	if wrote, err := writeAtomic(dir, payload); err != nil || !wrote {
		t.Fatalf("update: %v %v", wrote, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "config.conf")); string(got) != "b" {
		t.Errorf("config.conf %q after the update", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "kubeconfig.conf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dropped key is still visible: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, first)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old data directory is left: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 || !slices.Contains(names, dataDirName) || !slices.Contains(names, "certs") || !slices.Contains(names, "config.conf") {
		t.Errorf("the volume holds %v", names)
	}

	for _, bad := range []string{"/etc/passwd", "../escape", "a/../../b", "..data"} {
		if _, err := writeAtomic(dir, map[string]fileProjection{bad: {Data: []byte("x"), Mode: 0o644}}); err == nil {
			t.Errorf("%q was written", bad)
		}
	}
}

// configmap.MakePayload: all keys, or the items with their paths and
// modes; a missing key fails unless optional.
func TestKeysPayload(t *testing.T) {
	data := map[string][]byte{"a": []byte("1"), "b": []byte("2")}
	mode := int32(0o640)
	all, err := keysPayload("configmap", data, nil, &mode, false)
	if err != nil || len(all) != 2 || all["a"].Mode != 0o640 || string(all["b"].Data) != "2" {
		t.Errorf("all keys: %v %v", all, err)
	}
	itemMode := int32(0o400)
	items := []corev1.KeyToPath{{Key: "a", Path: "dir/x"}, {Key: "b", Path: "y", Mode: &itemMode}}
	some, err := keysPayload("configmap", data, items, nil, false)
	if err != nil || len(some) != 2 || some["dir/x"].Mode != 0o644 || some["y"].Mode != 0o400 {
		t.Errorf("items: %v %v", some, err)
	}
	missing := append(items, corev1.KeyToPath{Key: "c", Path: "z"})
	if _, err := keysPayload("configmap", data, missing, nil, false); err == nil || err.Error() != "configmap references non-existent configmap key: c" {
		t.Errorf("a missing key: %v", err)
	}
	if p, err := keysPayload("configmap", data, missing, nil, true); err != nil || len(p) != 2 {
		t.Errorf("a missing key of an optional volume: %v %v", p, err)
	}
}

// The other volumes an API pod may have: a secret (items, modes), a
// downwardAPI volume (labels as the kubelet formats them), an emptyDir
// (writable, kept), an optional ConfigMap that does not exist (empty).
func TestOtherVolumes(t *testing.T) {
	pod, _, _ := kubeProxyObjects(t)
	pod.Labels["tier"] = `node "agent"`
	secretMode, keyMode := int32(0o440), int32(0o400)
	optional := true
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: &secretMode,
			Items: []corev1.KeyToPath{{Key: "tls.key", Path: "tls.key", Mode: &keyMode}, {Key: "tls.crt", Path: "tls.crt"}}}}},
		{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "extra", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: &optional}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "creds", MountPath: "/etc/creds"}, {Name: "podinfo", MountPath: "/etc/podinfo"},
		{Name: "scratch", MountPath: "/tmp/scratch"}, {Name: "extra", MountPath: "/etc/extra"},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "kube-system"},
		Data: map[string][]byte{"tls.key": []byte("KEY"), "tls.crt": []byte("CRT"), "other": []byte("no")}}
	h := newAPIHarness(t, pod, secret)
	h.step(t)
	h.step(t)
	ctr := h.running(t, "kube-proxy")
	vols := filepath.Join(h.env.root, "var/lib/kubelet/pods", string(pod.UID), "volumes")
	want := []agent.Mount{
		{Source: filepath.Join(vols, "kubernetes.io~secret/creds"), Target: "/etc/creds", ReadOnly: true},
		{Source: filepath.Join(vols, "kubernetes.io~downward-api/podinfo"), Target: "/etc/podinfo", ReadOnly: true},
		{Source: filepath.Join(vols, "kubernetes.io~empty-dir/scratch"), Target: "/tmp/scratch"},
		{Source: filepath.Join(vols, "kubernetes.io~configmap/extra"), Target: "/etc/extra", ReadOnly: true},
	}
	if !slices.Equal(ctr.Mounts, want) {
		t.Fatalf("mounts %+v, want %+v", ctr.Mounts, want)
	}
	for p, m := range map[string]fs.FileMode{"kubernetes.io~secret/creds/tls.key": 0o400, "kubernetes.io~secret/creds/tls.crt": 0o440} {
		if st, err := os.Stat(filepath.Join(vols, p)); err != nil || st.Mode().Perm() != m {
			t.Errorf("%s: %v %v, want %v", p, st.Mode(), err, m)
		}
	}
	if _, err := os.Stat(filepath.Join(vols, "kubernetes.io~secret/creds/other")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a key not among the items was written")
	}
	if got := readFile(t, filepath.Join(vols, "kubernetes.io~downward-api/podinfo/labels")); got != `controller-revision-hash="5499867df"
k8s-app="kube-proxy"
pod-template-generation="1"
tier="node \"agent\""` {
		t.Errorf("labels %q", got)
	}
	if st, err := os.Stat(filepath.Join(vols, "kubernetes.io~empty-dir/scratch")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o777 {
		t.Errorf("emptyDir: %v %v", st, err)
	}
	entries, err := os.ReadDir(filepath.Join(vols, "kubernetes.io~configmap/extra"))
	if err != nil || len(entries) != 2 { // ..data and its directory
		t.Errorf("the optional missing ConfigMap: %v %v", entries, err)
	}
}
