package cli

// Flag names, in one place so that verbs agree on spelling.
const (
	flagOut      = "out"
	flagSecrets  = "secrets"
	flagTar      = "tar"
	flagForce    = "force"
	flagOpenAPI  = "openapi"
	flagJSON     = "json"
	flagExitCode = "exit-code"
	flagMasters  = "masters"
	flagWorkers  = "workers"
	flagLB       = "lb"
	flagEtcd     = "etcd"
)
