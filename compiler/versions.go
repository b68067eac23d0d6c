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

// kubeadmRelease is what hagen knows of one Kubernetes minor release.
type kubeadmRelease struct {
	api  string // kubeadm configuration apiVersion
	etcd string // the etcd version kubeadm pairs with it
}

// releases are the Kubernetes minors hagen supports, with the etcd version
// kubeadm's constants pair with each.
var releases = map[int]kubeadmRelease{
	9:  {model.KubeadmV1Alpha1, "3.1.10"},
	10: {model.KubeadmV1Alpha1, "3.1.12"},
	22: {model.KubeadmV1Beta3, "3.5.0"},
	23: {model.KubeadmV1Beta3, "3.5.1"},
	24: {model.KubeadmV1Beta3, "3.5.3"},
	25: {model.KubeadmV1Beta3, "3.5.4"},
	26: {model.KubeadmV1Beta3, "3.5.6"},
	27: {model.KubeadmV1Beta3, "3.5.7"},
	28: {model.KubeadmV1Beta3, "3.5.9"},
	29: {model.KubeadmV1Beta3, "3.5.10"},
	30: {model.KubeadmV1Beta3, "3.5.12"},
	31: {model.KubeadmV1Beta4, "3.5.15"},
	32: {model.KubeadmV1Beta4, "3.5.16"},
	33: {model.KubeadmV1Beta4, "3.5.21"},
	34: {model.KubeadmV1Beta4, "3.6.4"},
	35: {model.KubeadmV1Beta4, "3.6.5"},
}

// newestMinor is the newest Kubernetes minor hagen's templates were checked
// against; newer ones still get v1beta4, with a warning.
const newestMinor = 35

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

// Supported etcd minors: 3.1 (the kubeadm 1.9/1.10 era) to 3.6.
const oldestEtcdMinor, newestEtcdMinor = 1, 6

func checkEtcdVersion(v model.Version) error {
	if v.Major != 3 || v.Minor < oldestEtcdMinor || v.Minor > newestEtcdMinor {
		return fmt.Errorf("etcd %s is not supported: hagen writes flags for etcd 3.%d to 3.%d", v, oldestEtcdMinor, newestEtcdMinor)
	}
	return nil
}
