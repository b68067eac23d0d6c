// Package drill breaks a live lab cluster on purpose, the way machines
// and processes fail, and measures what clients see: how long the endpoint
// fails new requests, where the VIP goes, how etcd and the leader
// elections ride it out.
package drill

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Prober sends a request to the endpoint every Interval, each on a new
// connection (a new client's view: a kept-alive connection would hide a
// moved VIP), and keeps the outcome of each.
type Prober struct {
	Client   *http.Client
	URL      string // e.g. https://10.0.0.100:6443/readyz
	Interval time.Duration

	mu      sync.Mutex
	samples []sample
	cancel  context.CancelFunc
	done    chan struct{}
}

type sample struct {
	at time.Time
	ok bool
}

// Start begins probing.
func (p *Prober) Start(ctx context.Context) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(p.Interval)
		defer t.Stop()
		for {
			go p.probe(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends probing.
func (p *Prober) Stop() {
	p.cancel()
	<-p.done
}

func (p *Prober) probe(ctx context.Context) {
	at := time.Now()
	ok := false
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err == nil {
		resp, err := p.Client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			ok = resp.StatusCode == http.StatusOK && string(body) == "ok"
		}
	}
	if ctx.Err() != nil {
		return // stopped: not a failure of the endpoint
	}
	p.mu.Lock()
	p.samples = append(p.samples, sample{at, ok})
	p.mu.Unlock()
}

// Outage is what new requests saw after a fault.
type Outage struct {
	// Gap is from the fault to the first success after which every
	// request succeeded; zero if none failed.
	Gap time.Duration
	// Failed and Total count the requests sent since the fault.
	Failed, Total int
	// Recovered: requests succeeded again, and kept succeeding, by the
	// end of the window.
	Recovered bool
}

func (o Outage) String() string {
	if o.Failed == 0 {
		return fmt.Sprintf("no request failed (%d sent)", o.Total)
	}
	if !o.Recovered {
		return fmt.Sprintf("no request succeeded again (%d of %d failed)", o.Failed, o.Total)
	}
	return fmt.Sprintf("%s until requests succeeded again (%d of %d failed)", o.Gap.Round(100*time.Millisecond), o.Failed, o.Total)
}

// Since measures the outage after a fault at t, once the endpoint has
// served every request for stable.
func (p *Prober) Since(t time.Time) Outage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var o Outage
	var lastFail time.Time
	for _, s := range p.samples {
		if s.at.Before(t) {
			continue
		}
		o.Total++
		if !s.ok {
			o.Failed++
			lastFail = s.at
		}
	}
	if o.Failed == 0 {
		o.Recovered = o.Total > 0
		return o
	}
	// The first success after the last failure ends the gap.
	for _, s := range p.samples {
		if s.at.After(lastFail) && s.ok {
			o.Gap = s.at.Sub(t)
			o.Recovered = true
			break
		}
	}
	return o
}

// WaitRecovered waits until the endpoint has answered every request for
// stable since the fault at t, or the timeout passes.
func (p *Prober) WaitRecovered(ctx context.Context, t time.Time, stable, timeout time.Duration) Outage {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		p.mu.Lock()
		var lastFail, last time.Time
		okSince := true
		for _, s := range p.samples {
			if s.at.Before(t) {
				continue
			}
			last = s.at
			if !s.ok {
				lastFail, okSince = s.at, false
			}
		}
		p.mu.Unlock()
		if !last.IsZero() && (okSince || last.Sub(lastFail) >= stable) && time.Since(t) >= stable {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return p.Since(t)
}

// Window is what the requests sent between from and to saw: how many
// failed of how many, and the longest run of failures (from the first of
// the run to the success that ended it, or to the last request sent).
type Window struct {
	Failed, Total int
	Longest       time.Duration
}

func (w Window) String() string {
	if w.Failed == 0 {
		return fmt.Sprintf("no request failed (%d sent)", w.Total)
	}
	return fmt.Sprintf("%d of %d requests failed, the longest gap %s", w.Failed, w.Total, w.Longest.Round(100*time.Millisecond))
}

// Between counts the requests sent in [from, to).
func (p *Prober) Between(from, to time.Time) Window {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Requests end out of order: read them in the order they were sent.
	ss := make([]sample, 0, len(p.samples))
	for _, s := range p.samples {
		if !s.at.Before(from) && s.at.Before(to) {
			ss = append(ss, s)
		}
	}
	slices.SortFunc(ss, func(a, b sample) int { return a.at.Compare(b.at) })
	var w Window
	var runStart time.Time
	for _, s := range ss {
		w.Total++
		if !s.ok {
			w.Failed++
			if runStart.IsZero() {
				runStart = s.at
			}
			continue
		}
		if !runStart.IsZero() {
			w.Longest = max(w.Longest, s.at.Sub(runStart))
			runStart = time.Time{}
		}
	}
	if !runStart.IsZero() {
		w.Longest = max(w.Longest, ss[len(ss)-1].at.Sub(runStart)+p.Interval)
	}
	return w
}
