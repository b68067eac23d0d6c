package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// EtcdMember is one member as etcd lists it.
type EtcdMember struct {
	ID uint64
	// Name is empty until the member has first started: etcd learns it
	// from the member itself.
	Name     string
	PeerURLs []string
	Learner  bool
}

// Started reports whether the member has run and joined the cluster.
func (m EtcdMember) Started() bool { return m.Name != "" }

// PeerURL is the peer URL of a member on addr.
func PeerURL(addr netip.Addr) string {
	return "https://" + net.JoinHostPort(addr.String(), "2380")
}

// ClientURL is the client URL of a member on addr.
func ClientURL(addr netip.Addr) string {
	return "https://" + net.JoinHostPort(addr.String(), "2379")
}

// EtcdMemberList asks the members at endpoints, one at a time, for the
// membership, and returns the first answer: a member that does not run
// (one just added, one being removed) is passed over.
func EtcdMemberList(ctx context.Context, cl *Clients, endpoints []string) ([]EtcdMember, error) {
	var errs []error
	for _, ep := range endpoints {
		cli, err := cl.Etcd([]string{ep})
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := cli.MemberList(cctx)
		cancel()
		cli.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ep, err))
			continue
		}
		out := make([]EtcdMember, len(r.Members))
		for i, m := range r.Members {
			out[i] = EtcdMember{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, Learner: m.IsLearner}
		}
		return out, nil
	}
	return nil, fmt.Errorf("no etcd member answered a member list: %w", errors.Join(errs...))
}

// FindMember is the member with the peer URL, if any.
func FindMember(ms []EtcdMember, peer string) (EtcdMember, bool) {
	for _, m := range ms {
		for _, u := range m.PeerURLs {
			if u == peer {
				return m, true
			}
		}
	}
	return EtcdMember{}, false
}

// EtcdReadEach reads key from each member alone (a linearizable read: it
// needs that member's quorum) and returns an error unless every one has
// want.
func EtcdReadEach(ctx context.Context, cl *Clients, endpoints []string, key, want string) error {
	for _, ep := range endpoints {
		one, err := cl.Etcd([]string{ep})
		if err != nil {
			return err
		}
		r, err := one.Get(ctx, key)
		one.Close()
		if err != nil {
			return fmt.Errorf("etcd read of %s from %s: %w", key, ep, err)
		}
		if len(r.Kvs) != 1 {
			return fmt.Errorf("etcd %s has no %s: the data written before is lost there", ep, key)
		}
		if got := string(r.Kvs[0].Value); got != want {
			return fmt.Errorf("etcd %s has %s = %q, written as %q", ep, key, got, want)
		}
	}
	return nil
}

// EtcdPut writes key through the members.
func EtcdPut(ctx context.Context, cl *Clients, endpoints []string, key, value string) error {
	cli, err := cl.Etcd(endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, key, value); err != nil {
		return fmt.Errorf("etcd write of %s: %w", key, err)
	}
	return nil
}
