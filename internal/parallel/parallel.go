// Package parallel runs independent jobs on every core.
package parallel

import (
	"runtime"
	"sync"
)

// Each calls f(0) .. f(n-1) on up to GOMAXPROCS goroutines and returns the
// error of the lowest index that failed, so the result does not depend on
// scheduling.
func Each(n int, f func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
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
