// Package parallel runs independent jobs on a bounded number of goroutines:
// hagen's one worker pool.
package parallel

import (
	"runtime"
	"sync"
)

// Each calls f(0) .. f(n-1) on up to GOMAXPROCS goroutines; see Within.
func Each(n int, f func(i int) error) error { return Within(0, n, f) }

// Within calls f(0) .. f(n-1) on up to workers goroutines (0 or less: one
// per CPU) and returns the error of the lowest index that failed, so the
// result does not depend on scheduling. One worker runs the calls in
// order on the caller's goroutine.
func Within(workers, n int, f func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				errs[i] = f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
