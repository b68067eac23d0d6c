package kubelet

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/keyutil"
)

// testCA is a throwaway cluster CA that signs what the fake API server's
// CSR signer is asked for, as kube-controller-manager's csrsigning would.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
	n    int64
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), n: 1}
}

// issue signs a client certificate for subject and pub.
func (ca *testCA) issue(t *testing.T, subject pkix.Name, pub crypto.PublicKey, notAfter time.Time) []byte {
	t.Helper()
	ca.n++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(ca.n), Subject: subject,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// clientPair is a key and a certificate issued for it, as PEM.
func (ca *testCA) clientPair(t *testing.T, cn string, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return ca.issue(t, pkix.Name{CommonName: cn, Organization: []string{"system:nodes"}}, key.Public(), notAfter), keyPEM
}

var csrGVR = certificatesv1.SchemeGroupVersion.WithResource("certificatesigningrequests")

// signingAPIServer is a fake API server whose CSRs are approved and
// signed as soon as they are created, and which honours the name field
// selector client-go's WaitForCertificate relies on.
func signingAPIServer(t *testing.T, ca *testCA) (*fake.Clientset, func() []*certificatesv1.CertificateSigningRequest) {
	t.Helper()
	c := newClient()
	var mu sync.Mutex
	var created []*certificatesv1.CertificateSigningRequest
	c.PrependReactor("create", "certificatesigningrequests", func(a k8stesting.Action) (bool, runtime.Object, error) {
		csr := a.(k8stesting.CreateAction).GetObject().(*certificatesv1.CertificateSigningRequest)
		mu.Lock()
		defer mu.Unlock()
		if csr.Name == "" {
			csr.Name = csr.GenerateName + string(rune('a'+len(created)))
		}
		block, _ := pem.Decode(csr.Spec.Request)
		req, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			t.Errorf("the CSR's request: %v", err)
			return false, nil, nil
		}
		csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{
			Type: certificatesv1.CertificateApproved, Status: "True", Reason: "AutoApproved"}}
		csr.Status.Certificate = ca.issue(t, req.Subject, req.PublicKey, time.Now().Add(time.Hour))
		created = append(created, csr.DeepCopy())
		return false, nil, nil
	})
	byName := func(r fields.Selector, name string) bool {
		v, ok := r.RequiresExactMatch("metadata.name")
		return !ok || v == name
	}
	c.PrependReactor("list", "certificatesigningrequests", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj, err := c.Tracker().List(csrGVR, certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest"), "")
		if err != nil {
			return true, nil, err
		}
		l := obj.(*certificatesv1.CertificateSigningRequestList)
		sel := a.(k8stesting.ListAction).GetListRestrictions().Fields
		l.Items = slices.DeleteFunc(l.Items, func(csr certificatesv1.CertificateSigningRequest) bool { return !byName(sel, csr.Name) })
		return true, l, nil
	})
	c.PrependWatchReactor("certificatesigningrequests", func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := c.Tracker().Watch(csrGVR, "")
		if err != nil {
			return true, nil, err
		}
		sel := a.(k8stesting.WatchAction).GetWatchRestrictions().Fields
		return true, watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
			csr, ok := e.Object.(*certificatesv1.CertificateSigningRequest)
			return e, ok && byName(sel, csr.Name)
		}), nil
	})
	return c, func() []*certificatesv1.CertificateSigningRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(created)
	}
}

// bootstrapKubeconfig is kubeadm join's bootstrap-kubelet.conf.
func bootstrapKubeconfig(t *testing.T, dir string, ca *testCA) string {
	t.Helper()
	p := filepath.Join(dir, "bootstrap-kubelet.conf")
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"kubernetes": {Server: "https://172.31.16.10:6443", CertificateAuthorityData: ca.pem}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"tls-bootstrap-token-user": {Token: "09si0o.6mr2135qgfcax1vz"}},
		Contexts:       map[string]*clientcmdapi.Context{"tls-bootstrap-token-user@kubernetes": {Cluster: "kubernetes", AuthInfo: "tls-bootstrap-token-user"}},
		CurrentContext: "tls-bootstrap-token-user@kubernetes",
	}
	if err := clientcmd.WriteToFile(cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// embeddedKubeconfig is kubeadm init's kubelet.conf: a client certificate
// for system:node:<node>, embedded.
func embeddedKubeconfig(t *testing.T, dir string, ca *testCA, node string, notAfter time.Time) string {
	t.Helper()
	p := filepath.Join(dir, "kubelet.conf")
	cert, key := ca.clientPair(t, "system:node:"+node, notAfter)
	user := "system:node:" + node
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"cloud": {Server: "https://172.31.0.10:6443", CertificateAuthorityData: ca.pem}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{user: {ClientCertificateData: cert, ClientKeyData: key}},
		Contexts:       map[string]*clientcmdapi.Context{user + "@cloud": {Cluster: "cloud", AuthInfo: user}},
		CurrentContext: user + "@cloud",
	}
	if err := clientcmd.WriteToFile(cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// currentPEM reads kubelet-client-current.pem as kubeadm finds it.
func currentPEM(t *testing.T, certDir string) (target string, cert *x509.Certificate) {
	t.Helper()
	link := filepath.Join(certDir, "kubelet-client-current.pem")
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatalf("kubelet-client-current.pem: %v", err)
	}
	if !filepath.IsAbs(target) || !regexp.MustCompile(`/kubelet-client-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.pem$`).MatchString(target) {
		t.Errorf("the symlink points at %s", target)
	}
	st, err := os.Stat(target)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v, mode %v", target, err, st.Mode())
	}
	pair, err := tls.LoadX509KeyPair(link, link)
	if err != nil {
		t.Fatalf("the pem is not a certificate and its key: %v", err)
	}
	cert, _ = x509.ParseCertificate(pair.Certificate[0])
	return target, cert
}

// kubeadm join: no kubelet.conf, a bootstrap kubeconfig. The kubelet
// writes kubelet.conf at once, pointing at the pem it does not have yet
// (kubeadm's TLS-bootstrap wait only loads it), then gets its
// certificate by CSR and writes the pem and its symlink.
func TestTLSBootstrap(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certDir := filepath.Join(dir, "pki")
	client, csrs := signingAPIServer(t, ca)
	o := &options{KubeConfig: filepath.Join(dir, "kubelet.conf"), BootstrapKubeConfig: bootstrapKubeconfig(t, dir, ca), CertDir: certDir}
	var configs []*rest.Config
	var mu sync.Mutex
	newClientFn := func(c *rest.Config) (kubernetes.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		configs = append(configs, c)
		return client, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	creds, err := setupCredentials(ctx, o, &config{RotateCertificates: true}, "cp-b", newClientFn)
	if err != nil {
		t.Fatal(err)
	}

	kc, err := clientcmd.LoadFromFile(o.KubeConfig)
	if err != nil {
		t.Fatal(err)
	}
	pemPath := filepath.Join(certDir, "kubelet-client-current.pem")
	if kc.CurrentContext != "default-context" || kc.Contexts["default-context"].Cluster != "default-cluster" ||
		kc.Contexts["default-context"].AuthInfo != "default-auth" || kc.Contexts["default-context"].Namespace != "default" ||
		kc.Clusters["default-cluster"].Server != "https://172.31.16.10:6443" || !bytes.Equal(kc.Clusters["default-cluster"].CertificateAuthorityData, ca.pem) ||
		kc.AuthInfos["default-auth"].ClientCertificate != pemPath || kc.AuthInfos["default-auth"].ClientKey != pemPath {
		t.Errorf("kubelet.conf %+v", kc)
	}
	if st, _ := os.Stat(o.KubeConfig); st.Mode().Perm() != 0o600 {
		t.Errorf("kubelet.conf mode %v", st.Mode())
	}

	waitFor(t, creds.hasCert)
	_, cert := currentPEM(t, certDir)
	if cert.Subject.CommonName != "system:node:cp-b" || !slices.Equal(cert.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("certificate for %v", cert.Subject)
	}
	if err := cert.CheckSignatureFrom(ca.cert); err != nil {
		t.Errorf("not signed by the cluster CA: %v", err)
	}
	got := csrs()
	if len(got) != 1 {
		t.Fatalf("%d CSRs", len(got))
	}
	csr := got[0]
	if csr.Spec.SignerName != "kubernetes.io/kube-apiserver-client-kubelet" ||
		!slices.Equal(csr.Spec.Usages, []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}) ||
		csr.GenerateName != "csr-" {
		t.Errorf("CSR spec %+v", csr.Spec)
	}
	// The CSR was sent with the bootstrap token, the only credential
	// there was.
	mu.Lock()
	if len(configs) == 0 || configs[0].BearerToken != "09si0o.6mr2135qgfcax1vz" {
		t.Errorf("the first clientset was made from %+v", configs)
	}
	mu.Unlock()

	// What kubeadm's kubelet-wait-bootstrap does with kubelet.conf.
	rc, err := clientcmd.BuildConfigFromFlags("", o.KubeConfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubernetes.NewForConfig(rc); err != nil {
		t.Errorf("kubeadm could not load the kubelet.conf: %v", err)
	}
}

// kubeadm init: kubelet.conf embeds a certificate. The kubelet leaves the
// file alone, writes the embedded pair as its first pem at once (kubeadm's
// kubelet-finalize looks for it), and rotates it out by a CSR of its own.
func TestEmbeddedCertificateIsRotated(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certDir := filepath.Join(dir, "pki")
	client, csrs := signingAPIServer(t, ca)
	o := &options{KubeConfig: embeddedKubeconfig(t, dir, ca, "cp-a", time.Now().Add(24*time.Hour)),
		BootstrapKubeConfig: filepath.Join(dir, "bootstrap-kubelet.conf"), CertDir: certDir}
	before, _ := os.ReadFile(o.KubeConfig)

	certConfig, userConfig, err := loadClientConfig(o.KubeConfig, o.BootstrapKubeConfig, certDir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := newClientCertManager(certConfig, userConfig, certDir, "cp-a", func(*rest.Config) (kubernetes.Interface, error) { return client, nil })
	if err != nil {
		t.Fatal(err)
	}
	_, cert := currentPEM(t, certDir)
	if !bytes.Equal(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), userConfig.CertData) {
		t.Error("the first pem is not kubelet.conf's embedded certificate")
	}
	if len(csrs()) != 0 {
		t.Error("a CSR before the manager started")
	}
	m.Start()
	defer m.Stop()
	waitFor(t, func() bool {
		return len(csrs()) == 1 && m.Current() != nil && m.Current().Leaf.SerialNumber.Cmp(cert.SerialNumber) != 0
	})
	// (Within the same second the store writes the same file name again.)
	_, rotated := currentPEM(t, certDir)
	if rotated.SerialNumber.Cmp(cert.SerialNumber) == 0 || rotated.Subject.CommonName != "system:node:cp-a" {
		t.Errorf("current pem %v serial %v", rotated.Subject, rotated.SerialNumber)
	}
	if after, _ := os.ReadFile(o.KubeConfig); !bytes.Equal(before, after) {
		t.Error("kubelet.conf was rewritten")
	}
}

func TestExpiredOrMissingCredentials(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	kubeconfig := embeddedKubeconfig(t, dir, ca, "cp-a", time.Now().Add(-time.Minute))
	// An expired kubelet.conf is replaced from the bootstrap kubeconfig.
	_, user, err := loadClientConfig(kubeconfig, bootstrapKubeconfig(t, dir, ca), filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	if user.CertFile != filepath.Join(dir, "pki", "kubelet-client-current.pem") {
		t.Errorf("user config %+v", user)
	}
	kc, _ := clientcmd.LoadFromFile(kubeconfig)
	if kc.CurrentContext != "default-context" {
		t.Errorf("the expired kubelet.conf was kept: %s", kc.CurrentContext)
	}
	// Neither: the kubelet cannot start (systemd will restart it).
	empty := t.TempDir()
	if _, _, err := loadClientConfig(filepath.Join(empty, "kubelet.conf"), filepath.Join(empty, "bootstrap-kubelet.conf"), empty); err == nil {
		t.Error("no kubeconfig and no bootstrap kubeconfig is no error")
	}
}

// fixedManager is a certificate manager the test hands certificates to.
type fixedManager struct {
	mu   sync.Mutex
	cert *tls.Certificate
}

func (f *fixedManager) Start()              {}
func (f *fixedManager) Stop()               {}
func (f *fixedManager) ServerHealthy() bool { return true }
func (f *fixedManager) Current() *tls.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cert
}

// The API client shows whatever certificate the manager holds, and a new
// one as soon as it rotates, on the connections it then opens.
func TestRotatingTransport(t *testing.T) {
	ca := newTestCA(t)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		cn := "anonymous"
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		seen = append(seen, cn)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()

	pair := func(cn string) *tls.Certificate {
		c, k := ca.clientPair(t, cn, time.Now().Add(time.Hour))
		p, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	m := &fixedManager{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	rc, err := rotatingClientConfig(ctx, &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}}, m)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		t.Helper()
		if _, err := cs.Discovery().ServerVersion(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return seen[len(seen)-1]
	}
	if cn := get(); cn != "anonymous" {
		t.Errorf("without a certificate the client showed %s", cn)
	}
	m.mu.Lock()
	m.cert = pair("system:node:cp-b")
	m.mu.Unlock()
	waitFor(t, func() bool { return get() == "system:node:cp-b" })
	m.mu.Lock()
	m.cert = pair("system:node:cp-b-rotated")
	m.mu.Unlock()
	waitFor(t, func() bool { return get() == "system:node:cp-b-rotated" })
}
