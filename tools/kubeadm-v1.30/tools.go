//go:build tools

// Package tools pins kubeadm's dependencies so `go mod tidy` keeps go.sum
// complete. The binary itself is built from the upstream main package:
//
//	go build k8s.io/kubernetes/cmd/kubeadm
package tools

import (
	_ "k8s.io/kubernetes/cmd/kubeadm/app"
	_ "k8s.io/kubernetes/cmd/kubeadm/app/util"
)
