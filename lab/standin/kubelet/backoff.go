package kubelet

import "time"

// backoff is client-go's flowcontrol.Backoff as the kubelet uses it for
// container restarts and image pulls, without jitter (the kubelet's has
// none): a delay per key that starts at initial, doubles on every Next up
// to max, and starts over once an event comes more than 2*max after the
// last Next, that is after ten quiet minutes with the default 5m cap.
type backoff struct {
	initial, max time.Duration
	entries      map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time
}

func newBackoff(initial, max time.Duration) *backoff {
	if max < initial {
		initial = max
	}
	return &backoff{initial: initial, max: max, entries: map[string]*backoffEntry{}}
}

func (b *backoff) expired(e *backoffEntry, event time.Time) bool {
	return event.Sub(e.last) > 2*b.max
}

// next moves key's delay to its next step; now is when it is taken.
func (b *backoff) next(key string, event, now time.Time) {
	e, ok := b.entries[key]
	if !ok || b.expired(e, event) {
		e = &backoffEntry{delay: b.initial}
		b.entries[key] = e
	} else {
		e.delay = min(2*e.delay, b.max)
	}
	e.last = now
}

// get is key's current delay.
func (b *backoff) get(key string) time.Duration {
	if e, ok := b.entries[key]; ok {
		return e.delay
	}
	return 0
}

// inBackoffSince says whether now is still within key's delay after event
// (a container's exit): the kubelet's test before restarting a container.
func (b *backoff) inBackoffSince(key string, event, now time.Time) bool {
	e, ok := b.entries[key]
	if !ok || b.expired(e, event) {
		return false
	}
	return now.Sub(event) < e.delay
}

// inBackoffSinceUpdate says whether now is still within key's delay after
// the last next: the kubelet's test before pulling an image again.
func (b *backoff) inBackoffSinceUpdate(key string, now time.Time) bool {
	e, ok := b.entries[key]
	if !ok || b.expired(e, now) {
		return false
	}
	return now.Sub(e.last) < e.delay
}

// forget drops every key for which keep is false.
func (b *backoff) forget(keep func(string) bool) {
	for k := range b.entries {
		if !keep(k) {
			delete(b.entries, k)
		}
	}
}
