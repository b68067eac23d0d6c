package cli

import (
	"time"

	ucli "github.com/urfave/cli/v2"
)

// Flag names, in one place so that verbs agree on spelling.
const (
	flagOut      = "out"
	flagSecrets  = "secrets"
	flagTar      = "tar"
	flagCloud    = "cloud-init"
	flagIgnition = "ignition"
	flagForce    = "force"
	flagOpenAPI  = "openapi"
	flagJSON     = "json"
	flagExitCode = "exit-code"
	flagMasters  = "masters"
	flagWorkers  = "workers"
	flagLB       = "lb"
	flagEtcd     = "etcd"
	flagAt       = "at"
)

// atFlag is --at DATE: judge expiry at DATE instead of now, to ask what
// will have expired by then (and to pin output in tests).
func atFlag() *ucli.StringFlag {
	return &ucli.StringFlag{Name: flagAt, Usage: "judge expiry as of `DATE` (YYYY-MM-DD, UTC) instead of now"}
}

// atTime is the --at date, or now.
func atTime(c *ucli.Context) (time.Time, error) {
	s := c.String(flagAt)
	if s == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, usagef("--at %q is not a date like 2027-06-01", s)
	}
	return t, nil
}
