package unit

import (
	"testing"
	"time"
)

// Time spans, systemd.time(7). The results are what `systemd-analyze
// timespan` of systemd 252 prints for the same strings.
func TestParseTimespan(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"5s", 5 * time.Second},
		{"10", 10 * time.Second},
		{"100ms", 100 * time.Millisecond},
		{"1min", time.Minute},
		{"1m", time.Minute},
		{"2min 200ms", 2*time.Minute + 200*time.Millisecond},
		{"1h30m", 90 * time.Minute},
		{"1.5s", 1500 * time.Millisecond},
		{"1.5", 1500 * time.Millisecond},
		{"0.5ms", 500 * time.Microsecond},
		{"3.000001us", 3 * time.Microsecond},
		{"5 s", 5 * time.Second},
		{"5 seconds", 5 * time.Second},
		{"  3s ", 3 * time.Second},
		{"5s5", 10 * time.Second},
		{"1 min 2", time.Minute + 2*time.Second},
		{"1w2d", 9 * 24 * time.Hour},
		{"1M", 2629800 * time.Second},
		{"1y", 31557600 * time.Second},
		{"1us", time.Microsecond},
		{"1µs", time.Microsecond},
		{"08", 8 * time.Second},
		{"+5s", 5 * time.Second},
		{"0", 0},
		{"infinity", Infinity},
		{" infinity ", Infinity},
		{"1000y", Infinity},
	} {
		got, err := ParseTimespan(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTimespan(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "3S", "1ns", "1e3", "0x10", "-1", "-0", "3.", "3.sec", "12.34.56", "infinityx", "+.5", "s"} {
		if got, err := ParseTimespan(in); err == nil {
			t.Errorf("ParseTimespan(%q) = %v, want an error", in, got)
		}
	}
}
