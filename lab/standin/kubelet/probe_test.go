package kubelet

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hostPort splits a test server's address.
func hostPort(t *testing.T, srv *httptest.Server) (string, int32) {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	h, p, _ := net.SplitHostPort(u.Host)
	n, _ := strconv.Atoi(p)
	return h, int32(n)
}

func httpProbe(scheme corev1.URIScheme, host string, port intstr.IntOrString, path string) *corev1.Probe {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Scheme: scheme, Host: host, Port: port, Path: path}}, TimeoutSeconds: 1}
	return p
}

// kubeadm's probes as the kubelet runs them: HTTPS without verifying the
// certificate, to the named port "probe-port", at the host the manifest
// names or else the pod's IP.
func TestHTTPProbes(t *testing.T) {
	var gotUA, gotHost string
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotHost = r.UserAgent(), r.Host
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "[-]etcd failed", 500) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(1500 * time.Millisecond) })
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the plain request to it is on purpose
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := httptest.NewServer(mux)
	defer plain.Close()
	host, tlsPort := hostPort(t, tlsSrv)
	_, plainPort := hostPort(t, plain)

	apiserver := &corev1.Container{Name: "kube-apiserver", Ports: []corev1.ContainerPort{{Name: "probe-port", ContainerPort: tlsPort}}}
	named := intstr.FromString("probe-port")
	for name, c := range map[string]struct {
		probe *corev1.Probe
		podIP string
		want  probeResult
		out   string
	}{
		"https, named port, host":     {httpProbe(corev1.URISchemeHTTPS, host, named, "/livez"), "192.0.2.1", resultSuccess, "ok"},
		"https, pod IP as host":       {httpProbe(corev1.URISchemeHTTPS, "", named, "/livez"), host, resultSuccess, "ok"},
		"500 fails":                   {httpProbe(corev1.URISchemeHTTPS, host, named, "/readyz"), "", resultFailure, "HTTP probe failed with statuscode: 500"},
		"redirect elsewhere succeeds": {httpProbe(corev1.URISchemeHTTP, host, intstr.FromInt32(plainPort), "/moved"), "", resultSuccess, ""},
		"timeout fails":               {httpProbe(corev1.URISchemeHTTP, host, intstr.FromInt32(plainPort), "/slow"), "", resultFailure, "context deadline exceeded"},
		"http to https port fails":    {httpProbe(corev1.URISchemeHTTP, host, named, "/livez"), "", resultFailure, "400"},
		"unknown port name fails":     {httpProbe(corev1.URISchemeHTTPS, host, intstr.FromString("metrics"), "/livez"), "", resultFailure, "couldn't find port"},
		"nothing listening fails":     {httpProbe(corev1.URISchemeHTTP, host, intstr.FromInt32(closedPort(t)), "/livez"), "", resultFailure, "refused"},
	} {
		r, out := runProbe(context.Background(), c.probe, apiserver, c.podIP)
		if r != c.want || !strings.Contains(out, c.out) {
			t.Errorf("%s: %s %q, want %s %q", name, r, out, c.want, c.out)
		}
	}
	if gotUA != "kube-probe/1.37" || gotHost != net.JoinHostPort(host, strconv.Itoa(int(tlsPort))) {
		t.Errorf("probe sent User-Agent %q Host %q", gotUA, gotHost)
	}
}

func closedPort(t *testing.T) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return int32(p)
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := &corev1.Container{Name: "c"}
	open := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{
		Port: intstr.FromInt32(int32(l.Addr().(*net.TCPAddr).Port))}}, TimeoutSeconds: 1}
	if r, out := runProbe(context.Background(), open, c, "127.0.0.1"); r != resultSuccess {
		t.Errorf("open port: %s %s", r, out)
	}
	closed := open.DeepCopy()
	closed.TCPSocket.Port = intstr.FromInt32(closedPort(t))
	if r, _ := runProbe(context.Background(), closed, c, "127.0.0.1"); r != resultFailure {
		t.Errorf("closed port: %s", r)
	}
}

// The worker's thresholds: a result changes only after that many equal
// outcomes in a row, and a liveness failure holds the worker.
func TestProbeWorkerThresholds(t *testing.T) {
	start := time.Unix(0, 0)
	w := newProbeWorker(readinessProbe, &corev1.Probe{PeriodSeconds: 1, SuccessThreshold: 2, FailureThreshold: 3}, start)
	if w.result != resultFailure {
		t.Errorf("readiness starts as %s, want failure (not ready)", w.result)
	}
	steps := []struct {
		in   probeResult
		want probeResult
	}{
		{resultSuccess, resultFailure}, {resultSuccess, resultSuccess}, // two successes to be ready
		{resultFailure, resultSuccess}, {resultFailure, resultSuccess}, {resultSuccess, resultSuccess}, // a success breaks the run
		{resultFailure, resultSuccess}, {resultFailure, resultSuccess}, {resultFailure, resultFailure},
	}
	for i, s := range steps {
		w.observe(s.in, "")
		if w.result != s.want {
			t.Fatalf("step %d: %s after %s, want %s", i, w.result, s.in, s.want)
		}
	}
	l := newProbeWorker(livenessProbe, &corev1.Probe{PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 2, InitialDelaySeconds: 10}, start)
	if l.result != resultSuccess {
		t.Errorf("liveness starts as %s, want success", l.result)
	}
	if l.due(start, start, true, false) {
		t.Error("due within the initial delay")
	}
	if !l.due(start.Add(10*time.Second), start, true, false) || l.due(start.Add(15*time.Second), start, true, false) {
		t.Error("not due at the initial delay, or due again within the period")
	}
	if l.due(start.Add(20*time.Second), start, false, true) {
		t.Error("liveness due before the startup probe succeeded")
	}
	l.observe(resultFailure, "")
	l.observe(resultFailure, "")
	if l.result != resultFailure || !l.onHold || l.due(start.Add(60*time.Second), start, true, false) {
		t.Errorf("after failureThreshold failures: result %s, on hold %v", l.result, l.onHold)
	}
}
