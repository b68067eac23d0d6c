package pki

import (
	"slices"
	"testing"
)

// TestTablePaths pins every PKI file the table names to kubeadm's own file
// name (cmd/kubeadm/app/constants): kubeadm reuses a file only if it finds
// it there. The table is the one place that spells them.
func TestTablePaths(t *testing.T) {
	var got []string
	for _, ca := range CAs() {
		got = append(got, ca.CertPath(), ca.KeyPath())
	}
	for _, c := range Certs() {
		got = append(got, c.CertPath(), c.KeyPath())
	}
	got = append(got, ServiceAccount().KeyPath(), ServiceAccount().PubPath())
	slices.Sort(got)
	want := []string{
		"/etc/kubernetes/pki/apiserver-etcd-client.crt",
		"/etc/kubernetes/pki/apiserver-etcd-client.key",
		"/etc/kubernetes/pki/ca.crt",
		"/etc/kubernetes/pki/ca.key",
		"/etc/kubernetes/pki/etcd/ca.crt",
		"/etc/kubernetes/pki/etcd/ca.key",
		"/etc/kubernetes/pki/etcd/healthcheck-client.crt",
		"/etc/kubernetes/pki/etcd/healthcheck-client.key",
		"/etc/kubernetes/pki/etcd/peer.crt",
		"/etc/kubernetes/pki/etcd/peer.key",
		"/etc/kubernetes/pki/etcd/server.crt",
		"/etc/kubernetes/pki/etcd/server.key",
		"/etc/kubernetes/pki/front-proxy-ca.crt",
		"/etc/kubernetes/pki/front-proxy-ca.key",
		"/etc/kubernetes/pki/sa.key",
		"/etc/kubernetes/pki/sa.pub",
	}
	if !slices.Equal(got, want) {
		t.Errorf("table paths:\n got %q\nwant %q", got, want)
	}
	for _, c := range Certs() {
		if Cert(c.Name).File != c.File {
			t.Errorf("Cert(%q) is not the table's entry", c.Name)
		}
		CA(c.CA) // panics on a CA the table lacks
	}
}
