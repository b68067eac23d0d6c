// Package netns dials from inside a network namespace the lab made. Every
// connection a check or a drill opens goes through it: a lab address dialled
// from the machine's own namespace has no route there and would leave the
// machine by its default gateway.
package netns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"golang.org/x/sys/unix"
)

// Dialer opens TCP connections from inside the network namespace at Path
// (e.g. /run/netns/NAME). It dials IP literals only: resolving a name could
// start goroutines on threads that are not in the namespace.
type Dialer struct {
	Path string
	// Resolve maps host names (an external load balancer's DNS name) to
	// lab addresses; nil resolves nothing.
	Resolve func(host string) (netip.Addr, bool)
}

// DialContext is net.Dialer.DialContext in the namespace. The socket is
// created on a thread that has entered the namespace, so it belongs there
// for its whole life; the thread returns to the lab's namespace before it
// serves anything else.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		a, ok := netip.Addr{}, false
		if d.Resolve != nil {
			a, ok = d.Resolve(host)
		}
		if !ok {
			return nil, fmt.Errorf("lab dialer: %q is not a lab address", host)
		}
		ip = a
	}
	address = net.JoinHostPort(ip.String(), port)

	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	// A goroutine of its own: its thread is locked, moved into the
	// namespace, and, should moving back fail, never unlocked, so the Go
	// runtime discards the thread instead of reusing it.
	go func() {
		runtime.LockOSThread()
		back, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, err}
			return
		}
		defer unix.Close(back)
		target, err := unix.Open(d.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("lab dialer: %w", err)}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- result{nil, fmt.Errorf("lab dialer: entering %s: %w", d.Path, err)}
			return
		}
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, address)
		if unix.Setns(back, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}
