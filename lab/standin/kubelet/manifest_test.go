package kubelet

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var kubeadmManifests = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// The identity the kubelet gives a static pod: name <name>-<node>, a UID
// that is also its config hash, its node, its source, and the NoExecute
// toleration.
func TestStaticPodIdentity(t *testing.T) {
	for _, name := range append(kubeadmManifests, "etcd") {
		file := filepath.Join("testdata", "kubeadm", name+".yaml")
		if name == "etcd" {
			file = filepath.Join("testdata", "hagen", "etcd.yaml")
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		path := "/etc/kubernetes/manifests/" + name + ".yaml"
		sp, err := decodeManifest(path, data, "CP-A")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := sp.Pod
		if p.Name != name+"-cp-a" || p.Namespace != "kube-system" || p.Spec.NodeName != "CP-A" {
			t.Errorf("%s: name %s/%s on %s", name, p.Namespace, p.Name, p.Spec.NodeName)
		}
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(string(p.UID)) {
			t.Errorf("%s: UID %q is not an FNV-128 hash", name, p.UID)
		}
		if p.Annotations[annConfigHash] != string(p.UID) || p.Annotations[annConfigSource] != "file" {
			t.Errorf("%s: annotations %v", name, p.Annotations)
		}
		if name == "kube-apiserver" && p.Annotations["kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"] != "172.31.0.10:6443" {
			t.Errorf("the manifest's own annotations must stay (kubeadm reset reads this one): %v", p.Annotations)
		}
		found := false
		for _, tol := range p.Spec.Tolerations {
			found = found || (tol.Operator == corev1.TolerationOpExists && tol.Effect == corev1.TaintEffectNoExecute && tol.Key == "")
		}
		if !found {
			t.Errorf("%s: no NoExecute toleration in %v", name, p.Spec.Tolerations)
		}
		if *p.Spec.TerminationGracePeriodSeconds != 30 || p.Spec.RestartPolicy != corev1.RestartPolicyAlways {
			t.Errorf("%s: defaults not applied", name)
		}

		// The same manifest on another node, in another file, or with
		// one byte changed is another pod.
		for what, other := range map[string]func() (*desiredPod, error){
			"node":    func() (*desiredPod, error) { return decodeManifest(path, data, "cp-b") },
			"path":    func() (*desiredPod, error) { return decodeManifest(path+".bak", data, "CP-A") },
			"content": func() (*desiredPod, error) { return decodeManifest(path, append(data, '\n'), "CP-A") },
		} {
			o, err := other()
			if err != nil {
				t.Fatal(err)
			}
			if o.Pod.UID == p.UID {
				t.Errorf("%s: another %s, same UID %s", name, what, p.UID)
			}
		}
		again, _ := decodeManifest(path, data, "CP-A")
		if again.Pod.UID != p.UID {
			t.Errorf("%s: the UID is not a function of the manifest", name)
		}
	}
}

func TestManifestsThatDoNotDecode(t *testing.T) {
	good := string(testdata(t, "kubeadm/kube-scheduler.yaml"))
	for name, data := range map[string]string{
		"unknown field":  strings.Replace(good, "hostNetwork: true", "hostNetwork: true\n  hostNetwrk: true", 1),
		"no kind":        strings.Replace(good, "kind: Pod\n", "", 1),
		"not a pod":      strings.Replace(good, "kind: Pod", "kind: Deployment", 1),
		"no name":        strings.Replace(good, "  name: kube-scheduler\n  namespace", "  namespace", 1),
		"unknown volume": strings.Replace(good, "name: kubeconfig\n      readOnly", "name: kubeconfg\n      readOnly", 1),
		"bad yaml":       good + "\n  - :",
		"no containers":  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers: []\n",
	} {
		if data == good {
			t.Fatalf("%s: the test's edit did not apply", name)
		}
		if sp, err := decodeManifest("/m/x.yaml", []byte(data), "cp-a"); err == nil {
			t.Errorf("%s: decoded as %s", name, sp.Pod.Name)
		}
	}
}

// The manifest directory as the kubelet reads it: dotfiles (the deb's
// .kubelet-keep) and directories are skipped, a manifest that does not
// decode is skipped while the others run, and a missing directory is no
// pods.
func TestReadManifests(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(".kubelet-keep", "")
	write(".kube-apiserver.yaml.swp", "garbage")
	write("kube-scheduler.yaml", string(testdata(t, "kubeadm/kube-scheduler.yaml")))
	write("etcd.yaml", string(testdata(t, "hagen/etcd.yaml")))
	write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: b, bogus: 1}]}\n")
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	pods, errs := readManifests(dir, "cp-a")
	var names []string
	for _, p := range pods {
		names = append(names, p.Pod.Name)
	}
	if strings.Join(names, ",") != "etcd-cp-a,kube-scheduler-cp-a" {
		t.Errorf("pods %v", names)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "broken.yaml") || !strings.Contains(errs[1].Error(), "not recursing") {
		t.Errorf("errors %v", errs)
	}
	if pods, errs := readManifests(filepath.Join(dir, "missing"), "cp-a"); len(pods)+len(errs) != 0 {
		t.Errorf("a missing directory gave %v, %v", pods, errs)
	}
}

func TestPodsTheLabDoesNotRun(t *testing.T) {
	sched := string(testdata(t, "kubeadm/kube-scheduler.yaml"))
	for name, data := range map[string]string{
		"pod network": strings.Replace(sched, "hostNetwork: true", "hostNetwork: false", 1),
		// A static pod cannot read API objects.
		"configMap": strings.Replace(sched, "  - hostPath:\n      path: /etc/kubernetes/scheduler.conf\n      type: FileOrCreate\n", "  - configMap: {name: x}\n", 1),
		// tmpfs is not for the lab.
		"memory emptyDir": strings.Replace(sched, "  - hostPath:\n      path: /etc/kubernetes/scheduler.conf\n      type: FileOrCreate\n", "  - emptyDir: {medium: Memory}\n", 1),
	} {
		if data == sched {
			t.Fatalf("%s: the test's edit did not apply", name)
		}
		sp, err := decodeManifest("/m/s.yaml", []byte(data), "cp-a")
		if err != nil {
			t.Fatal(err)
		}
		if reason, msg := podProblem(sp); reason == "" {
			t.Errorf("%s: the lab would run it", name)
		} else if name == "pod network" && msg != "network is not ready: "+networkNotReady {
			t.Errorf("%s: %q is not the real kubelet's message", name, msg)
		}
	}
	for name, data := range map[string]string{
		"kubeadm's scheduler": sched,
		"an emptyDir":         strings.Replace(sched, "  - hostPath:\n      path: /etc/kubernetes/scheduler.conf\n      type: FileOrCreate\n", "  - emptyDir: {}\n", 1),
	} {
		sp, err := decodeManifest("/m/s.yaml", []byte(data), "cp-a")
		if err != nil {
			t.Fatal(err)
		}
		if reason, msg := podProblem(sp); reason != "" {
			t.Errorf("%s refused: %s", name, msg)
		}
	}
}
