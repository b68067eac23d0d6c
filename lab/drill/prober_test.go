package drill

import (
	"testing"
	"time"
)

// Between counts the requests sent in a window, in the order they were
// sent, and measures the longest run of failures.
func TestBetween(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	p := &Prober{Interval: 100 * time.Millisecond}
	// Requests end out of order: recorded as they end.
	for _, s := range []sample{{at(0), true}, {at(200), false}, {at(100), false}, {at(300), true}, {at(400), false}, {at(500), true}, {at(600), false}, {at(700), false}} {
		p.samples = append(p.samples, s)
	}
	w := p.Between(at(0), at(550))
	if w.Total != 6 || w.Failed != 3 || w.Longest != 200*time.Millisecond {
		t.Errorf("got %+v, want 3 of 6 failed, the longest gap 200ms (100 to 300)", w)
	}
	// A run of failures still going at the window's end lasts until the
	// last request sent, and an interval more.
	w = p.Between(at(550), at(1000))
	if w.Total != 2 || w.Failed != 2 || w.Longest != 200*time.Millisecond {
		t.Errorf("got %+v, want 2 of 2 failed, 200ms", w)
	}
	if w := p.Between(at(1000), at(2000)); w.Total != 0 || w.String() != "no request failed (0 sent)" {
		t.Errorf("an empty window: %+v %q", w, w)
	}
}
