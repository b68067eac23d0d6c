package kubelet

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"
	"sigs.k8s.io/yaml"

	"github.com/hagen/hagen/internal/golden"
	"github.com/hagen/hagen/lab/agent"
)

// TestAgainstARealControlPlane runs two stand-in kubelets against a real
// etcd, kube-apiserver (Node,RBAC authorization and NodeRestriction, as
// kubeadm sets them), kube-controller-manager (CSR approval and signing,
// DaemonSets, the kube-root-ca.crt publisher) and kube-scheduler, with
// kubeadm's RBAC for bootstrap tokens and nodes: cp-a starts from kubeadm
// init's embedded kubelet.conf and runs a static pod, cp-b joins with a
// bootstrap token; then kubeadm installs kube-proxy and hagen's
// kube-proxy-repoint.sh restarts it (see kubeProxy). What a fake API
// server cannot tell — that NodeRestriction admits the Node, the Lease,
// the mirror pods, the token requests and the status updates, that the
// Node authorizer lets a node read its pods' ConfigMaps, that the CSRs
// get approved and signed, that the DaemonSet controller counts the pods
// available and kubectl's rollout status is satisfied — this does. It
// needs the binaries: set HAGEN_LAB_KUBE_BIN to a directory holding
// etcd-3.7, kube-apiserver-1.37, kube-controller-manager-1.37,
// kube-scheduler-1.37, kubeadm-1.37 and kubectl-1.37 (the repository's
// .tools/bin). With HAGEN_UPDATE=1 it also rewrites the kube-proxy test
// data.
func TestAgainstARealControlPlane(t *testing.T) {
	bin := os.Getenv("HAGEN_LAB_KUBE_BIN")
	if bin == "" {
		t.Skip("HAGEN_LAB_KUBE_BIN is not set")
	}
	dir := t.TempDir()
	ca := newTestCA(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := keyutil.MarshalPrivateKeyToPEM(ca.key)
	caCrt, caKeyFile := write("ca.crt", ca.pem), write("ca.key", caKey)
	servingCrt, servingKey := ca.serving(t)
	saKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	saKeyPEM, _ := keyutil.MarshalPrivateKeyToPEM(saKey)
	saPub, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	adminCrt, adminKey := ca.pairFor(t, pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}})

	etcdPort, peerPort, apiPort := closedPort(t), closedPort(t), closedPort(t)
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	start(t, filepath.Join(bin, "etcd-3.7"), "--data-dir="+filepath.Join(dir, "etcd"), "--name=e2e",
		fmt.Sprintf("--listen-client-urls=http://127.0.0.1:%d", etcdPort), fmt.Sprintf("--advertise-client-urls=http://127.0.0.1:%d", etcdPort),
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peerPort), fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peerPort),
		fmt.Sprintf("--initial-cluster=e2e=http://127.0.0.1:%d", peerPort))
	start(t, filepath.Join(bin, "kube-apiserver-1.37"), fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", apiPort),
		"--client-ca-file="+caCrt, "--tls-cert-file="+write("apiserver.crt", servingCrt), "--tls-private-key-file="+write("apiserver.key", servingKey),
		"--service-account-key-file="+write("sa.pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub})),
		"--service-account-signing-key-file="+write("sa.key", saKeyPEM), "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true", "--allow-privileged=true",
		"--service-cluster-ip-range=10.96.0.0/12", "--endpoint-reconciler-type=none", "--cert-dir="+filepath.Join(dir, "apiserver-certs"))
	adminConf := writeKubeconfig(t, filepath.Join(dir, "admin.conf"), server, ca.pem, "admin", &clientcmdapi.AuthInfo{ClientCertificateData: adminCrt, ClientKeyData: adminKey})
	admin := clientFrom(t, adminConf)
	ctx := context.Background()
	waitLong(t, 60*time.Second, "the API server", func() bool {
		_, err := admin.CoreV1().Namespaces().Get(ctx, "kube-node-lease", metav1.GetOptions{})
		return err == nil
	})
	start(t, filepath.Join(bin, "kube-controller-manager-1.37"), "--kubeconfig="+adminConf,
		"--controllers=csrapproving,csrsigning,daemonset,root-ca-cert-publisher", "--root-ca-file="+caCrt,
		"--cluster-signing-cert-file="+caCrt, "--cluster-signing-key-file="+caKeyFile, "--leader-elect=false", "--secure-port=0")
	// The scheduler binds the DaemonSet's pods to the nodes.
	start(t, filepath.Join(bin, "kube-scheduler-1.37"), "--kubeconfig="+adminConf, "--leader-elect=false", "--secure-port=0")

	// kubeadm's bootstrap token and RBAC (phases/bootstraptoken/node).
	group := "system:bootstrappers:kubeadm:default-node-token"
	for name, b := range map[string]struct {
		role    string
		subject rbacv1.Subject
	}{
		"kubeadm:kubelet-bootstrap":                     {"system:node-bootstrapper", rbacv1.Subject{Kind: "Group", Name: group}},
		"kubeadm:node-autoapprove-bootstrap":            {"system:certificates.k8s.io:certificatesigningrequests:nodeclient", rbacv1.Subject{Kind: "Group", Name: group}},
		"kubeadm:node-autoapprove-certificate-rotation": {"system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", rbacv1.Subject{Kind: "Group", Name: "system:nodes"}},
	} {
		if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: b.role},
			Subjects:   []rbacv1.Subject{b.subject},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CoreV1().Secrets("kube-system").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-abcdef"}, Type: "bootstrap.kubernetes.io/token",
		StringData: map[string]string{"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true",
			"usage-bootstrap-signing": "true", "auth-extra-groups": group},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// cp-a, as after kubeadm init: an embedded kubelet.conf, a static pod.
	a := newKubeletHost(t, filepath.Join(dir, "cp-a"))
	a.env.manifest(t, "kube-scheduler.yaml", testdata(t, "kubeadm/kube-scheduler.yaml"))
	certA, keyA := ca.clientPair(t, "system:node:cp-a", time.Now().Add(time.Hour))
	kubeletConfA := writeKubeconfig(t, filepath.Join(a.dir, "kubelet.conf"), server, ca.pem, "system:node:cp-a",
		&clientcmdapi.AuthInfo{ClientCertificateData: certA, ClientKeyData: keyA})
	a.run(t, "--kubeconfig="+kubeletConfA, "--bootstrap-kubeconfig="+filepath.Join(a.dir, "bootstrap-kubelet.conf"))

	// cp-b, as kubeadm join leaves it: a bootstrap kubeconfig only.
	b := newKubeletHost(t, filepath.Join(dir, "cp-b"))
	bootstrap := writeKubeconfig(t, filepath.Join(b.dir, "bootstrap-kubelet.conf"), server, ca.pem, "tls-bootstrap-token-user",
		&clientcmdapi.AuthInfo{Token: "abcdef.0123456789abcdef"})
	b.run(t, "--kubeconfig="+filepath.Join(b.dir, "kubelet.conf"), "--bootstrap-kubeconfig="+bootstrap,
		"--register-with-taints=dedicated=infra:NoSchedule", "--node-labels=node.kubernetes.io/pool=workers")

	for _, h := range []*kubeletHost{a, b} {
		node := h.name
		waitLong(t, 60*time.Second, node+"'s Node and Lease", func() bool {
			_, err := admin.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			_, err2 := admin.CoordinationV1().Leases("kube-node-lease").Get(ctx, node, metav1.GetOptions{})
			return err == nil && err2 == nil
		})
		n, _ := admin.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if n.Labels["kubernetes.io/hostname"] != node {
			t.Errorf("%s: labels %v", node, n.Labels)
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && (c.Status != corev1.ConditionFalse || c.Message != networkNotReady) {
				t.Errorf("%s: Ready %+v", node, c)
			}
		}
		if ip := n.Status.Addresses[0]; ip.Type != corev1.NodeInternalIP || ip.Address != "10.0.0.10" {
			t.Errorf("%s: addresses %v", node, n.Status.Addresses)
		}
		l, _ := admin.CoordinationV1().Leases("kube-node-lease").Get(ctx, node, metav1.GetOptions{})
		waitLong(t, 20*time.Second, node+"'s Lease owner", func() bool {
			l, _ = admin.CoordinationV1().Leases("kube-node-lease").Get(ctx, node, metav1.GetOptions{})
			return len(l.OwnerReferences) == 1 && l.OwnerReferences[0].UID == n.UID
		})
		// The certificate came by CSR, approved and signed by the
		// controller manager.
		waitLong(t, 60*time.Second, node+"'s CSR-issued certificate", func() bool {
			_, cert := currentPEMQuiet(h.certDir)
			return cert != nil && cert.Issuer.CommonName == "kubernetes" && cert.Subject.CommonName == "system:node:"+node &&
				(node != "cp-a" || string(pemOf(cert)) != string(certA))
		})
	}
	bn, _ := admin.CoreV1().Nodes().Get(ctx, "cp-b", metav1.GetOptions{})
	// (The API server's TaintNodesByCondition adds the not-ready taint.)
	if !slices.ContainsFunc(bn.Spec.Taints, func(t corev1.Taint) bool { return t.Key == "dedicated" && t.Value == "infra" }) ||
		bn.Labels["node.kubernetes.io/pool"] != "workers" {
		t.Errorf("cp-b: taints %v labels %v", bn.Spec.Taints, bn.Labels)
	}

	// kubeadm's mark-control-plane, then a few status updates: the
	// kubelet leaves kubeadm's label and taint alone.
	if _, err := admin.CoreV1().Nodes().Patch(ctx, "cp-a", types.StrategicMergePatchType,
		[]byte(`{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":""}},"spec":{"taints":[{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"}]}}`),
		metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	// The mirror pod, admitted by NodeRestriction, with its status.
	var mirror *corev1.Pod
	waitLong(t, 30*time.Second, "the scheduler's mirror pod Running", func() bool {
		var err error
		mirror, err = admin.CoreV1().Pods("kube-system").Get(ctx, "kube-scheduler-cp-a", metav1.GetOptions{})
		return err == nil && mirror.Status.Phase == corev1.PodRunning && len(mirror.Status.ContainerStatuses) == 1 &&
			mirror.Status.ContainerStatuses[0].State.Running != nil
	})
	if mirror.Annotations[annConfigMirror] == "" || mirror.Annotations[annConfigMirror] != mirror.Annotations[annConfigHash] ||
		mirror.Status.PodIP != "10.0.0.10" || mirror.Status.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("mirror pod %+v", mirror)
	}
	hash := mirror.Annotations[annConfigHash]
	a.env.manifest(t, "kube-scheduler.yaml", []byte(strings.Replace(string(testdata(t, "kubeadm/kube-scheduler.yaml")), "--leader-elect=true", "--leader-elect=false", 1)))
	waitLong(t, 30*time.Second, "the changed manifest's mirror pod", func() bool {
		m, err := admin.CoreV1().Pods("kube-system").Get(ctx, "kube-scheduler-cp-a", metav1.GetOptions{})
		return err == nil && m.Annotations[annConfigHash] != hash && m.Status.Phase == corev1.PodRunning
	})
	n, _ := admin.CoreV1().Nodes().Get(ctx, "cp-a", metav1.GetOptions{})
	if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; !ok || len(n.Spec.Taints) != 1 {
		t.Errorf("kubeadm's label or taint did not survive the kubelet: %v %v", n.Labels, n.Spec.Taints)
	}
	if err := os.Remove(filepath.Join(a.env.manifests, "kube-scheduler.yaml")); err != nil {
		t.Fatal(err)
	}
	waitLong(t, 30*time.Second, "the mirror pod to go", func() bool {
		_, err := admin.CoreV1().Pods("kube-system").Get(ctx, "kube-scheduler-cp-a", metav1.GetOptions{})
		return err != nil
	})

	kubeProxy(t, bin, dir, adminConf, admin, ca.pem, a, b)
}

// kubeProxy installs kube-proxy as kubeadm 1.37.2 does (its addon phase,
// from hagen's kubeadm config for cloud-lb's cp-a, as a single-master
// cluster before it moved behind the load balancer), checks that both
// kubelets run its pods with their volumes and report them available,
// then runs hagen's kube-proxy-repoint.sh from the cloud-lb bundle: it
// patches the ConfigMap, restarts the DaemonSet and waits for the
// rollout, which the kubelets carry out (stop, confirm the deletion,
// start the new pods). A second run changes nothing.
func kubeProxy(t *testing.T, bin, dir, adminConf string, admin kubernetes.Interface, caPEM []byte, hosts ...*kubeletHost) {
	ctx := context.Background()
	bundle, err := filepath.Abs("../../../golden/cloud-lb")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(bundle, "hosts/cp-a/etc/kubernetes/kubeadm/kubeadm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	single := strings.NewReplacer("controlPlaneEndpoint: k8s-api.cloud.example.com:6443", "controlPlaneEndpoint: 172.31.0.10:6443",
		"directory: /etc/kubernetes/kubeadm/patches", "directory: "+filepath.Join(bundle, "hosts/cp-a/etc/kubernetes/kubeadm/patches")).Replace(string(cfg))
	if single == string(cfg) {
		t.Fatal("the edit of kubeadm.yaml did not apply")
	}

	// The pod as the kubelet first sees it: the scheduler's binding.
	w, err := admin.CoreV1().Pods("kube-system").Watch(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy"})
	if err != nil {
		t.Fatal(err)
	}
	bound := make(chan *corev1.Pod, 1)
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && p.Spec.NodeName == "cp-a" {
				bound <- p
				return
			}
		}
	}()
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	run(filepath.Join(bin, "kubeadm-1.37"), "init", "phase", "addon", "kube-proxy", "--config="+writeTemp(t, "kubeadm.yaml", []byte(single)), "--kubeconfig="+adminConf)
	var first *corev1.Pod
	select {
	case first = <-bound:
	case <-time.After(60 * time.Second):
		t.Fatal("no kube-proxy pod was bound to cp-a")
	}
	if golden.Update() {
		writeObject(t, "testdata/kubeadm/kube-proxy-pod.yaml", "Pod", first)
		cm, err := admin.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		writeObject(t, "testdata/kubeadm/kube-proxy-configmap.yaml", "ConfigMap", cm)
	}

	available := func(what string) []corev1.Pod {
		t.Helper()
		waitLong(t, 90*time.Second, what, func() bool {
			ds, err := admin.AppsV1().DaemonSets("kube-system").Get(ctx, "kube-proxy", metav1.GetOptions{})
			return err == nil && ds.Status.ObservedGeneration == ds.Generation && ds.Status.DesiredNumberScheduled == 2 &&
				ds.Status.UpdatedNumberScheduled == 2 && ds.Status.NumberAvailable == 2
		})
		list, err := admin.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=kube-proxy"})
		if err != nil {
			t.Fatal(err)
		}
		return list.Items
	}
	before := available("kube-proxy available on both nodes")
	if len(before) != 2 {
		t.Fatalf("%d kube-proxy pods", len(before))
	}
	for _, p := range before {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP != "10.0.0.10" || p.Status.StartTime == nil ||
			len(p.Status.ContainerStatuses) != 1 || !p.Status.ContainerStatuses[0].Ready || p.Status.ObservedGeneration != p.Generation {
			t.Errorf("%s: status %+v", p.Name, p.Status)
		}
	}
	// What cp-a runs: kube-proxy from its image, its command expanded,
	// the ConfigMap and the projected token mounted read-only, the host
	// paths where they are.
	h := hosts[0]
	var ctr agent.Container
	for _, c := range h.rt.runningContainers() {
		if c.Labels[labelContainerName] == "kube-proxy" {
			ctr = c.Container
		}
	}
	imgDir := h.env.imageDirs["registry.k8s.io/kube-proxy:v1.37.2"]
	if want := []string{filepath.Join(imgDir, "kube-proxy"), "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=cp-a"}; !slices.Equal(ctr.Argv, want) {
		t.Fatalf("kube-proxy runs as %q, want %q", ctr.Argv, want)
	}
	mounts := map[string]agent.Mount{}
	for _, m := range ctr.Mounts {
		mounts[m.Target] = m
	}
	cmDir, saDir := mounts["/var/lib/kube-proxy"], mounts["/var/run/secrets/kubernetes.io/serviceaccount"]
	if len(mounts) != 2 || !cmDir.ReadOnly || !saDir.ReadOnly || !strings.Contains(cmDir.Source, "/volumes/kubernetes.io~configmap/kube-proxy") ||
		!strings.Contains(saDir.Source, "/volumes/kubernetes.io~projected/kube-api-access-") {
		t.Fatalf("mounts %+v", ctr.Mounts)
	}
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if !strings.Contains(read(filepath.Join(cmDir.Source, "kubeconfig.conf")), "server: https://172.31.0.10:6443") ||
		!strings.Contains(read(filepath.Join(cmDir.Source, "config.conf")), "kind: KubeProxyConfiguration") {
		t.Error("the ConfigMap's files are not kubeadm's")
	}
	if read(filepath.Join(saDir.Source, "ca.crt")) != string(caPEM) || read(filepath.Join(saDir.Source, "namespace")) != "kube-system" {
		t.Error("ca.crt or namespace of the projected volume is wrong")
	}
	// The token is the API server's, for kube-proxy's account, bound to
	// the pod.
	review, err := admin.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: read(filepath.Join(saDir.Source, "token"))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := review.Status; !st.Authenticated || st.User.Username != "system:serviceaccount:kube-system:kube-proxy" ||
		!slices.Contains(st.User.Extra["authentication.kubernetes.io/pod-uid"], ctr.Labels[labelPodUID]) {
		t.Errorf("token review %+v", st)
	}
	if _, err := os.Stat(filepath.Join(h.env.root, "run/xtables.lock")); err != nil {
		t.Errorf("the FileOrCreate host path was not made: %v", err)
	}
	// A steady pod costs the API server nothing.
	rv := func() string {
		p, err := admin.CoreV1().Pods("kube-system").Get(ctx, before[0].Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p.ResourceVersion
	}
	v := rv()
	time.Sleep(3 * time.Second)
	if rv() != v {
		t.Error("the status of a steady pod was written again")
	}

	// hagen's repoint script, as an operator runs it.
	tools := t.TempDir()
	if err := os.Symlink(filepath.Join(bin, "kubectl-1.37"), filepath.Join(tools, "kubectl")); err != nil {
		t.Fatal(err)
	}
	script := func() string {
		t.Helper()
		cmd := exec.Command("sh", filepath.Join(bundle, "cluster/kube-proxy-repoint.sh"))
		cmd.Env = append(os.Environ(), "KUBECONFIG="+adminConf, "PATH="+tools+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kube-proxy-repoint.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	out := script()
	if !strings.Contains(out, "daemonset.apps/kube-proxy restarted") || !strings.Contains(out, "successfully rolled out") {
		t.Errorf("kube-proxy-repoint.sh said:\n%s", out)
	}
	after := available("the restarted kube-proxy available")
	old := map[types.UID]bool{before[0].UID: true, before[1].UID: true}
	for _, p := range after {
		if old[p.UID] || p.DeletionTimestamp != nil {
			t.Errorf("pod %s is not a new one", p.Name)
		}
	}
	for _, h := range hosts {
		_, stops, _ := h.rt.calls()
		var stopped int
		for _, s := range stops {
			if strings.HasPrefix(s.ID, "kube-proxy-") && s.Grace == 30*time.Second {
				stopped++
			}
		}
		if stopped != 1 {
			t.Errorf("%s: stops %v, want the old kube-proxy's with its 30s", h.name, stops)
		}
	}
	for _, c := range h.rt.runningContainers() {
		if c.Labels[labelContainerName] == "kube-proxy" {
			for _, m := range c.Mounts {
				if m.Target == "/var/lib/kube-proxy" && !strings.Contains(read(filepath.Join(m.Source, "kubeconfig.conf")), "server: https://k8s-api.cloud.example.com:6443") {
					t.Error("the new kube-proxy does not see the patched ConfigMap")
				}
			}
		}
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(filepath.Dir(cmDir.Source)))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old pod's directory is still there: %v", err)
	}
	if out := script(); strings.Contains(out, "restarted") {
		t.Errorf("a second run restarted kube-proxy:\n%s", out)
	}
}

// writeObject writes an object from the API server as test data, without
// its managed fields.
func writeObject(t *testing.T, path, kind string, obj interface {
	metav1.Object
	runtime.Object
}) {
	t.Helper()
	obj.SetManagedFields(nil)
	obj.GetObjectKind().SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
	data, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// kubeletHost is one stand-in kubelet of the end-to-end test, on a fake
// runtime.
type kubeletHost struct {
	name, dir, certDir string
	env                *labEnv
	rt                 *fakeRuntime
}

func newKubeletHost(t *testing.T, dir string) *kubeletHost {
	h := &kubeletHost{name: filepath.Base(dir), dir: dir, certDir: filepath.Join(dir, "pki"),
		env: newLabEnv(t, map[string][]string{schedImage: {"kube-scheduler"}, kubeProxyImage: {"kube-proxy"}}), rt: newFakeRuntime(time.Now)}
	for _, d := range []string{"etc/kubernetes", "run"} {
		if err := os.MkdirAll(filepath.Join(h.env.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *kubeletHost) run(t *testing.T, args ...string) {
	cfg := strings.NewReplacer("staticPodPath: /etc/kubernetes/manifests", "staticPodPath: "+h.env.manifests,
		"healthzPort: 10248", fmt.Sprintf("healthzPort: %d", closedPort(t)),
		"nodeStatusUpdateFrequency: 0s", "nodeStatusUpdateFrequency: 1s").Replace(string(testdata(t, "kubeadm/config.yaml")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	d := deps{
		runtime: func() Runtime { return h.rt }, newClient: newForConfig,
		hostname:   func() (string, error) { return h.name, nil },
		localAddrs: func() ([]net.Addr, error) { return []net.Addr{&net.IPNet{IP: net.ParseIP("10.0.0.10")}}, nil },
		imagesFile: h.env.images, root: h.env.root, facts: func() hostFacts { return readHostFacts(h.dir) }, poll: 200 * time.Millisecond,
	}
	args = append(args, "--config="+writeTemp(t, "config.yaml", []byte(cfg)), "--cert-dir="+h.certDir, "--node-ip=10.0.0.10")
	go func() { done <- run(ctx, args, io.Discard, d) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s's kubelet did not stop", h.name)
		}
	})
}

// start runs a control-plane binary for the test's duration.
func start(t *testing.T, path string, args ...string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	log, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(path)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			t.Logf("%s's log ends:\n%s", filepath.Base(path), b)
		}
	})
}

func waitLong(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func writeKubeconfig(t *testing.T, path, server string, caPEM []byte, user string, auth *clientcmdapi.AuthInfo) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"kubernetes": {Server: server, CertificateAuthorityData: caPEM}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{user: auth},
		Contexts:       map[string]*clientcmdapi.Context{user + "@kubernetes": {Cluster: "kubernetes", AuthInfo: user}},
		CurrentContext: user + "@kubernetes",
	}
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func clientFrom(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(rest.CopyConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func currentPEMQuiet(certDir string) (string, *x509.Certificate) {
	b, err := os.ReadFile(filepath.Join(certDir, "kubelet-client-current.pem"))
	if err != nil {
		return "", nil
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return "", nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", nil
	}
	return "", c
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// serving issues the API server's serving certificate for 127.0.0.1.
func (ca *testCA) serving(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	keyPEM, _ = keyutil.MarshalPrivateKeyToPEM(key)
	ca.n++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.n), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM
}

// pairFor issues a client certificate for subject.
func (ca *testCA) pairFor(t *testing.T, subject pkix.Name) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	keyPEM, _ = keyutil.MarshalPrivateKeyToPEM(key)
	return ca.issue(t, subject, key.Public(), time.Now().Add(time.Hour)), keyPEM
}
