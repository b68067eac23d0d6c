// Package check holds the lab's probes of a live cluster: etcd over
// mutual TLS, every apiserver, the endpoint with kubectl, the leader
// leases, the Nodes, where the VIP is, what the workers and kube-proxy
// dial. They only read, except the kube-proxy re-pointing check
// (kubeproxy.go), which mis-points kube-proxy's ConfigMap for the bundle's
// script to fix. Every connection is opened inside a lab namespace
// (lab/netns): never from the machine's own, where a lab address has no
// route.
package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hagen/hagen/lab/bundle"
	"github.com/hagen/hagen/lab/netns"
)

// Clients builds clients that dial from one lab namespace.
type Clients struct {
	Dialer *netns.Dialer
	Bundle *bundle.Bundle
	// AdminConf is the cluster's admin kubeconfig (the first master's
	// /etc/kubernetes/admin.conf).
	AdminConf []byte
}

// REST is a config for the endpoint (host "" ) or for one apiserver
// (host:port), with the admin's credentials.
func (c *Clients) REST(server string) (*rest.Config, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(c.AdminConf)
	if err != nil {
		return nil, fmt.Errorf("admin.conf: %w", err)
	}
	if server != "" {
		cfg.Host = "https://" + server
	}
	cfg.Dial = c.Dialer.DialContext
	cfg.Timeout = 10 * time.Second
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// Kube is a typed client of the endpoint.
func (c *Clients) Kube() (kubernetes.Interface, error) {
	cfg, err := c.REST("")
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// HTTP is a client that opens a new connection for every request (as a
// new client would), with the admin's certificate, for timing the
// endpoint: a kept-alive connection would hide a moved VIP.
func (c *Clients) HTTP(timeout time.Duration) (*http.Client, error) {
	cfg, err := c.REST("")
	if err != nil {
		return nil, err
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       c.Dialer.DialContext,
			TLSClientConfig:   tlsCfg,
			DisableKeepAlives: true,
		},
	}, nil
}

// Etcd is a client of every etcd member with the healthcheck client's
// certificate, as the RUNBOOK's health check uses.
func (c *Clients) Etcd(endpoints []string) (*clientv3.Client, error) {
	m := c.Bundle.EtcdMembers()
	if len(m) == 0 {
		return nil, fmt.Errorf("the bundle has no etcd member")
	}
	host := m[0].Name
	read := func(p string) ([]byte, error) { return os.ReadFile(c.Bundle.HostFile(host, p)) }
	caPEM, err := read("/etc/kubernetes/pki/etcd/ca.crt")
	if err != nil {
		return nil, err
	}
	certPEM, err := read("/etc/kubernetes/pki/etcd/healthcheck-client.crt")
	if err != nil {
		return nil, err
	}
	keyPEM, err := read("/etc/kubernetes/pki/etcd/healthcheck-client.key")
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		TLS:         &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return c.Dialer.DialContext(ctx, "tcp", addr)
		})},
		Logger: zap.NewNop(),
	})
}

// EtcdEndpoints are the members' client URLs, as the bundle's hosts
// dial them.
func (c *Clients) EtcdEndpoints() []string {
	var out []string
	for _, m := range c.Bundle.EtcdMembers() {
		out = append(out, "https://"+net.JoinHostPort(m.Address.String(), "2379"))
	}
	return out
}
