// Command hagen-lab rehearses rendered hagen bundles on one Linux machine:
// see lab/cli. The same binary is each lab host's agent and its stand-ins
// for systemctl, crictl and the kubelet, chosen by the name it runs as.
package main

import (
	"os"

	"github.com/hagen/hagen/lab/cli"
)

func main() { os.Exit(cli.Main(os.Args, os.Stdout, os.Stderr)) }
