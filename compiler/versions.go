package compiler

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/hagen/hagen/compiler/model"
)

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$`)

func parseVersion(s string) (model.Version, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return model.Version{}, false
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	return model.Version{Major: atoi(m[1]), Minor: atoi(m[2]), Patch: atoi(m[3]), Pre: m[4]}, true
}

func mustVersion(s string) model.Version {
	v, ok := parseVersion(s)
	if !ok {
		panic("compiler: bad version in the release table: " + s)
	}
	return v
}

// kubeadmRelease is what hagen knows of one Kubernetes minor release, read
// from that release's kubeadm (cmd/kubeadm/app/constants).
type kubeadmRelease struct {
	api  string // kubeadm configuration apiVersion
	etcd string // the etcd version kubeadm pairs with it: hagen's default
	// minEtcd is kubeadm's MinExternalEtcdVersion: its ExternalEtcdVersion
	// preflight check (kubeadm init) refuses an older etcd. hagen's etcd
	// is always external to kubeadm.
	minEtcd string
}

// releases are the Kubernetes minors hagen supports, read from each minor's
// kubeadm (cmd/kubeadm/app/constants: DefaultEtcdVersion,
// MinExternalEtcdVersion; the minimums at the newest patch on the module
// proxy, 2026-11). A minor's etcd pairing changes only when kubeadm's
// newest patch for it refuses the old one: 1.31 to 1.33 paired 3.5.15 to
// 3.5.21 when they came out, and their kubeadm now wants 3.5.24.
var releases = map[int]kubeadmRelease{
	9:  {model.KubeadmV1Alpha1, "3.1.10", "3.0.14"},
	10: {model.KubeadmV1Alpha1, "3.1.12", "3.1.12"},
	22: {model.KubeadmV1Beta3, "3.5.0", "3.2.18"},
	23: {model.KubeadmV1Beta3, "3.5.1", "3.2.18"},
	24: {model.KubeadmV1Beta3, "3.5.3", "3.2.18"},
	25: {model.KubeadmV1Beta3, "3.5.4", "3.2.18"},
	26: {model.KubeadmV1Beta3, "3.5.6", "3.2.18"},
	27: {model.KubeadmV1Beta3, "3.5.7", "3.2.18"},
	28: {model.KubeadmV1Beta3, "3.5.9", "3.4.13-4"},
	29: {model.KubeadmV1Beta3, "3.5.10", "3.4.13-4"},
	30: {model.KubeadmV1Beta3, "3.5.12", "3.4.13-4"},
	31: {model.KubeadmV1Beta4, "3.5.24", "3.5.24-0"},
	32: {model.KubeadmV1Beta4, "3.5.24", "3.5.24-0"},
	33: {model.KubeadmV1Beta4, "3.5.24", "3.5.24-0"},
	34: {model.KubeadmV1Beta4, "3.6.4", "3.5.24-0"},
	35: {model.KubeadmV1Beta4, "3.6.5", "3.5.24-0"},
	36: {model.KubeadmV1Beta4, "3.6.8", "3.5.24-0"},
	37: {model.KubeadmV1Beta4, "3.7.0", "3.5.24-0"},
}

// newestMinor is the newest Kubernetes minor hagen's templates were checked
// against; newer ones still get v1beta4, with a warning.
const newestMinor = 37

// NewestRelease is the newest Kubernetes release hagen knows: what
// `hagen init` writes into a starter spec.
const NewestRelease = "1.37.2"

// supportedMinors is upstream's support window: the newest three minors.
// Older releases still render, with a warning.
const supportedMinors = 3

const supportedRanges = "1.9-1.10 (v1alpha1), 1.22-1.30 (v1beta3), 1.31 and newer (v1beta4)"

// release returns what hagen knows of Kubernetes version v, and whether v is
// newer than any release hagen was checked against.
func release(v model.Version) (r kubeadmRelease, ok, newer bool) {
	if v.Major != 1 {
		return r, false, false
	}
	if r, ok := releases[v.Minor]; ok {
		return r, true, false
	}
	if v.Minor > newestMinor {
		return releases[newestMinor], true, true
	}
	return r, false, false
}

// upstreamSupported reports whether minor is in upstream's support window,
// as of the newest release hagen knows.
func upstreamSupported(minor int) bool { return minor > newestMinor-supportedMinors }

// supportWindow names the supported minors, e.g. "1.35 to 1.37".
func supportWindow() string {
	return fmt.Sprintf("1.%d to 1.%d", newestMinor-supportedMinors+1, newestMinor)
}

// Supported etcd minors: 3.1 (the kubeadm 1.9/1.10 era) to 3.7.
const oldestEtcdMinor, newestEtcdMinor = 1, 7

func checkEtcdVersion(v model.Version) error {
	if v.Major != 3 || v.Minor < oldestEtcdMinor || v.Minor > newestEtcdMinor {
		return fmt.Errorf("etcd %s is not supported: hagen writes flags for etcd 3.%d to 3.%d", v, oldestEtcdMinor, newestEtcdMinor)
	}
	return nil
}

// olderThan compares versions by major, minor, patch, and then kubeadm's
// image suffix as a pre-release ("3.5.24-0" is 3.5.24).
func olderThan(a, b model.Version) bool {
	switch {
	case a.Major != b.Major:
		return a.Major < b.Major
	case a.Minor != b.Minor:
		return a.Minor < b.Minor
	}
	return a.Patch < b.Patch
}

// trimImageSuffix drops kubeadm's image revision ("3.5.24-0" -> "3.5.24").
func trimImageSuffix(s string) string {
	v := mustVersion(s)
	v.Pre = ""
	return v.String()
}
