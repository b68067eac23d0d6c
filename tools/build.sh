#!/usr/bin/env bash
# Build the real upstream tools hagen's conformance suite runs, from the Go
# module proxy, into a cache directory:
#
#   kubeadm-1.37   k8s.io/kubernetes/cmd/kubeadm   (tools/kubernetes-v1.37)
#   kubeadm-1.35   k8s.io/kubernetes/cmd/kubeadm   (tools/kubeadm-v1.35)
#   kubeadm-1.30   k8s.io/kubernetes/cmd/kubeadm   (tools/kubeadm-v1.30)
#   etcd-3.7       go.etcd.io/etcd/server/v3       (tools/etcd-v3.7)
#   etcdctl-3.7    go.etcd.io/etcd/etcdctl/v3      (tools/etcd-v3.7)
#   etcd-3.6       go.etcd.io/etcd/server/v3       (tools/etcd-v3.6)
#   etcdctl-3.6    go.etcd.io/etcd/etcdctl/v3      (tools/etcd-v3.6)
#   cfssl, cfssljson                               (tools/cfssl-v1.6.5)
#
# and, for the lab only (tools/build.sh lab):
#
#   kube-apiserver-1.37, kube-controller-manager-1.37, kube-scheduler-1.37,
#   kube-proxy-1.37, kubectl-1.37                  (tools/kubernetes-v1.37)
#
# Output dir: ${HAGEN_TOOLS_BIN:-<repo>/.tools/bin}
#
# Idempotent: a build is skipped when the binary exists and its stamp file
# (<bin>/.stamps/<tool>) records the same hash of go.mod, go.sum, Go version
# and build flags. Versions are pinned by each module's go.mod/go.sum.
#
# Usage:
#   tools/build.sh                 # build the conformance suite's tools
#   tools/build.sh lab             # build the lab's control-plane binaries too
#   tools/build.sh kubeadm-1.35    # build only the named tool(s)
#   HAGEN_TOOLS_FORCE=1 tools/build.sh   # rebuild even if up to date
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$TOOLS_DIR/.." && pwd)"
BIN="${HAGEN_TOOLS_BIN:-$REPO/.tools/bin}"
STAMPS="$BIN/.stamps"
mkdir -p "$BIN" "$STAMPS"
# Keep the default cache dir out of git without touching the repo's .gitignore.
if [ -z "${HAGEN_TOOLS_BIN:-}" ] && [ ! -e "$REPO/.tools/.gitignore" ]; then
	printf '*\n' >"$REPO/.tools/.gitignore"
fi

export CGO_ENABLED=0
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
# go.sum in each tools module is authoritative; never rewrite it during a build.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"
# Used only by `go mod tidy` when maintaining the modules: k8s.io/kube-proxy
# v0.30.14 is not in the checksum database (sum.golang.org answers 404), so
# its go.sum line was computed from the proxy zip. Harmless for builds, which
# verify against go.sum.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}k8s.io/kube-proxy"

ALL_TOOLS=(kubeadm-1.37 kubeadm-1.35 kubeadm-1.30 etcd-3.7 etcdctl-3.7 etcd-3.6 etcdctl-3.6 cfssl cfssljson)
LAB_TOOLS=(kube-apiserver-1.37 kube-controller-manager-1.37 kube-scheduler-1.37 kube-proxy-1.37 kubectl-1.37)

# tool -> "module dir|package|version module"
spec() {
	case "$1" in
	kubeadm-1.37) echo "kubernetes-v1.37|k8s.io/kubernetes/cmd/kubeadm|k8s.io/kubernetes" ;;
	kube-apiserver-1.37) echo "kubernetes-v1.37|k8s.io/kubernetes/cmd/kube-apiserver|k8s.io/kubernetes" ;;
	kube-controller-manager-1.37) echo "kubernetes-v1.37|k8s.io/kubernetes/cmd/kube-controller-manager|k8s.io/kubernetes" ;;
	kube-scheduler-1.37) echo "kubernetes-v1.37|k8s.io/kubernetes/cmd/kube-scheduler|k8s.io/kubernetes" ;;
	kube-proxy-1.37) echo "kubernetes-v1.37|k8s.io/kubernetes/cmd/kube-proxy|k8s.io/kubernetes" ;;
	kubectl-1.37) echo "kubernetes-v1.37|k8s.io/kubernetes/cmd/kubectl|k8s.io/kubernetes" ;;
	kubeadm-1.35) echo "kubeadm-v1.35|k8s.io/kubernetes/cmd/kubeadm|k8s.io/kubernetes" ;;
	kubeadm-1.30) echo "kubeadm-v1.30|k8s.io/kubernetes/cmd/kubeadm|k8s.io/kubernetes" ;;
	etcd-3.7) echo "etcd-v3.7|go.etcd.io/etcd/server/v3|go.etcd.io/etcd/server/v3" ;;
	etcdctl-3.7) echo "etcd-v3.7|go.etcd.io/etcd/etcdctl/v3|go.etcd.io/etcd/etcdctl/v3" ;;
	etcd-3.6) echo "etcd-v3.6|go.etcd.io/etcd/server/v3|go.etcd.io/etcd/server/v3" ;;
	etcdctl-3.6) echo "etcd-v3.6|go.etcd.io/etcd/etcdctl/v3|go.etcd.io/etcd/etcdctl/v3" ;;
	cfssl) echo "cfssl-v1.6.5|github.com/cloudflare/cfssl/cmd/cfssl|github.com/cloudflare/cfssl" ;;
	cfssljson) echo "cfssl-v1.6.5|github.com/cloudflare/cfssl/cmd/cfssljson|github.com/cloudflare/cfssl" ;;
	*) return 1 ;;
	esac
}

# Upstream commit of a module version, from the proxy's .info Origin (if any).
origin_hash() { # moddir module
	local info
	info="$(cd "$1" && go mod download -json "$2" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p')"
	[ -n "$info" ] && [ -f "$info" ] || return 0
	sed -n 's/.*"Hash":"\([0-9a-f]\{40\}\)".*/\1/p' "$info"
}

# Extra -ldflags -X settings so the binaries report their real version.
version_ldflags() { # tool moddir version module
	local tool="$1" moddir="$2" ver="$3" mod="$4" commit date
	commit="$(origin_hash "$moddir" "$mod")"
	date="$(cd "$moddir" && go list -m -f '{{with .Time}}{{.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' "$mod")"
	case "$tool" in
	kubeadm-* | kube-* | kubectl-*)
		# Same variables hack/lib/version.sh sets in a release build.
		local major minor pkg out=""
		major="${ver#v}"; major="${major%%.*}"
		minor="${ver#v*.}"; minor="${minor%%.*}"
		for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			out+=" -X $pkg.gitVersion=$ver -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
			out+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
			[ -n "$commit" ] && out+=" -X $pkg.gitCommit=$commit"
		done
		echo "$out"
		;;
	etcd-* | etcdctl-*)
		[ -n "$commit" ] && echo " -X go.etcd.io/etcd/api/v3/version.GitSHA=${commit:0:9}"
		;;
	esac
	return 0
}

build_one() {
	local tool="$1" s moddir pkg mod dir ver hash ldflags out start secs
	s="$(spec "$tool")" || { echo "build.sh: unknown tool: $tool (known: ${ALL_TOOLS[*]})" >&2; return 2; }
	IFS='|' read -r moddir pkg mod <<<"$s"

	dir="$TOOLS_DIR/$moddir"
	out="$BIN/$tool"

	hash="$(cat "$dir/go.mod" "$dir/go.sum" <(go version) <(echo "$tool $pkg CGO_ENABLED=$CGO_ENABLED -trimpath -s -w v2") |
		sha256sum | cut -d' ' -f1)"
	if [ -z "${HAGEN_TOOLS_FORCE:-}" ] && [ -x "$out" ] && [ -f "$STAMPS/$tool" ] &&
		[ "$(sed -n 1p "$STAMPS/$tool")" = "$hash" ]; then
		printf '%-13s %-9s up to date  %s\n' "$tool" "$(sed -n 2p "$STAMPS/$tool")" "$out"
		return 0
	fi

	ver="$(cd "$dir" && go list -m -f '{{.Version}}' "$mod")"
	ldflags="-s -w$(version_ldflags "$tool" "$dir" "$ver" "$mod")"
	start=$SECONDS
	(cd "$dir" && go build -trimpath -ldflags="$ldflags" -o "$out.tmp" "$pkg")
	mv -f "$out.tmp" "$out"
	printf '%s\n%s\n' "$hash" "$ver" >"$STAMPS/$tool"
	secs=$((SECONDS - start))
	printf '%-13s %-9s built in %ss  %s\n' "$tool" "$ver" "$secs" "$out"
}

tools=("$@")
[ "${#tools[@]}" -eq 0 ] && tools=("${ALL_TOOLS[@]}")
[ "${tools[*]}" = "lab" ] && tools=("${ALL_TOOLS[@]}" "${LAB_TOOLS[@]}")
for t in "${tools[@]}"; do
	build_one "$t"
done
