package parallel

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

func TestWithinCapsWorkers(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		var running, peak atomic.Int32
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			done <- Within(workers, 12, func(int) error {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				<-release
				running.Add(-1)
				return nil
			})
		}()
		for range 12 {
			release <- struct{}{}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := peak.Load(); got > int32(workers) {
			t.Errorf("workers %d: %d calls ran at once", workers, got)
		}
	}
}

// TestWithinLowestError: the error returned is the lowest index's,
// whatever order the calls finish in.
func TestWithinLowestError(t *testing.T) {
	for range 20 {
		err := Within(4, 50, func(i int) error {
			if i%7 == 3 {
				return fmt.Errorf("job %d", i)
			}
			return nil
		})
		if err == nil || err.Error() != "job 3" {
			t.Fatalf("got %v, want job 3", err)
		}
	}
	if err := Within(1, 3, func(i int) error { return errors.ErrUnsupported }); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("serial: %v", err)
	}
}
