package kubelet

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// This file is the kubelet's volume plugins as far as the lab has them:
// where each pod's volumes live on the host, the payloads of the volumes
// made from API objects (pkg/volume/configmap, secret, projected,
// downwardapi), and the atomic writer that puts a payload on disk
// (pkg/volume/util/atomic_writer.go).

// podsDir is the kubelet's directory of pod directories
// (<root-dir>/pods; --root-dir is /var/lib/kubelet, not acted on).
const podsDir = "/var/lib/kubelet/pods"

// The plugin names of the volume directories, as the kubelet's plugins
// escape theirs ("kubernetes.io/configmap" -> "kubernetes.io~configmap").
const (
	pluginEmptyDir    = "kubernetes.io~empty-dir"
	pluginConfigMap   = "kubernetes.io~configmap"
	pluginSecret      = "kubernetes.io~secret"
	pluginProjected   = "kubernetes.io~projected"
	pluginDownwardAPI = "kubernetes.io~downward-api"
)

// volumeDir is where a pod's volume lives on the host, under root.
func volumeDir(root string, uid types.UID, plugin, name string) string {
	return filepath.Join(root, podsDir, string(uid), "volumes", plugin, name)
}

// apiVolumePlugin is the plugin of a volume made from API objects, ""
// for any other.
func apiVolumePlugin(v *corev1.Volume) string {
	switch {
	case v.ConfigMap != nil:
		return pluginConfigMap
	case v.Secret != nil:
		return pluginSecret
	case v.Projected != nil:
		return pluginProjected
	case v.DownwardAPI != nil:
		return pluginDownwardAPI
	}
	return ""
}

// needsAPIVolumes says whether a pod has volumes the API side must make
// before its containers can start.
func needsAPIVolumes(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return apiVolumePlugin(&v) != "" })
}

// volumeProblem says why the lab's kubelet cannot set up a volume, ""
// when it can. Static pods get hostPath and emptyDir volumes; API pods
// also the volumes made from API objects. Anything that needs a plugin
// the lab lacks (a network disk, CSI, tmpfs, a signer's trust bundle) is
// refused rather than faked.
func volumeProblem(v *corev1.Volume, static bool) string {
	switch {
	case v.HostPath != nil:
		return ""
	case v.EmptyDir != nil:
		if v.EmptyDir.Medium != corev1.StorageMediumDefault {
			return fmt.Sprintf("volume %q: emptyDir medium %q is not supported by the lab's kubelet", v.Name, v.EmptyDir.Medium)
		}
		return ""
	case static:
		return fmt.Sprintf("volume %q: the lab's kubelet supports hostPath and emptyDir volumes only in static pods", v.Name)
	case v.ConfigMap != nil, v.Secret != nil:
		return ""
	case v.DownwardAPI != nil:
		return downwardAPIProblem(v.Name, v.DownwardAPI.Items)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			switch {
			case s.ServiceAccountToken != nil, s.ConfigMap != nil, s.Secret != nil:
			case s.DownwardAPI != nil:
				if msg := downwardAPIProblem(v.Name, s.DownwardAPI.Items); msg != "" {
					return msg
				}
			default:
				return fmt.Sprintf("volume %q: the lab's kubelet projects service account tokens, configMaps, secrets and the downward API only", v.Name)
			}
		}
		return ""
	}
	return fmt.Sprintf("volume %q: the lab's kubelet supports hostPath, emptyDir, configMap, secret, downwardAPI and projected volumes only", v.Name)
}

func downwardAPIProblem(volume string, items []corev1.DownwardAPIVolumeFile) string {
	for _, it := range items {
		if it.ResourceFieldRef != nil {
			return fmt.Sprintf("volume %q: resourceFieldRef in a downwardAPI volume is not supported by the lab's kubelet", volume)
		}
		if it.FieldRef != nil && !metadataField(it.FieldRef.FieldPath) {
			return fmt.Sprintf("volume %q: fieldRef %q is not supported by the lab's kubelet", volume, it.FieldRef.FieldPath)
		}
	}
	return ""
}

// prepareEmptyDirs makes a pod's emptyDir volumes: a directory each, mode
// 0777 as the kubelet's emptyDir plugin makes it, kept for the pod's life
// (a restarted container finds what it left).
func prepareEmptyDirs(root string, pod *corev1.Pod) error {
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil {
			continue
		}
		if err := makeVolumeDir(volumeDir(root, pod.UID, pluginEmptyDir, v.Name)); err != nil {
			return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
	}
	return nil
}

// makeVolumeDir makes a volume's directory 0777, whatever the umask: the
// kubelet's configMap, secret, projected and downwardAPI volumes are
// emptyDirs underneath.
func makeVolumeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, 0o777)
}

// fileProjection is one file of a volume's payload.
type fileProjection struct {
	Data []byte
	Mode int32
}

// The API's default modes, for objects built by hand (the API server
// sets them on every pod it stores).
const defaultVolumeMode int32 = 0o644

func modeOr(m *int32) int32 {
	if m != nil {
		return *m
	}
	return defaultVolumeMode
}

// keysPayload is configmap.MakePayload and secret.MakePayload: every key
// as a file named after it, or only the items asked for, each under its
// path and with its mode. A missing key fails unless the volume is
// optional.
func keysPayload(kind string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool) (map[string]fileProjection, error) {
	payload := map[string]fileProjection{}
	if len(items) == 0 {
		for k, v := range data {
			payload[k] = fileProjection{Data: v, Mode: modeOr(defaultMode)}
		}
		return payload, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s references non-existent %s key: %s", kind, kind, it.Key)
		}
		mode := modeOr(defaultMode)
		if it.Mode != nil {
			mode = *it.Mode
		}
		payload[it.Path] = fileProjection{Data: v, Mode: mode}
	}
	return payload, nil
}

func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data
}

// downwardAPIPayload is the downwardAPI plugin's CollectData for the
// metadata fields.
func downwardAPIPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32) (map[string]fileProjection, error) {
	payload := map[string]fileProjection{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downwardAPI item %q: only fieldRef is supported", it.Path)
		}
		v, err := podFieldValue(pod, it.FieldRef.FieldPath, nil)
		if err != nil {
			return nil, err
		}
		mode := modeOr(defaultMode)
		if it.Mode != nil {
			mode = *it.Mode
		}
		payload[filepath.Clean(it.Path)] = fileProjection{Data: []byte(v), Mode: mode}
	}
	return payload, nil
}

// The atomic writer's names: ..data links to the current timestamped
// directory, ..data_tmp is the link being swapped in.
const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// writeAtomic puts payload in dir as the kubelet's AtomicWriter does, so
// that a process never sees half an update: the files go into a new
// directory ..<timestamp>, the symlink ..data is swapped to it with one
// rename, and each top-level name is a symlink through ..data. A bind
// mount of dir sees every update. Nothing is written when dir already
// holds the payload; it says whether it wrote.
func writeAtomic(dir string, payload map[string]fileProjection) (bool, error) {
	clean := map[string]fileProjection{}
	for p, f := range payload {
		if err := validatePayloadPath(p); err != nil {
			return false, err
		}
		clean[filepath.Clean(p)] = f
	}
	dataLink := filepath.Join(dir, dataDirName)
	old, err := os.Readlink(dataLink)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	oldPaths := map[string]bool{}
	if old != "" {
		same, paths, err := holdsPayload(filepath.Join(dir, old), clean)
		if err != nil {
			return false, err
		}
		if same {
			return false, nil
		}
		oldPaths = paths
	}

	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return false, err
	}
	for p, f := range clean {
		full := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(full, f.Data, fs.FileMode(f.Mode)); err != nil {
			return false, err
		}
		// WriteFile's mode is cut by the umask; the payload's is not.
		if err := os.Chmod(full, fs.FileMode(f.Mode)); err != nil {
			return false, err
		}
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		os.RemoveAll(ts)
		return false, err
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		os.Remove(tmpLink)
		os.RemoveAll(ts)
		return false, err
	}

	visible := map[string]bool{}
	for p := range clean {
		top, _, _ := strings.Cut(p, string(filepath.Separator))
		visible[top] = true
	}
	for top := range visible {
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(filepath.Join(dataDirName, top), link); err != nil {
				return true, err
			}
		}
	}
	for p := range oldPaths {
		top, _, _ := strings.Cut(p, string(filepath.Separator))
		if !visible[top] {
			if err := os.Remove(filepath.Join(dir, top)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return true, err
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// validatePayloadPath refuses what the atomic writer refuses: absolute
// paths, paths that climb out, and names of its own (..data and the
// like).
func validatePayloadPath(p string) error {
	if p == "" || filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q: must be relative and non-empty", p)
	}
	for _, part := range strings.Split(p, string(filepath.Separator)) {
		if part == ".." {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
	}
	if strings.HasPrefix(p, "..") {
		return fmt.Errorf("invalid path %q: must not start with '..'", p)
	}
	return nil
}

// holdsPayload says whether the directory dir holds exactly payload
// (contents and modes), and which files it holds.
func holdsPayload(dir string, payload map[string]fileProjection) (bool, map[string]bool, error) {
	paths := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			paths[rel] = true
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return false, paths, nil
	}
	if err != nil {
		return false, nil, err
	}
	if len(paths) != len(payload) {
		return false, paths, nil
	}
	for p, f := range payload {
		if !paths[p] {
			return false, paths, nil
		}
		full := filepath.Join(dir, p)
		st, err := os.Stat(full)
		if err != nil {
			return false, paths, nil
		}
		data, err := os.ReadFile(full)
		if err != nil || st.Mode().Perm() != fs.FileMode(f.Mode).Perm() || !bytes.Equal(data, f.Data) {
			return false, paths, nil
		}
	}
	return true, paths, nil
}
