package kubelet

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"k8s.io/klog/v2"
)

// healthzHandler answers as the real kubelet's healthz server (port 10248)
// does: it has no checks but ping, so it is healthy as long as the process
// serves. kubeadm polls GET /healthz until it answers 200 and ignores the
// body.
func healthzHandler() http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if _, verbose := r.URL.Query()["verbose"]; verbose && r.URL.Path == "/healthz" {
			_, _ = w.Write([]byte("[+]ping ok\nhealthz check passed\n"))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/healthz/ping", ok)
	return mux
}

// serveHealthz serves healthz until ctx ends. Like the real kubelet it
// retries every 5 seconds when it cannot listen (the port still held by
// the previous kubelet, say). Port 0 disables it, as in the real kubelet.
func serveHealthz(ctx context.Context, addr string, port int32) {
	if port <= 0 {
		klog.InfoS("Healthz server disabled (healthzPort is 0)")
		return
	}
	hostport := net.JoinHostPort(addr, strconv.Itoa(int(port)))
	srv := &http.Server{Handler: healthzHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	for ctx.Err() == nil {
		l, err := net.Listen("tcp", hostport)
		if err == nil {
			klog.InfoS("Started healthz server", "address", "http://"+hostport+"/healthz")
			err = srv.Serve(l)
		}
		if ctx.Err() != nil || errors.Is(err, http.ErrServerClosed) {
			return
		}
		klog.ErrorS(err, "Failed to start healthz server")
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}
