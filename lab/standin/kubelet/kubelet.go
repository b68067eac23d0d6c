// Package kubelet is the lab's stand-in for the kubelet. It runs inside a
// lab host in place of /usr/bin/kubelet, from the same unit and with the
// same command line, and does toward kubeadm, the API server and the
// operator what the real kubelet does there, as far as the lab can back
// it: it serves healthz, runs the static pods of its manifest directory
// as processes of the host's agent (lab/agent, its container runtime),
// probes and restarts them, bootstraps its client certificate with
// client-go's certificate manager, registers the Node, renews its Lease
// and keeps mirror pods. Once it has an API server it also runs the
// host-network pods bound to its node (kubeadm's kube-proxy DaemonSet):
// their configMap, secret, projected service account and downwardAPI
// volumes made from the API, bind-mounted into each container's own
// mount namespace; their status reported; their deletion carried out and
// confirmed. It never reports what it cannot back: the node stays
// NotReady and a pod without the host's network stays Pending (there is
// no pod network), and what it does not implement fails loudly instead
// of being skipped. The comments name the kubelet or client-go code each
// part follows (Kubernetes 1.37.2).
package kubelet

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/hagen/hagen/lab/agent"
)

// Version is the Kubernetes release the stand-in stands in for; it
// reports itself as Version+hagen-lab, which kubeadm's preflight parses
// as that release.
const Version = "v1.37.2"

// Main runs the kubelet stand-in with args (the command line without the
// program name) until SIGTERM or SIGINT, and returns its exit status. Like
// the real kubelet it leaves its containers running when it stops.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return run(ctx, args, os.Stdout, labDeps())
}

// deps are the outside world of a run, replaced in the tests.
type deps struct {
	runtime    func() Runtime
	newClient  newClientsetFunc
	hostname   func() (string, error)
	localAddrs func() ([]net.Addr, error)
	imagesFile string
	root       string // prefix of hostPath volumes
	facts      func() hostFacts
	// poll is how often the manifests are read and the containers synced.
	poll time.Duration
}

func labDeps() deps {
	return deps{
		runtime:    func() Runtime { return agent.Dial("kubelet", agent.HostSocket) },
		newClient:  newForConfig,
		hostname:   os.Hostname,
		localAddrs: net.InterfaceAddrs,
		imagesFile: ImagesFile,
		facts:      func() hostFacts { return readHostFacts("/var/lib/kubelet") },
		poll:       time.Second,
	}
}

// fail logs a fatal error as the real kubelet's command does and returns
// its exit status.
func fail(err error) int {
	klog.ErrorS(err, "command failed")
	klog.Flush()
	return 1
}

func run(ctx context.Context, args []string, stdout io.Writer, d deps) int {
	o, err := parseFlags(args)
	if err != nil {
		return fail(err)
	}
	setVerbosity(o.Verbosity)
	if o.Help {
		fmt.Fprint(stdout, usage())
		return 0
	}
	reported := Version + "+hagen-lab"
	switch o.Version {
	case "":
	case "true":
		fmt.Fprintf(stdout, "Kubernetes %s\n", reported)
		return 0
	case "raw":
		fmt.Fprintf(stdout, "version.Info{Major:\"1\", Minor:\"37\", GitVersion:%q, Platform:\"linux/%s\", Note:\"the lab's stand-in kubelet (hagen-lab), not a kubelet\"}\n", reported, runtime.GOARCH)
		return 0
	default:
		reported = o.Version // --version=vX.Y.Z sets the reported version
	}
	if err := validateNodeLabels(o.NodeLabels); err != nil {
		return fail(fmt.Errorf("failed to validate kubelet flags: %w", err))
	}
	cfg, err := loadConfig(o.Config)
	if err != nil {
		return fail(err)
	}
	cfg.applyFlags(o)
	setVerbosity(cfg.Verbosity)

	klog.InfoS("Starting the lab's stand-in kubelet", "version", reported, "args", strings.Join(args, " "))
	if cfg.Lenient != nil {
		klog.InfoS("Using lenient decoding as strict decoding failed", "err", cfg.Lenient)
	}
	if len(o.ignored) > 0 {
		klog.InfoS("Flags accepted but not acted on by the lab's kubelet", "flags", strings.Join(o.ignored, ","))
	}
	if len(cfg.Ignored) > 0 {
		klog.InfoS("KubeletConfiguration fields not acted on by the lab's kubelet", "fields", strings.Join(cfg.Ignored, ","))
	}
	if cfg.ContainerRuntimeEndpoint != "" {
		klog.InfoS("The container runtime is the lab host's agent", "containerRuntimeEndpoint", cfg.ContainerRuntimeEndpoint, "agent", agent.HostSocket)
	}
	klog.InfoS("Kubelet configuration", cfg.logValues()...)

	node, err := nodeName(o.HostnameOverride, d.hostname)
	if err != nil {
		return fail(err)
	}
	// The host's own name is what a host-network container sees as
	// HOSTNAME; the node's name (an override, lowercased) is what the
	// kubelet registers, labels and addresses by.
	hostname, err := d.hostname()
	if err != nil {
		hostname = node
	}
	ips, err := parseNodeIPs(o.NodeIPs)
	if err != nil {
		return fail(err)
	}
	var valid []string
	for _, ip := range ips {
		// An invalid --node-ip fails the real kubelet's address setter:
		// it registers without it and says so on every status update.
		if err := validateNodeIP(ip, d.localAddrs); err != nil {
			klog.ErrorS(err, "Failed to validate --node-ip; the node will have no InternalIP", "nodeIP", ip)
			continue
		}
		valid = append(valid, ip)
	}
	if len(ips) == 0 {
		if ip, err := detectNodeIP(node); err != nil {
			klog.ErrorS(err, "Could not find the node's IP")
		} else {
			valid = []string{ip}
		}
	}
	klog.InfoS("Node", "name", node, "ips", strings.Join(valid, ","))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go serveHealthz(ctx, cfg.HealthzBindAddress, cfg.HealthzPort)

	// Credentials come before the static pods, as in the real kubelet: a
	// missing bootstrap kubeconfig is fatal (systemd restarts the unit
	// until kubeadm has written it). The certificate itself is requested
	// in the background.
	var creds *credentials
	if o.KubeConfig != "" {
		if creds, err = setupCredentials(ctx, o, cfg, node, d.newClient); err != nil {
			return fail(fmt.Errorf("failed to run Kubelet: %w", err))
		}
	} else {
		klog.InfoS("No API server defined (no --kubeconfig): running static pods only, standalone")
	}

	ns := &nodeSpec{
		Name: node, Hostname: node, IPs: valid, Labels: o.NodeLabels, Taints: cfg.RegisterWithTaints,
		MaxPods: cfg.MaxPods, EvictionHard: cfg.EvictionHard, KubeReserved: cfg.KubeReserved,
		SystemReserved: cfg.SystemReserved, Version: reported, Facts: d.facts(),
	}
	pm := newPodManager(ctx, podsConfig{
		Runtime:          d.runtime(),
		Hostname:         strings.TrimSpace(hostname),
		HostIPs:          valid,
		ImagesFile:       d.imagesFile,
		Root:             d.root,
		Allocatable:      allocatable(ns.capacity(), ns.KubeReserved, ns.SystemReserved, ns.EvictionHard),
		MaxRestartPeriod: cfg.MaxContainerRestartPeriod,
	})
	// The API's pods come once there are credentials and a Node; until
	// then the sync loop runs the static pods alone.
	var api *apiSource
	if creds != nil {
		api = newAPISource(node, d.root, pm)
	}
	go syncLoop(ctx, pm, cfg.StaticPodPath, node, d.poll, api)

	if creds != nil {
		client, err := d.newClient(creds.config)
		if err != nil {
			return fail(fmt.Errorf("failed to run Kubelet: %w", err))
		}
		a := &apiLoop{
			client:        client,
			register:      cfg.RegisterNode,
			leaseDuration: cfg.NodeLeaseDurationSeconds,
			statusEvery:   cfg.NodeStatusUpdateFrequency,
			ready:         creds.hasCert,
			pods:          pm.snapshot,
			apiPods:       api,
			node:          ns,
		}
		go a.run(ctx)
	}

	<-ctx.Done()
	klog.InfoS("Shutting down on a signal; the containers keep running, as with a real kubelet")
	klog.Flush()
	return 0
}

// syncLoop reads the manifests, takes the API's pods (api, when there is
// an API server) and syncs the pods every poll, until ctx ends. The real
// kubelet rereads its manifest directory every 20s and on inotify
// events, and syncs an API pod on every change of it; a second is as
// prompt for a lab.
func syncLoop(ctx context.Context, pm *podManager, dir, node string, poll time.Duration, api *apiSource) {
	bad := map[string]string{}
	var lastErr string
	for {
		pods, errs := readManifests(dir, node)
		seen := map[string]bool{}
		for _, err := range errs {
			seen[err.Error()] = true
			if bad[err.Error()] == "" {
				klog.ErrorS(err, "Could not process manifest file; skipping it", "path", dir)
			}
		}
		for k := range bad {
			if !seen[k] {
				delete(bad, k)
			}
		}
		for k := range seen {
			bad[k] = k
		}
		synced := false
		if api != nil {
			var fromAPI []*desiredPod
			fromAPI, synced = api.desired()
			pods = append(pods, fromAPI...)
		}
		err := pm.sync(pods, synced)
		switch {
		case err != nil && err.Error() != lastErr:
			klog.ErrorS(err, "Could not sync pods with the container runtime; will retry")
			lastErr = err.Error()
		case err == nil && lastErr != "":
			klog.InfoS("The container runtime answers again")
			lastErr = ""
		}
		if !sleep(ctx, poll) {
			return
		}
	}
}

var (
	klogFlags *flag.FlagSet
	// klogMu guards klogFlags: the end-to-end test runs two kubelets in
	// one process.
	klogMu sync.Mutex
)

// setVerbosity sets klog's -v; klog writes to stderr in its own format,
// which is the real kubelet's.
func setVerbosity(v int) {
	klogMu.Lock()
	defer klogMu.Unlock()
	if klogFlags == nil {
		klogFlags = flag.NewFlagSet("klog", flag.ContinueOnError)
		klog.InitFlags(klogFlags)
	}
	_ = klogFlags.Set("v", strconv.Itoa(v))
}

func usage() string {
	var b strings.Builder
	b.WriteString("The lab's stand-in for the kubelet (hagen-lab), Kubernetes " + Version + ".\n\n")
	b.WriteString("Usage:\n  kubelet [flags]\n\nFlags acted on:\n")
	for _, f := range actedFlags {
		b.WriteString("      --" + f + "\n")
	}
	b.WriteString("\nEvery other flag of the real kubelet is accepted and logged as not acted on; any other flag is an error.\n")
	return b.String()
}
