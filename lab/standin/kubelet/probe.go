package kubelet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeKind is which of a container's three probes a worker runs.
type probeKind int

const (
	startupProbe probeKind = iota
	livenessProbe
	readinessProbe
)

func (k probeKind) String() string {
	return [...]string{"Startup", "Liveness", "Readiness"}[k]
}

// probeResult is a probe's outcome, and the result a worker holds.
type probeResult int

const (
	resultUnknown probeResult = iota
	resultSuccess
	resultFailure
)

func (r probeResult) String() string {
	return [...]string{"unknown", "success", "failure"}[r]
}

// probeUserAgent is what the kubelet's HTTP probes say they are.
const probeUserAgent = "kube-probe/1.37"

// proberFunc runs one probe of a container whose pod has podIP: the
// network probe in the kubelet, a scripted one in the tests.
type proberFunc func(ctx context.Context, p *corev1.Probe, c *corev1.Container, podIP string) (probeResult, string)

// runProbe runs one httpGet or tcpSocket probe as the kubelet's probers do
// (pkg/probe/http, pkg/probe/tcp), bounded by the probe's timeoutSeconds.
func runProbe(ctx context.Context, p *corev1.Probe, c *corev1.Container, podIP string) (probeResult, string) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.TimeoutSeconds)*time.Second)
	defer cancel()
	switch {
	case p.HTTPGet != nil:
		return probeHTTP(ctx, p.HTTPGet, c, podIP)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return resultFailure, err.Error()
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return resultFailure, err.Error()
		}
		conn.Close()
		return resultSuccess, ""
	}
	return resultUnknown, "the lab's kubelet runs httpGet and tcpSocket probes only"
}

func probeHTTP(ctx context.Context, g *corev1.HTTPGetAction, c *corev1.Container, podIP string) (probeResult, string) {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return resultFailure, err.Error()
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	u, err := url.Parse(g.Path)
	if err != nil {
		u = &url.URL{Path: g.Path}
	}
	u.Scheme = strings.ToLower(string(g.Scheme))
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return resultFailure, err.Error()
	}
	req.Header.Set("User-Agent", probeUserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{
			// Probes never verify certificates and never use a proxy.
			TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives:  true,
			DisableCompression: true,
			Proxy:              nil,
		},
		// Redirects are followed on the same host only; a redirect
		// elsewhere is the answer, and a 3xx answer is a success.
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if r.URL.Hostname() != via[0].URL.Hostname() || len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return resultFailure, fmt.Sprintf("Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", u.String())
		}
		return resultFailure, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<10))
	if resp.StatusCode >= http.StatusOK && resp.StatusCode < http.StatusBadRequest {
		return resultSuccess, string(body)
	}
	return resultFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// resolvePort reads a probe's port: a number, or the name of one of the
// container's ports, as the kubelet resolves it.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number: %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port: %s in container %q", p.StrVal, c.Name)
}

// probeWorker is the kubelet's prober worker for one probe of one running
// container (pkg/kubelet/prober/worker.go): it ticks every periodSeconds
// from the container's start, probes once initialDelaySeconds have passed
// (liveness and readiness only after the startup probe succeeded), and
// changes its result only after failureThreshold failures or
// successThreshold successes in a row. A liveness or startup failure puts
// it on hold until the container is replaced.
type probeWorker struct {
	kind     probeKind
	spec     *corev1.Probe
	next     time.Time
	inflight bool
	onHold   bool
	result   probeResult
	last     probeResult
	run      int32
	output   string
}

func newProbeWorker(kind probeKind, spec *corev1.Probe, started time.Time) *probeWorker {
	w := &probeWorker{kind: kind, spec: spec, next: started}
	switch kind {
	case readinessProbe:
		w.result = resultFailure
	case livenessProbe:
		w.result = resultSuccess
	}
	return w
}

// due says whether the worker probes at now, and moves its ticker on.
func (w *probeWorker) due(now, started time.Time, startupDone, hasStartup bool) bool {
	if now.Before(w.next) {
		return false
	}
	period := time.Duration(w.spec.PeriodSeconds) * time.Second
	for !w.next.After(now) {
		w.next = w.next.Add(period)
	}
	switch {
	case w.inflight, w.onHold:
		return false
	case w.kind == startupProbe && startupDone:
		return false
	case int32(now.Sub(started).Seconds()) < w.spec.InitialDelaySeconds:
		return false
	case w.kind != startupProbe && hasStartup && !startupDone:
		return false
	}
	return true
}

// observe takes one probe's outcome and says whether the worker's result
// changed.
func (w *probeWorker) observe(r probeResult, output string) bool {
	w.output = output
	if r == resultUnknown {
		return false
	}
	if w.last == r {
		w.run++
	} else {
		w.last, w.run = r, 1
	}
	if (r == resultFailure && w.run < w.spec.FailureThreshold) || (r == resultSuccess && w.run < w.spec.SuccessThreshold) {
		return false
	}
	changed := w.result != r
	w.result = r
	if r == resultFailure && w.kind != readinessProbe {
		w.onHold, w.run = true, 0
	}
	return changed
}
