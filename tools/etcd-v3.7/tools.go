//go:build tools

// Package tools pins etcd's dependencies so `go mod tidy` keeps go.sum
// complete. The binaries are built from the upstream main packages, which are
// exactly `etcdmain.Main(os.Args)` and `ctlv3.MustStart()`:
//
//	go build go.etcd.io/etcd/server/v3    # etcd
//	go build go.etcd.io/etcd/etcdctl/v3   # etcdctl
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3/ctlv3"
	_ "go.etcd.io/etcd/server/v3/etcdmain"
)
