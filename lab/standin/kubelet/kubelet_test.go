package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHealthzHandler(t *testing.T) {
	srv := httptest.NewServer(healthzHandler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/healthz": "ok", "/healthz/ping": "ok", "/healthz?verbose": "[+]ping ok\nhealthz check passed\n",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: %d %q %v", path, resp.StatusCode, body, resp.Header)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	return int(closedPort(t))
}

// get asks url, with a short timeout.
func get(url string) (int, string, error) {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// The standalone kubelet of hagen's etcd step, run whole: it answers
// healthz at once, runs the static pod, and on a signal exits at once
// leaving the container running for kubeadm's kubelet to adopt.
func TestStandaloneRun(t *testing.T) {
	h := newHarness(t)
	h.env.manifest(t, "etcd.yaml", testdata(t, "hagen/etcd.yaml"))
	port := freePort(t)
	cfg := writeTemp(t, "kubelet-etcd.yaml", []byte(strings.NewReplacer(
		"staticPodPath: /etc/kubernetes/manifests", "staticPodPath: "+h.env.manifests,
	).Replace(string(testdata(t, "hagen/kubelet-etcd.yaml")))+fmt.Sprintf("healthzPort: %d\n", port)))
	d := deps{
		runtime:    func() Runtime { return h.rt },
		hostname:   func() (string, error) { return "CP-A", nil },
		localAddrs: func() ([]net.Addr, error) { return []net.Addr{&net.IPNet{IP: net.ParseIP("172.31.0.10")}}, nil },
		imagesFile: h.env.images,
		root:       h.env.root,
		facts:      func() hostFacts { return hostFacts{} },
		poll:       20 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	code := make(chan int)
	go func() { code <- run(ctx, []string{"--config=" + cfg, "--node-ip=172.31.0.10"}, io.Discard, d) }()

	waitFor(t, func() bool {
		status, body, err := get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		return err == nil && status == 200 && body == "ok"
	})
	waitFor(t, func() bool { return len(h.rt.running()) == 1 })
	if id := h.rt.running()[0]; !strings.HasPrefix(id, "etcd-cp-a_etcd_") {
		t.Errorf("running %s", id)
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit status %d on a signal", c)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the kubelet did not exit on a signal")
	}
	if _, stops, _ := h.rt.calls(); len(stops) != 0 || len(h.rt.running()) != 1 {
		t.Errorf("the kubelet stopped its containers on its way out: %v", stops)
	}
}

// An API kubelet without any credentials to start from cannot run, as
// the real one cannot: systemd restarts it until kubeadm has written
// them.
func TestNoCredentialsIsFatal(t *testing.T) {
	dir := t.TempDir()
	cfg := writeTemp(t, "config.yaml", testdata(t, "kubeadm/config.yaml"))
	d := deps{hostname: func() (string, error) { return "cp-b", nil }, localAddrs: func() ([]net.Addr, error) { return nil, nil },
		facts: func() hostFacts { return hostFacts{} }}
	args := []string{"--bootstrap-kubeconfig=" + filepath.Join(dir, "bootstrap-kubelet.conf"), "--kubeconfig=" + filepath.Join(dir, "kubelet.conf"),
		"--config=" + cfg, "--node-ip=10.0.0.1"}
	var out bytes.Buffer
	if c := run(context.Background(), args, &out, d); c != 1 {
		t.Errorf("exit status %d", c)
	}
	if c := run(context.Background(), []string{"--config=" + filepath.Join(dir, "missing.yaml")}, &out, d); c != 1 {
		t.Errorf("a missing --config: exit status %d", c)
	}
}

func TestNodeNameAndIP(t *testing.T) {
	if n, _ := nodeName("", func() (string, error) { return " Master-0.Example.COM \n", nil }); n != "master-0.example.com" {
		t.Errorf("node name %q", n)
	}
	if n, _ := nodeName("CP-A", nil); n != "cp-a" {
		t.Errorf("override %q", n)
	}
	local := func() ([]net.Addr, error) { return []net.Addr{&net.IPNet{IP: net.ParseIP("10.0.0.10")}}, nil }
	for ip, ok := range map[string]bool{"10.0.0.10": true, "10.0.0.11": false, "127.0.0.1": false, "169.254.1.1": false} {
		if err := validateNodeIP(ip, local); (err == nil) != ok {
			t.Errorf("%s: %v", ip, err)
		}
	}
	if _, err := parseNodeIPs([]string{"10.0.0.1", "10.0.0.2"}); err == nil {
		t.Error("two IPv4 node IPs accepted")
	}
	if ips, err := parseNodeIPs([]string{"10.0.0.1", "fd00::1"}); err != nil || len(ips) != 2 {
		t.Errorf("dual stack: %v %v", ips, err)
	}
	if _, err := parseNodeIPs([]string{"cp-a"}); err == nil {
		t.Error("a name accepted as node IP")
	}
	if memTotal([]byte("MemTotal:        8039012 kB\nMemFree: 1 kB\n")) != 8039012*1024 {
		t.Error("MemTotal misread")
	}
}
