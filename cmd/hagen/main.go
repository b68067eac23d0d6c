// Command hagen compiles a declarative cluster spec into the files that make
// a set of Linux machines a highly available Kubernetes control plane.
package main

import (
	"os"

	"github.com/hagen/hagen/cmd/hagen/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
