package conformance

// Each test here breaks one good artifact on purpose and runs the very
// check helper the positive tests use: the suite must notice. A check that
// cannot fail proves nothing.

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
)

// caseNamed loads the case called name.
func caseNamed(t *testing.T, name string) *fixture {
	t.Helper()
	needTools(t)
	for _, c := range allCases(t) {
		if c.name == name {
			return load(t, c)
		}
	}
	t.Fatalf("no case %s", name)
	return nil
}

// mustFail requires err, mentioning each of want.
// TestBrokenAnsibleLint: ansible-lint fails a playbook with a command that
// always reports a change, and one that names a module without its
// collection.
func TestBrokenAnsibleLint(t *testing.T) {
	f := caseNamed(t, "example-stacked-keepalived")
	lint := tool(t, "ansible-lint")
	play, _ := f.bundle.Get(ansiblePlaybook)
	for _, tc := range []struct {
		what, old, new, want string
	}{
		{"a command without changed_when", "      changed_when: hagen_step_out.stdout_lines | select('match', 'changed:') | list | length > 0\n", "", "no-changed-when"},
		{"a module without its collection", "ansible.builtin.systemd_service:", "systemd_service:", "fqcn"},
	} {
		dir := t.TempDir()
		if err := copyTree(f.dir, dir); err != nil {
			t.Fatal(err)
		}
		mustPass(t, tc.what, checkAnsibleLint(lint, dir))
		broken := bytes.Replace(play.Data, []byte(tc.old), []byte(tc.new), 1)
		if bytes.Equal(broken, play.Data) {
			t.Fatalf("%s: the playbook has no %q", tc.what, tc.old)
		}
		if err := os.WriteFile(filepath.Join(dir, ansiblePlaybook), broken, 0o644); err != nil {
			t.Fatal(err)
		}
		mustFail(t, tc.what, checkAnsibleLint(lint, dir), tc.want)
	}
}

func mustFail(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: the check passed a broken artifact", what)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: the check failed, but without %q:\n%v", what, w, err)
		}
	}
	t.Logf("%s: rejected as it should be: %.300s", what, err)
}

// mustPass requires the unbroken control to pass, so that a failure of the
// broken one is due to the break alone.
func mustPass(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s (control, unbroken): %v", what, err)
	}
}

func replaceOnce(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	if bytes.Count(data, []byte(old)) < 1 {
		t.Fatalf("cannot break the fixture: %q not found in\n%s", old, data)
	}
	return bytes.Replace(data, []byte(old), []byte(new), 1)
}

// reissue signs a copy of orig (same key, subject, usages) with the etcd
// CA from the secrets file, after mutate edits the template.
func reissue(t *testing.T, f *fixture, orig []byte, mutate func(*x509.Certificate)) []byte {
	t.Helper()
	kp := f.secrets.CAs[pki.EtcdCA]
	caCert, err := pki.ParseCert(kp.Cert)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := pki.ParseKey(kp.Key)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(orig)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               leaf.Subject,
		NotBefore:             leaf.NotBefore,
		NotAfter:              leaf.NotAfter,
		KeyUsage:              leaf.KeyUsage,
		ExtKeyUsage:           leaf.ExtKeyUsage,
		BasicConstraintsValid: true,
		DNSNames:              leaf.DNSNames,
		IPAddresses:           leaf.IPAddresses,
	}
	mutate(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, leaf.PublicKey, caKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// brokenPKI copies host's pki dir and applies edit (path below pki ->
// new contents).
func brokenPKI(t *testing.T, f *fixture, host string, edit map[string][]byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if err := copyTree(f.hostPath(host, pkiDir), dir); err != nil {
		t.Fatal(err)
	}
	for rel, data := range edit {
		if err := os.WriteFile(filepath.Join(dir, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBrokenEtcdServerSAN(t *testing.T) {
	for _, name := range []string{"example-stacked-keepalived", "stacked-k8s-1.30-v1beta3"} {
		t.Run(name, func(t *testing.T) {
			f := caseNamed(t, name)
			kubeadm := kubeadmFor(t, f.plan)
			openssl := tool(t, "openssl")
			cfg, err := initConfig(f)
			if err != nil {
				t.Fatal(err)
			}
			h := f.plan.ControlPlane.Hosts[1]
			etcdCAKey := []byte(f.secrets.CAs[pki.EtcdCA].Key)
			orig, _ := f.hostFile(h.Name, pkiDir+"/etcd/server.crt")

			same := brokenPKI(t, f, h.Name, map[string][]byte{"etcd/server.crt": reissue(t, f, orig, func(*x509.Certificate) {})})
			mustPass(t, "re-issued with every SAN", checkKubeadmCerts(kubeadm, cfg, h, same, true, etcdCAKey))

			dropped := brokenPKI(t, f, h.Name, map[string][]byte{"etcd/server.crt": reissue(t, f, orig, func(c *x509.Certificate) {
				var keep []net.IP
				for _, ip := range c.IPAddresses {
					if !ip.Equal(net.IP(h.Address.AsSlice())) {
						keep = append(keep, ip)
					}
				}
				if len(keep) == len(c.IPAddresses) {
					t.Fatalf("the server cert has no SAN %s to drop", h.Address)
				}
				c.IPAddresses = keep
			})})
			mustFail(t, "kubeadm, etcd/server without the member address", checkKubeadmCerts(kubeadm, cfg, h, dropped, true, etcdCAKey), "etcd/server: no IP SAN "+h.Address.String())
			// kubeadm's init phase alone only checks the chain of a
			// certificate it finds; record whether that still holds.
			if err := checkKubeadmCerts(kubeadm, cfg, h, dropped, true, nil); err == nil {
				t.Logf("note: kubeadm init phase certs alone accepts an etcd/server cert without the member's address")
			}
			mustFail(t, "SAN check, etcd/server without the member address", checkHostPKI(openssl, dropped, h), "no IP SAN "+h.Address.String())
		})
	}
}

func TestBrokenCertificates(t *testing.T) {
	f := caseNamed(t, "example-stacked-keepalived")
	openssl := tool(t, "openssl")
	h := f.plan.ControlPlane.Hosts[0]
	read := func(rel string) []byte {
		data, ok := f.hostFile(h.Name, pkiDir+"/"+rel)
		if !ok {
			t.Fatalf("no %s", rel)
		}
		return data
	}
	mustPass(t, "host pki", checkHostPKI(openssl, f.hostPath(h.Name, pkiDir), h))
	t.Run("wrong-ca", func(t *testing.T) {
		dir := brokenPKI(t, f, h.Name, map[string][]byte{"etcd/ca.crt": read("ca.crt")})
		mustFail(t, "etcd certs against the cluster CA", checkHostPKI(openssl, dir, h), "etcd/server.crt")
	})
	t.Run("swapped-key", func(t *testing.T) {
		dir := brokenPKI(t, f, h.Name, map[string][]byte{"etcd/peer.key": read("etcd/server.key")})
		mustFail(t, "peer.key is server.key", checkHostPKI(openssl, dir, h), "peer.key does not hold the private key of peer.crt")
	})
	t.Run("expired", func(t *testing.T) {
		dir := brokenPKI(t, f, h.Name, map[string][]byte{"etcd/healthcheck-client.crt": reissue(t, f, read("etcd/healthcheck-client.crt"), func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour)
		})})
		mustFail(t, "expired healthcheck-client", checkHostPKI(openssl, dir, h), "healthcheck-client.crt")
	})
	t.Run("client-only-peer", func(t *testing.T) {
		dir := brokenPKI(t, f, h.Name, map[string][]byte{"etcd/peer.crt": reissue(t, f, read("etcd/peer.crt"), func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		})})
		mustFail(t, "peer cert without serverAuth", checkHostPKI(openssl, dir, h), "peer.crt")
	})
}

func TestBrokenKubeadmField(t *testing.T) {
	for _, name := range []string{"example-stacked-keepalived", "example-unicast"} {
		t.Run(name, func(t *testing.T) {
			f := caseNamed(t, name)
			kubeadm := kubeadmFor(t, f.plan)
			for _, h := range []*model.Host{f.plan.ControlPlane.Hosts[0], f.plan.ControlPlane.Hosts[1]} {
				data, _ := f.hostFile(h.Name, kubeadmYAML)
				path := filepath.Join(t.TempDir(), "kubeadm.yaml")
				broken := replaceOnce(t, data, "\nkind: ", "\ncertificateKeyTypo: true\nkind: ")
				if err := os.WriteFile(path, broken, 0o600); err != nil {
					t.Fatal(err)
				}
				mustFail(t, h.Name+": unknown kubeadm field", checkKubeadmValidate(kubeadm, path), "certificateKeyTypo")
			}
		})
	}
}

// TestBrokenKubeadmSkew: the kubeadm that checks a configuration must be
// of its own minor or the next. kubeadm 1.37 refuses v1beta3 outright (the
// API a 1.22-1.30 bundle carries), and refuses to deploy a control plane
// two minors older than itself: kubeadmFor never pairs them.
func TestBrokenKubeadmSkew(t *testing.T) {
	newest := toolAt(t, filepath.Join(os.Getenv(toolsEnv), "kubeadm-1.37"))
	old := caseNamed(t, "stacked-k8s-1.30-v1beta3")
	mustPass(t, "v1beta3 with kubeadm 1.30", checkKubeadmValidate(kubeadmFor(t, old.plan), old.path(old.files(kubeadmYAML)[0])))
	mustFail(t, "v1beta3 with kubeadm 1.37", checkKubeadmValidate(newest, old.path(old.files(kubeadmYAML)[0])),
		"old API spec", "kubeadm.k8s.io/v1beta3")
	f := caseNamed(t, "stacked-k8s-1.35")
	cfg, err := initConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	h := f.plan.ControlPlane.Hosts[0]
	pkiDir := f.hostPath(h.Name, "/etc/kubernetes/pki")
	mustPass(t, "1.35 certificates with kubeadm 1.35", checkKubeadmCerts(kubeadmFor(t, f.plan), cfg, h, pkiDir, false, nil))
	mustFail(t, "1.35 certificates with kubeadm 1.37", checkKubeadmCerts(newest, cfg, h, pkiDir, false, nil),
		"control plane version")
}

func TestBrokenV1Alpha1(t *testing.T) {
	f := caseNamed(t, "example-kubeadm-1.10")
	s := kubeadm110Schema(t)
	master, _ := f.hostFile(f.plan.ControlPlane.Hosts[0].Name, kubeadmYAML)
	mustPass(t, "MasterConfiguration", checkV1Alpha1(s, master))
	mustFail(t, "v1beta-style key in v1alpha1", checkV1Alpha1(s, replaceOnce(t, master, "\nkind: ", "\ncontrolPlaneEndpoint: 10.0.0.1\nkind: ")), `unknown field "controlPlaneEndpoint"`)
	mustFail(t, "unknown nested key", checkV1Alpha1(s, replaceOnce(t, master, "  bindPort: ", "  bindPorts: ")), `api: unknown field "bindPorts"`)
	mustFail(t, "wrong shape", checkV1Alpha1(s, replaceOnce(t, master, "  dnsDomain: cluster.local", "  dnsDomain: [cluster.local]")), "networking.dnsDomain: want a string")
	worker, _ := f.hostFile(f.plan.HostsWith(model.RoleWorker)[0].Name, kubeadmYAML)
	mustPass(t, "NodeConfiguration", checkV1Alpha1(s, worker))
	mustFail(t, "JoinConfiguration key in NodeConfiguration", checkV1Alpha1(s, replaceOnce(t, worker, "\nkind: ", "\ncaCertHashes: [x]\nkind: ")), `unknown field "caCertHashes"`)
}

func TestBrokenKeepalived(t *testing.T) {
	f := caseNamed(t, "example-stacked-keepalived")
	keepalived := tool(t, "keepalived")
	iface := testInterface(t)
	h := f.plan.ControlPlane.Hosts[0].Name
	conf, _ := f.hostFile(h, keepalivedConf)
	script, _ := f.hostFile(h, keepalivedScript)
	mustPass(t, "keepalived.conf", checkKeepalived(keepalived, iface, conf, script))
	mustFail(t, "misspelled keyword", checkKeepalived(keepalived, iface, replaceOnce(t, conf, "advert_int", "advert_intt"), script), "advert_intt")
	mustFail(t, "nine-character auth_pass", checkKeepalived(keepalived, iface, replaceOnce(t, conf, "auth_pass ", "auth_pass X"), script))

	confs := map[string][]byte{}
	for _, cp := range f.plan.ControlPlane.Hosts {
		confs[cp.Name], _ = f.hostFile(cp.Name, keepalivedConf)
	}
	mustPass(t, "peers", checkKeepalivedPeers(confs))
	second := f.plan.ControlPlane.Hosts[1].Name
	edited := func(host string, edit func([]byte) []byte) map[string][]byte {
		out := map[string][]byte{}
		for k, v := range confs {
			out[k] = v
		}
		out[host] = edit(out[host])
		return out
	}
	mustFail(t, "two MASTERs", checkKeepalivedPeers(edited(second, func(b []byte) []byte { return replaceOnce(t, b, "state BACKUP", "state MASTER") })), "2 MASTERs")
	mustFail(t, "router id mismatch", checkKeepalivedPeers(edited(second, func(b []byte) []byte {
		return replaceOnce(t, b, "virtual_router_id 51", "virtual_router_id 52")
	})), "virtual_router_id")
	mustFail(t, "equal priorities", checkKeepalivedPeers(edited(second, func(b []byte) []byte { return replaceOnce(t, b, "priority 100", "priority 101") })), "share priority 101")
	mustFail(t, "weak check weight", checkKeepalivedPeers(edited(h, func(b []byte) []byte { return replaceOnce(t, b, "weight -3", "weight -1") })), "does not fall below")
}

func TestBrokenHAProxy(t *testing.T) {
	f := caseNamed(t, "example-external-etcd-haproxy")
	haproxy := tool(t, "haproxy")
	cfg, _ := f.hostFile(f.plan.ControlPlane.Hosts[0].Name, haproxyCfg)
	mustPass(t, "haproxy.cfg", checkHAProxy(haproxy, cfg))
	mustFail(t, "misspelled keyword", checkHAProxy(haproxy, replaceOnce(t, cfg, "balance roundrobin", "balanse roundrobin")), "balanse")
	mustFail(t, "a backend dropped", checkHAProxyBackends(replaceOnce(t, cfg, "    server master2", "    #server master2"), 8443, []string{"192.168.10.10:6443", "192.168.10.11:6443", "192.168.10.12:6443"}), "want the control-plane apiservers")
}

func TestBrokenShellScript(t *testing.T) {
	f := caseNamed(t, "example-stacked-keepalived")
	shellcheck := tool(t, "shellcheck")
	script, _ := f.hostFile(f.plan.ControlPlane.Hosts[0].Name, keepalivedScript)
	path := filepath.Join(t.TempDir(), "check_apiserver.sh")
	if err := os.WriteFile(path, append(bytes.Clone(script), "for f in $(ls /etc/kubernetes); do echo $f; done\n"...), 0o755); err != nil {
		t.Fatal(err)
	}
	mustFail(t, "unquoted expansions", checkShellcheck(shellcheck, path), "SC2045")
}

func TestBrokenSystemdUnits(t *testing.T) {
	f := caseNamed(t, "example-stacked-keepalived")
	sa := tool(t, "systemd-analyze")
	unit, _ := f.hostFile(f.plan.ControlPlane.Hosts[0].Name, etcdUnit)
	stubs := map[string]string{"/usr/local/bin/etcd": toolAt(t, "/usr/bin/etcd")}
	mustPass(t, "etcd.service", checkSystemdVerify(sa, map[string][]byte{"etcd.service": unit}, "etcd.service", stubs))
	mustFail(t, "unknown key", checkSystemdVerify(sa, map[string][]byte{"etcd.service": replaceOnce(t, unit, "RestartSec=", "RestartSecs=")}, "etcd.service", stubs), "RestartSecs")
	mustFail(t, "ExecStart missing", checkSystemdVerify(sa, map[string][]byte{"etcd.service": unit}, "etcd.service", nil), "/usr/local/bin/etcd")

	sp := caseNamed(t, "example-cloud-lb")
	dropIn, _ := sp.hostFile(sp.plan.ControlPlane.Hosts[0].Name, kubeletDropIn)
	cfg := strings.TrimSuffix(kubeletDropIn, ".conf") + ".yaml"
	mustPass(t, "kubelet drop-in", checkKubeletDropIn(sa, dropIn, cfg))
	mustFail(t, "drop-in without the ExecStart reset", checkKubeletDropIn(sa, replaceOnce(t, dropIn, "ExecStart=\n", ""), cfg), "ExecStart")
	mustFail(t, "drop-in with an unknown key", checkKubeletDropIn(sa, replaceOnce(t, dropIn, "[Service]\n", "[Service]\nRestartt=always\n"), cfg), "Restartt")
}

func TestBrokenStaticPod(t *testing.T) {
	f := caseNamed(t, "example-cloud-lb")
	pod, _ := f.hostFile(f.plan.ControlPlane.Hosts[0].Name, etcdManifest)
	v := f.plan.Etcd.Version.String()
	mustPass(t, "etcd.yaml", checkStaticPod(pod, v))
	// The seed guide's mistake: a field indented one level too shallow.
	mustFail(t, "misindented field", checkStaticPod(replaceOnce(t, pod, "\n  hostNetwork: true\n", "\n    hostNetwork: true\n"), v), `unknown field "hostNetwork"`)
	mustFail(t, "HTTPS probe on the metrics port", checkStaticPod(bytes.ReplaceAll(pod, []byte("scheme: HTTP\n"), []byte("scheme: HTTPS\n")), v), "scheme HTTPS")
	mustFail(t, "probe on a port etcd does not open", checkStaticPod(bytes.ReplaceAll(pod, []byte("port: 2381\n"), []byte("port: 2379\n")), v), "probe dials")
	mustFail(t, "certs not mounted", checkStaticPod(replaceOnce(t, pod, "    - mountPath: /etc/kubernetes/pki/etcd\n      name: etcd-certs\n", ""), v), "cert-file")
}

func TestBrokenAnsible(t *testing.T) {
	f := caseNamed(t, "example-stacked-keepalived")
	playbook := tool(t, "ansible-playbook")
	dir := t.TempDir()
	if err := copyTree(filepath.Join(f.dir, "ansible"), filepath.Join(dir, "ansible")); err != nil {
		t.Fatal(err)
	}
	mustPass(t, "site.yml", checkAnsibleSyntax(playbook, dir))
	site := filepath.Join(dir, "ansible", "site.yml")
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(site, replaceOnce(t, data, "  hosts: all\n", "  hostz: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustFail(t, "misspelled play keyword", checkAnsibleSyntax(playbook, dir), "hostz")
}

// TestBrokenAnsibleCopy: a copy play with a task that reports a change on
// every run (a command with no changed_when) does not converge, and the
// second run's recap says so.
func TestBrokenAnsibleCopy(t *testing.T) {
	f := caseNamed(t, "example-external-etcd-haproxy")
	playbook := tool(t, "ansible-playbook")
	dir := t.TempDir()
	if err := copyTree(f.dir, dir); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ansiblePlaybook)
	play, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	old := "    - name: Read which services run\n"
	broken := bytes.Replace(play, []byte(old), []byte("    - name: Look around\n      ansible.builtin.command: \"true\"\n"+old), 1)
	if bytes.Equal(broken, play) {
		t.Fatalf("the playbook has no %q", old)
	}
	if err := os.WriteFile(p, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	g := *f
	g.dir = dir
	mustFail(t, "a copy play that always changes", checkAnsibleCopy(playbook, &g, t.TempDir(), f.plan.Hosts[:1]), "changed=1, want 0")
}
