//go:build tools

// Package tools pins cfssl and cfssljson, the seed guide's route for etcd
// certificates, which `make bench` times against hagen.
package tools

import (
	_ "github.com/cloudflare/cfssl/cmd/cfssl"
	_ "github.com/cloudflare/cfssl/cmd/cfssljson"
)
