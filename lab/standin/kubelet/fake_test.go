package kubelet

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/hagen/hagen/lab/agent"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeRuntime is the agent's container runtime in memory: it keeps
// containers by ID, lets a test end them, and records every call.
type fakeRuntime struct {
	mu      sync.Mutex
	now     func() time.Time
	cs      map[string]*agent.ContainerStatus
	runs    []agent.Container
	stops   []stopCall
	removes []string
	runErr  error
	listErr error
	// hold, when set, makes StopContainer wait until it is closed; only
	// for the container holdID, when that is set.
	hold   chan struct{}
	holdID string
	pid    int
}

type stopCall struct {
	ID    string
	Grace time.Duration
}

func newFakeRuntime(now func() time.Time) *fakeRuntime {
	return &fakeRuntime{now: now, cs: map[string]*agent.ContainerStatus{}, pid: 100}
}

func (r *fakeRuntime) RunContainer(c agent.Container) (*agent.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs = append(r.runs, c)
	if r.runErr != nil {
		return nil, r.runErr
	}
	if old, ok := r.cs[c.ID]; ok && old.Running {
		return nil, fmt.Errorf("container %s is running", c.ID)
	}
	r.pid++
	st := &agent.ContainerStatus{Container: c, PID: r.pid, Running: true, Started: r.now()}
	r.cs[c.ID] = st
	cp := *st
	return &cp, nil
}

func (r *fakeRuntime) ListContainers(labels map[string]string) ([]agent.ContainerStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listErr != nil {
		return nil, r.listErr
	}
	var out []agent.ContainerStatus
	for _, id := range slices.Sorted(maps.Keys(r.cs)) {
		c := r.cs[id]
		match := true
		for k, v := range labels {
			if c.Labels[k] != v {
				match = false
			}
		}
		if match {
			cp := *c
			cp.Labels = maps.Clone(c.Labels)
			out = append(out, cp)
		}
	}
	return out, nil
}

func (r *fakeRuntime) StopContainer(id string, grace time.Duration) error {
	r.mu.Lock()
	r.stops = append(r.stops, stopCall{id, grace})
	hold := r.hold
	if r.holdID != "" && r.holdID != id {
		hold = nil
	}
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cs, id)
	return nil
}

func (r *fakeRuntime) RemoveContainer(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.cs[id]; ok && c.Running {
		return errors.New("running")
	}
	r.removes = append(r.removes, id)
	delete(r.cs, id)
	return nil
}

// exit ends a running container with code, now.
func (r *fakeRuntime) exit(t *testing.T, id string, code int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cs[id]
	if !ok || !c.Running {
		t.Fatalf("exit %s: no such running container", id)
	}
	c.Running, c.ExitCode, c.Finished = false, code, r.now()
}

// add puts a container in the runtime as a previous kubelet left it.
func (r *fakeRuntime) add(c agent.ContainerStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cs[c.ID] = &c
}

func (r *fakeRuntime) running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, id := range slices.Sorted(maps.Keys(r.cs)) {
		if r.cs[id].Running {
			ids = append(ids, id)
		}
	}
	return ids
}

// runningContainers are the running containers.
func (r *fakeRuntime) runningContainers() []agent.ContainerStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []agent.ContainerStatus
	for _, id := range slices.Sorted(maps.Keys(r.cs)) {
		if c := r.cs[id]; c.Running {
			out = append(out, *c)
		}
	}
	return out
}

func (r *fakeRuntime) calls() (runs []agent.Container, stops []stopCall, removes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.runs), slices.Clone(r.stops), slices.Clone(r.removes)
}

// labEnv is a lab host in a temporary directory: a manifest directory,
// an image map whose images hold executables of the right names, and a
// root under which hostPath volumes are made.
type labEnv struct {
	dir, manifests, images, root string
	imageDirs                    map[string]string
}

func newLabEnv(t *testing.T, images map[string][]string) *labEnv {
	t.Helper()
	dir := t.TempDir()
	e := &labEnv{dir: dir, manifests: filepath.Join(dir, "manifests"), images: filepath.Join(dir, "images.json"),
		root: filepath.Join(dir, "root"), imageDirs: map[string]string{}}
	for _, d := range []string{e.manifests, e.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	for image, bins := range images {
		d := filepath.Join(dir, "images", fmt.Sprint(i))
		i++
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, b := range bins {
			if err := os.WriteFile(filepath.Join(d, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		e.imageDirs[image] = d
	}
	e.writeImages(t, e.imageDirs)
	return e
}

func (e *labEnv) writeImages(t *testing.T, m map[string]string) {
	t.Helper()
	var b []byte
	b = append(b, '{')
	first := true
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, fmt.Sprintf("%q:%q", k, m[k])...)
	}
	b = append(b, '}')
	if err := os.WriteFile(e.images, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// manifest writes a manifest into the manifest directory and returns the
// pod as the kubelet reads it.
func (e *labEnv) manifest(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.manifests, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *labEnv) read(t *testing.T) []*desiredPod {
	t.Helper()
	pods, errs := readManifests(e.manifests, "cp-a")
	if len(errs) > 0 {
		t.Fatalf("readManifests: %v", errs)
	}
	return pods
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// statusOf finds a container's status in a pod's.
func statusOf(t *testing.T, p *corev1.Pod, name string) corev1.ContainerStatus {
	t.Helper()
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for container %s in %v", name, p.Status.ContainerStatuses)
	return corev1.ContainerStatus{}
}
