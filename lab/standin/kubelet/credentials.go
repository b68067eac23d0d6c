package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/transport"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/connrotation"
	"k8s.io/klog/v2"
)

// This file is the kubelet's client credentials, done as
// cmd/kubelet/app/server.go buildKubeletClientConfig and
// pkg/kubelet/certificate/bootstrap do them, with client-go's own
// certificate manager and store: the files kubeadm waits for
// (kubelet.conf, kubelet-client-current.pem) come out the same.

// newClientsetFunc makes a clientset from a config: kubernetes.NewForConfig
// in the kubelet, a fake in the tests.
type newClientsetFunc func(*rest.Config) (kubernetes.Interface, error)

func newForConfig(c *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(c) }

// loadClientConfig is bootstrap.LoadClientConfig: with a kubeconfig that
// holds a valid client certificate (kubeadm init's kubelet.conf), use it
// for everything and leave it alone; otherwise write the kubeconfig at
// once, pointing at the certificate store's current pem, and return the
// bootstrap config to request that certificate with.
func loadClientConfig(kubeconfigPath, bootstrapPath, certDir string) (certConfig, userConfig *rest.Config, err error) {
	if bootstrapPath == "" {
		c, err := loadRESTClientConfig(kubeconfigPath)
		if err != nil {
			return nil, nil, fmt.Errorf("unable to load kubeconfig: %w", err)
		}
		return c, rest.CopyConfig(c), nil
	}
	store, err := certificate.NewFileStore("kubelet-client", certDir, certDir, "", "")
	if err != nil {
		return nil, nil, errors.New("unable to build bootstrap cert store")
	}
	ok, err := isClientConfigStillValid(kubeconfigPath)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		c, err := loadRESTClientConfig(kubeconfigPath)
		if err != nil {
			return nil, nil, fmt.Errorf("unable to load kubeconfig: %w", err)
		}
		klog.V(2).InfoS("Current kubeconfig file contents are still valid, no bootstrap necessary")
		return c, rest.CopyConfig(c), nil
	}
	bootstrap, err := loadRESTClientConfig(bootstrapPath)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to load bootstrap kubeconfig: %w", err)
	}
	c := rest.AnonymousClientConfig(bootstrap)
	pem := store.CurrentPath()
	c.CertFile, c.KeyFile = pem, pem
	if err := writeKubeconfigFromBootstrapping(bootstrap, kubeconfigPath, pem); err != nil {
		return nil, nil, err
	}
	klog.InfoS("Using the bootstrap credentials to request a client certificate; the kubeconfig points to the certificate directory",
		"kubeconfig", kubeconfigPath, "pem", pem)
	return bootstrap, c, nil
}

// writeKubeconfigFromBootstrapping writes the kubeconfig the kubelet uses
// after TLS bootstrap: the bootstrap config's server and CA, and the
// store's current pem as client certificate and key (mode 0600).
func writeKubeconfigFromBootstrapping(bootstrap *rest.Config, path, pemPath string) error {
	caFile, caData := bootstrap.CAFile, []byte{}
	if caFile == "" {
		caData = bootstrap.CAData
	}
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"default-cluster": {
			Server:                   bootstrap.Host,
			InsecureSkipTLSVerify:    bootstrap.Insecure,
			CertificateAuthority:     caFile,
			CertificateAuthorityData: caData,
		}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{"default-auth": {
			ClientCertificate: pemPath,
			ClientKey:         pemPath,
		}},
		Contexts: map[string]*clientcmdapi.Context{"default-context": {
			Cluster:   "default-cluster",
			AuthInfo:  "default-auth",
			Namespace: "default",
		}},
		CurrentContext: "default-context",
	}
	return clientcmd.WriteToFile(cfg, path)
}

func loadRESTClientConfig(path string) (*rest.Config, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	loaded, err := rules.Load()
	if err != nil {
		return nil, err
	}
	return clientcmd.NewNonInteractiveClientConfig(*loaded, loaded.CurrentContext, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
}

// isClientConfigStillValid says whether the kubeconfig exists, loads, and
// holds at least one client certificate, none of them expired.
func isClientConfigStillValid(path string) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("error reading existing bootstrap kubeconfig %s: %w", path, err)
	}
	c, err := loadRESTClientConfig(path)
	if err != nil {
		klog.ErrorS(err, "Unable to read existing client config", "path", path)
		return false, nil
	}
	tc, err := c.TransportConfig()
	if err != nil {
		klog.ErrorS(err, "Unable to load transport configuration from existing client config", "path", path)
		return false, nil
	}
	if _, err := transport.TLSConfigFor(tc); err != nil {
		klog.ErrorS(err, "Unable to load TLS configuration from existing client config", "path", path)
		return false, nil
	}
	certs, err := certutil.ParseCertsPEM(tc.TLS.CertData)
	if err != nil || len(certs) == 0 {
		klog.ErrorS(err, "Unable to read TLS certificates from existing client config", "path", path)
		return false, nil
	}
	now := time.Now()
	for _, cert := range certs {
		if now.After(cert.NotAfter) {
			klog.InfoS("Part of the existing client certificate is expired", "path", path, "notAfter", cert.NotAfter)
			return false, nil
		}
	}
	return true, nil
}

// newClientCertManager is the kubelet's client certificate manager:
// client-go's, with the node's CSR template and signer, a file store in
// certDir named kubelet-client, the kubeconfig's embedded certificate as
// the bootstrap pair (kubeadm init's high-powered kubelet.conf, which the
// store then writes as the first kubelet-client-<time>.pem and rotates
// out at once), and CSRs sent with the bootstrap config until there is a
// certificate.
func newClientCertManager(certConfig, userConfig *rest.Config, certDir, node string, newClient newClientsetFunc) (certificate.Manager, error) {
	store, err := certificate.NewFileStore("kubelet-client", certDir, certDir, userConfig.CertFile, userConfig.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("failed to initialize client certificate store: %w", err)
	}
	m, err := certificate.NewManager(&certificate.Config{
		ClientsetFn: func(current *tls.Certificate) (kubernetes.Interface, error) {
			c := certConfig
			if current != nil {
				c = userConfig
			}
			return newClient(c)
		},
		Template: &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
		},
		SignerName:              certificatesv1.KubeAPIServerClientKubeletSignerName,
		GetUsages:               certificate.DefaultKubeletClientGetUsages,
		BootstrapCertificatePEM: userConfig.CertData,
		BootstrapKeyPEM:         userConfig.KeyData,
		CertificateStore:        store,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to initialize client certificate manager: %w", err)
	}
	return m, nil
}

// rotatingClientConfig is pkg/kubelet/certificate UpdateTransport: a
// config whose TLS client certificate is whatever the manager holds at
// each handshake, and whose connections are closed when it changes, so
// the next request shows the new certificate. Before there is one the
// requests go without a client certificate.
func rotatingClientConfig(ctx context.Context, userConfig *rest.Config, m certificate.Manager) (*rest.Config, error) {
	c := rest.AnonymousClientConfig(userConfig)
	tlsConfig, err := rest.TLSConfigFor(c)
	if err != nil {
		return nil, fmt.Errorf("unable to configure TLS for the rest client: %w", err)
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{}
	}
	tlsConfig.Certificates = nil
	tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert := m.Current(); cert != nil {
			return cert, nil
		}
		return &tls.Certificate{}, nil
	}
	d := connrotation.NewDialer((&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext)
	last := m.Current()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if cur := m.Current(); cur != nil && cur != last {
				last = cur
				klog.InfoS("Certificate rotation detected, shutting down client connections to start using new credentials")
				d.CloseAll()
			}
		}
	}()
	c.Transport = utilnet.SetTransportDefaults(&http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: 25,
		DialContext:         d.DialContext,
	})
	c.CertData, c.KeyData, c.CertFile, c.KeyFile = nil, nil, "", ""
	c.CAData, c.CAFile, c.Insecure, c.NextProtos = nil, "", false, nil
	return c, nil
}

// credentials are the kubelet's API client and the certificate behind it.
type credentials struct {
	config  *rest.Config
	manager certificate.Manager // nil without rotation
}

// hasCert says whether there is a client certificate to talk with.
func (c *credentials) hasCert() bool {
	if c.manager == nil {
		return true
	}
	return c.manager.Current() != nil
}

// setupCredentials builds the kubelet's API credentials. With rotation on
// (kubeadm always sets it) the certificate is requested in the
// background, so that the static pods start at once: a joining
// control-plane node bootstraps against the API server it is starting.
// With rotation off the kubelet is the old LoadClientCert: it waits for
// its certificate before anything else, as the real one does.
func setupCredentials(ctx context.Context, o *options, cfg *config, node string, newClient newClientsetFunc) (*credentials, error) {
	if !cfg.RotateCertificates {
		if o.BootstrapKubeConfig != "" {
			if err := bootstrapBlocking(ctx, o.KubeConfig, o.BootstrapKubeConfig, o.CertDir, node, newClient); err != nil {
				return nil, err
			}
		}
		c, err := loadRESTClientConfig(o.KubeConfig)
		if err != nil {
			return nil, fmt.Errorf("invalid kubeconfig: %w", err)
		}
		return &credentials{config: c}, nil
	}
	klog.InfoS("Client rotation is on, will bootstrap in background")
	certConfig, userConfig, err := loadClientConfig(o.KubeConfig, o.BootstrapKubeConfig, o.CertDir)
	if err != nil {
		return nil, err
	}
	m, err := newClientCertManager(certConfig, userConfig, o.CertDir, node, newClient)
	if err != nil {
		return nil, err
	}
	c, err := rotatingClientConfig(ctx, userConfig, m)
	if err != nil {
		return nil, err
	}
	klog.InfoS("Starting client certificate rotation")
	m.Start()
	go func() {
		<-ctx.Done()
		m.Stop()
	}()
	return &credentials{config: c, manager: m}, nil
}

// bootstrapBlocking obtains the client certificate before returning and
// only then writes the kubeconfig, as LoadClientCert does (its CSR naming
// and temporary key file aside).
func bootstrapBlocking(ctx context.Context, kubeconfigPath, bootstrapPath, certDir, node string, newClient newClientsetFunc) error {
	if ok, err := isClientConfigStillValid(kubeconfigPath); err != nil || ok {
		return err
	}
	bootstrap, err := loadRESTClientConfig(bootstrapPath)
	if err != nil {
		return fmt.Errorf("unable to load bootstrap kubeconfig: %w", err)
	}
	store, err := certificate.NewFileStore("kubelet-client", certDir, certDir, "", "")
	if err != nil {
		return errors.New("unable to build bootstrap cert store")
	}
	m, err := newClientCertManager(bootstrap, bootstrap, certDir, node, newClient)
	if err != nil {
		return err
	}
	klog.InfoS("Waiting for a client certificate before starting (rotateCertificates is off)")
	m.Start()
	defer m.Stop()
	for m.Current() == nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return writeKubeconfigFromBootstrapping(bootstrap, kubeconfigPath, store.CurrentPath())
}
