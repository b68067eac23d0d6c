//go:build tools

// Package tools pins the dependencies of the Kubernetes 1.37 binaries hagen
// builds from the module proxy, so `go mod tidy` keeps go.sum complete:
// kubeadm for the conformance suite, and the control plane and kubectl for
// the lab. The binaries are built from the upstream main packages:
//
//	go build k8s.io/kubernetes/cmd/kubeadm
//	go build k8s.io/kubernetes/cmd/kube-apiserver
//	go build k8s.io/kubernetes/cmd/kube-controller-manager
//	go build k8s.io/kubernetes/cmd/kube-scheduler
//	go build k8s.io/kubernetes/cmd/kube-proxy
//	go build k8s.io/kubernetes/cmd/kubectl
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubeadm/app"
	_ "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
