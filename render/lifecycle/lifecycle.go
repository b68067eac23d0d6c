// Package lifecycle renders the scripts a running cluster needs to change:
// etcd membership changes made through a member that runs, a failed
// member's rejoin on a replacement machine, the apiservers' etcd endpoints
// rewritten one master at a time, and a fresh bootstrap token for joins
// after the first day. Each script checks the live cluster before it acts,
// so the RUNBOOK may run it again at any point.
package lifecycle

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"text/template"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/etcd"
	"github.com/hagen/hagen/render/kubeadm"
	"github.com/hagen/hagen/render/kubeletetcd"
)

// Paths on the hosts.
const (
	// EtcdMemberScript is on every etcd member: membership changes, run
	// on a member that runs.
	EtcdMemberScript = "/usr/local/sbin/hagen-etcd-member"
	// EtcdRejoinScript is on every etcd member: its first start on a
	// replacement machine.
	EtcdRejoinScript = "/usr/local/sbin/hagen-etcd-rejoin"
	// APIServerEtcdScript is on every master: the apiserver's etcd
	// endpoints set to this render's members.
	APIServerEtcdScript = "/usr/local/sbin/hagen-apiserver-etcd-servers"
	// BootstrapTokenScript is on every master: the bundle's bootstrap
	// token (read from the master's kubeadm configuration) made valid
	// again for joins.
	BootstrapTokenScript = "/usr/local/sbin/hagen-bootstrap-token"
	// APIServerManifest is kubeadm's apiserver static pod.
	APIServerManifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
)

// Bounds of the scripts' waits: a member catching up, an apiserver
// restarting. Every loop ends.
const (
	promoteTries = 150 // x 2 s
	changeTries  = 30  // x 2 s
	restartTries = 120 // x 1 s
)

// Learners reports whether the plan's etcd adds members as learners
// (non-voting until promoted): etcd 3.4 and newer.
func Learners(p *model.Plan) bool { return p.Etcd.Version.AtLeast(3, 4) }

// Files returns the scripts: the etcd ones on every member, the endpoint
// and token ones on every master. kubeadm 1.9/1.10
// clusters cannot change membership and get none.
func Files(p *model.Plan) ([]bundle.File, error) {
	if p.Kubernetes.KubeadmAPI == model.KubeadmV1Alpha1 {
		return nil, nil
	}
	var out []bundle.File
	for _, m := range p.Etcd.Members {
		member, err := exec(memberTmpl, memberData(p, m))
		if err != nil {
			return nil, err
		}
		rejoin, err := exec(rejoinTmpl, memberData(p, m))
		if err != nil {
			return nil, err
		}
		out = append(out,
			bundle.File{Host: m.Host.Name, Path: EtcdMemberScript, Mode: bundle.ModeScript, Data: member},
			bundle.File{Host: m.Host.Name, Path: EtcdRejoinScript, Mode: bundle.ModeScript, Data: rejoin},
		)
	}
	for _, h := range p.ControlPlane.Hosts {
		data, err := exec(apiserverTmpl, map[string]any{
			"Servers":   strings.Join(p.Etcd.ClientURLs(), ","),
			"Server":    "https://" + model.Endpoint{Host: h.Address.String(), Port: p.ControlPlane.Port}.String(),
			"Manifest":  APIServerManifest,
			"AdminConf": kubeadm.AdminConf,
			"Tries":     restartTries,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, bundle.File{Host: h.Name, Path: APIServerEtcdScript, Mode: bundle.ModeScript, Data: data})
	}
	token, err := exec(tokenTmpl, map[string]any{
		"Cluster": p.Name, "Config": kubeadm.ConfigPath, "AdminConf": kubeadm.AdminConf, "TTL": kubeadm.TokenTTL.String(),
	})
	if err != nil {
		return nil, err
	}
	for _, h := range p.ControlPlane.Hosts {
		out = append(out, bundle.File{Host: h.Name, Path: BootstrapTokenScript, Mode: bundle.ModeScript, Data: token})
	}
	return out, nil
}

type memberRow struct{ Name, Peer, Client string }

func memberData(p *model.Plan, self *model.Member) map[string]any {
	var rows []memberRow
	var ic []string
	for _, m := range p.Etcd.Joined {
		rows = append(rows, memberRow{m.Name, m.PeerURL(), m.ClientURL()})
		ic = append(ic, m.Name+"="+m.PeerURL())
	}
	loopback := "127.0.0.1"
	if self.Host.Address.Is6() && !self.Host.Address.Is4In6() {
		loopback = "[::1]"
	}
	if self.Host.Address.IsLoopback() {
		loopback = self.Host.Address.String()
	}
	return map[string]any{
		"Cluster":        p.Name,
		"Self":           self.Name,
		"SelfPeer":       self.PeerURL(),
		"Members":        rows,
		"Local":          fmt.Sprintf("https://%s:%d", loopback, model.EtcdClientPort),
		"Learners":       Learners(p),
		"API3":           !p.Etcd.Version.AtLeast(3, 4),
		"StaticPod":      p.Etcd.Run == model.RunStaticPod,
		"CA":             pki.CA(pki.EtcdCA).CertPath(),
		"Cert":           pki.Cert(pki.EtcdHealthcheckClient).CertPath(),
		"Key":            pki.Cert(pki.EtcdHealthcheckClient).KeyPath(),
		"DataDir":        self.DataDir,
		"InitialCluster": strings.Join(ic, ","),
		"RejoinEnv":      etcd.RejoinEnvPath,
		"Manifest":       etcd.ManifestPath,
		"DropIn":         kubeletetcd.DropIn,
		"DropInLink":     kubeletetcd.DropInLink,
		"DropInDir":      path.Dir(kubeletetcd.DropInLink),
		"MemberScript":   EtcdMemberScript,
		"Tries":          promoteTries,
		"ChangeTries":    changeTries,
	}
}

func exec(t *template.Template, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("internal error: %s: %w", t.Name(), err)
	}
	return b.Bytes(), nil
}

// The etcdctl of a static-pod member is the one in its image, reached
// through the container runtime; a systemd member's is on the host.
var memberTmpl = template.Must(template.New("hagen-etcd-member").Parse(`#!/bin/sh
# Generated by hagen: change the membership of etcd cluster {{.Cluster}} one
# member at a time, through a member that runs. Every command looks at the
# live cluster before it acts, so each is safe to run again.
#
#   hagen-etcd-member add MEMBER      add MEMBER{{if .Learners}} as a learner{{end}}, unless it is a member
#   hagen-etcd-member promote MEMBER  wait until MEMBER runs{{if .Learners}} and has caught up, then
#                                     make it a voter{{end}}; wait until it is healthy
#   hagen-etcd-member remove MEMBER PEER
#                                     remove MEMBER, found by name or peer URL
#   hagen-etcd-member readd MEMBER    replace a failed MEMBER: remove its stale
#                                     entry and add it again, unless it is healthy
#   hagen-etcd-member list            the members as etcd sees them
set -eu

# name, peer URL and client URL of every member of this render
members='
{{- range .Members}}
{{.Name}} {{.Peer}} {{.Client}}
{{- end}}
'
# Where this host's member answers.
local_endpoint='{{.Local}}'

die() {
	echo "hagen-etcd-member: $*" >&2
	exit 1
}

endpoint=$local_endpoint
ctl() {
{{- if .StaticPod}}
	c=$(crictl ps -q --name etcd 2>/dev/null | head -n 1)
	[ -n "$c" ] || die "no etcd container runs on this host: run me on a member that runs"
	crictl exec "$c" etcdctl --endpoints="$endpoint" \
{{- else}}
	{{if .API3}}ETCDCTL_API=3 {{end}}etcdctl --endpoints="$endpoint" \
{{- end}}
		--cacert={{.CA}} --cert={{.Cert}} --key={{.Key}} \
		--dial-timeout=3s --command-timeout=15s "$@"
}

# pick [SKIP]: talk through the first member that answers, this host's
# first, never SKIP's.
pick() {
	for e in "$local_endpoint" $(echo "$members" | awk -v skip="${1:-}" 'NF && $1 != skip {print $3}'); do
		endpoint=$e
		if ctl endpoint health >/dev/null 2>&1; then
			return 0
		fi
	done
	die "no member of {{.Cluster}} answers"
}

# row MEMBER: sets peer and client, MEMBER's URLs in this render.
row() {
	peer=$(echo "$members" | awk -v n="$1" '$1 == n {print $2}')
	client=$(echo "$members" | awk -v n="$1" '$1 == n {print $3}')
	[ -n "$peer" ] || die "$1 is not a member of this render of {{.Cluster}}"
}

# lookup NAME PEER: sets id, status (started, unstarted) and role (voter,
# learner) of the member with that name or peer URL; id is empty if there
# is none. An added member that has not started has no name yet.
lookup() {
	found=$(ctl member list | awk -F', ' -v n="$1" -v u="$2" \
		'$3 == n || $4 == u { print $1, $2, ($6 == "true" ? "learner" : "voter"); exit }')
	id='' status='' role=''
	if [ -n "$found" ]; then
		read -r id status role <<EOF
$found
EOF
	fi
}

healthy() {
	(
		endpoint=$1
		ctl endpoint health >/dev/null 2>&1
	)
}

# change ARGS...: a change of membership through etcdctl. etcd refuses one
# ("unhealthy cluster") until the member asked has been connected to a
# quorum for 5 s, as just after a member was promoted or restarted; nothing
# changed then, so it is asked again, a bounded number of times.
change() {
	i=0
	while ! out=$(ctl "$@" 2>&1); do
		case $out in
		*"unhealthy cluster"*) ;;
		*)
			echo "$out" >&2
			return 1
			;;
		esac
		i=$((i + 1))
		if [ "$i" -ge {{.ChangeTries}} ]; then
			echo "$out" >&2
			return 1
		fi
		sleep 2
	done
}

add() {
	row "$1"
	pick "$1"
	lookup "$1" "$peer"
	if [ -n "$id" ]; then
		echo "$1 is a member already ($id, $status, $role)"
		return 0
	fi
	change member add "$1" --peer-urls="$peer"{{if .Learners}} --learner{{end}} || die "adding $1 failed"
	echo "changed: added $1 at $peer{{if .Learners}} as a learner: it votes once promoted{{end}}"
}

promote() {
	row "$1"
	pick "$1"
	i=0
	while :; do
		lookup "$1" "$peer"
		[ -n "$id" ] || die "$1 is not a member: run 'hagen-etcd-member add $1' first"
		case $status,$role in
		started,voter)
			if healthy "$client"; then
				echo "$1 is a healthy voting member"
				return 0
			fi
			;;
{{- if .Learners}}
		started,learner)
			# etcd refuses until the learner has caught up with the leader.
			if ctl member promote "$id" >/dev/null 2>&1; then
				echo "changed: promoted $1 to a voting member"
				continue
			fi
			;;
{{- end}}
		esac
		i=$((i + 1))
		[ "$i" -lt {{.Tries}} ] || die "$1 is ${status:-?} (${role:-?}) after {{.Tries}} tries: is etcd running on $1? (journalctl -u etcd or crictl logs there)"
		sleep 2
	done
}

remove() {
	pick "$1"
	lookup "$1" "$2"
	if [ -z "$id" ]; then
		echo "$1 is not a member: nothing to remove"
		return 0
	fi
	change member remove "$id" || die "removing $1 ($id) failed"
	echo "changed: removed $1 ($id)"
}

readd() {
	row "$1"
	pick "$1"
	lookup "$1" "$peer"
	if [ -n "$id" ]; then
		case $status,$role in
		started,voter)
			if healthy "$client"; then
				echo "$1 is healthy: nothing to replace"
				return 0
			fi
			;;
		started,learner)
			echo "$1 was added again and is catching up: run 'hagen-etcd-member promote $1'"
			return 0
			;;
		unstarted,*)
			echo "$1 was added again and waits for its first start: run hagen-etcd-rejoin on $1"
			return 0
			;;
		esac
		change member remove "$id" || die "removing the stale $1 ($id) failed"
		echo "changed: removed the stale $1 ($id)"
	fi
	change member add "$1" --peer-urls="$peer"{{if .Learners}} --learner{{end}} || die "adding $1 failed"
	echo "changed: added $1 again at $peer: run hagen-etcd-rejoin on $1"
}

case ${1:-} in
add | promote | readd)
	[ $# -eq 2 ] || die "usage: hagen-etcd-member $1 MEMBER"
	"$1" "$2"
	;;
remove)
	[ $# -eq 3 ] || die "usage: hagen-etcd-member remove MEMBER PEER-URL"
	remove "$2" "$3"
	;;
list)
	pick
	ctl member list
	;;
*)
	die "usage: hagen-etcd-member add|promote|readd MEMBER, remove MEMBER PEER-URL, or list"
	;;
esac
`))

// The rejoin writes only this host's state: the cluster side runs on a
// member that runs (hagen-etcd-member readd before, promote after), where
// etcdctl is; a systemd member has its own etcdctl and runs both itself.
var rejoinTmpl = template.Must(template.New("hagen-etcd-rejoin").Parse(`#!/bin/sh
# Generated by hagen: bring etcd member {{.Self}} of cluster {{.Cluster}} back on a
# replacement machine (or after its data directory was lost) while the
# other members run. It does nothing if {{.DataDir}} holds data.
#
# The member starts with the cluster as this render has it:
#   {{.InitialCluster}}
{{- if .StaticPod}}
# Before: on a member that runs, 'hagen-etcd-member readd {{.Self}}'.
# After:  there, 'hagen-etcd-member promote {{.Self}}'.
{{- end}}
set -eu

if [ -d {{.DataDir}}/member ]; then
	echo "hagen-etcd-rejoin: {{.DataDir}} holds data: {{.Self}} is a member already, nothing to do"
	echo "(to replace it, stop etcd and move {{.DataDir}} away first)"
	exit 0
fi
{{- if .StaticPod}}

# etcd reads these flags on its first start only: later starts keep them.
sed -i \
	-e 's|--initial-cluster-state=new$|--initial-cluster-state=existing|' \
	-e 's|--initial-cluster=.*$|--initial-cluster={{.InitialCluster}}|' \
	{{.Manifest}}
# The standalone kubelet runs the static pod, as on the first day.
mkdir -p {{.DropInDir}}
ln -sf {{.DropIn}} {{.DropInLink}}
systemctl daemon-reload
systemctl enable kubelet
systemctl restart kubelet
echo "changed: hagen-etcd-rejoin: {{.Self}} starts; then, on a member that runs: hagen-etcd-member promote {{.Self}}"
{{- else}}

{{.MemberScript}} readd {{.Self}}
# etcd reads these on its first start only; etcd.service reads this file
# after /etc/etcd.env, and it goes with the next reboot.
cat >{{.RejoinEnv}} <<'EOF'
ETCD_INITIAL_CLUSTER={{.InitialCluster}}
ETCD_INITIAL_CLUSTER_STATE=existing
EOF
systemctl daemon-reload
systemctl enable etcd
systemctl restart --no-block etcd
echo "changed: hagen-etcd-rejoin: {{.Self}} starts with the running cluster"
{{.MemberScript}} promote {{.Self}}
{{- end}}
`))

var apiserverTmpl = template.Must(template.New("hagen-apiserver-etcd-servers").Parse(`#!/bin/sh
# Generated by hagen: point this master's kube-apiserver at the etcd
# members of this render, then wait until an apiserver with them runs and
# is ready. Run on one master at a time: each restarts its apiserver.
set -eu

manifest={{.Manifest}}
flag='--etcd-servers={{.Servers}}'
server='{{.Server}}'

[ -f "$manifest" ] || { echo "hagen-apiserver-etcd-servers: $manifest not found: join this master first" >&2; exit 1; }
if awk -v want="- $flag" '{ sub(/^[ \t]+/, "") } $0 == want { found = 1 } END { exit !found }' "$manifest"; then
	echo "the apiserver's etcd endpoints are current"
else
	sed -i "s|- --etcd-servers=.*\$|- $flag|" "$manifest"
	echo "changed: set $flag; the kubelet restarts the apiserver"
fi

# running: whether a kube-apiserver in this host's network namespace runs
# with the flag.
running() {
	self=$(readlink /proc/self/ns/net)
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/net" 2>/dev/null)" = "$self" ] || continue
		tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF -- "$flag" || continue
		tr '\0' '\n' <"$p/cmdline" 2>/dev/null | head -n 1 | grep -q 'kube-apiserver$' && return 0
	done
	return 1
}

i=0
until running && kubectl --kubeconfig {{.AdminConf}} --server "$server" get --raw /readyz >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt {{.Tries}} ] || { echo "hagen-apiserver-etcd-servers: no ready apiserver with $flag after {{.Tries}} s: see crictl ps -a --name kube-apiserver" >&2; exit 1; }
	sleep 1
done
echo "the apiserver runs with $flag and is ready"
`))

var tokenTmpl = template.Must(template.New("hagen-bootstrap-token").Parse(`#!/bin/sh
# Generated by hagen: make the bundle's bootstrap token (in {{.Config}})
# valid for joins again. kubeadm init creates it for {{.TTL}}; a host that joins
# cluster {{.Cluster}} later needs it again. Nothing changes while it has more
# than an hour to live.
set -eu

token=$(grep -oE '[a-z0-9]{6}\.[a-z0-9]{16}' {{.Config}} | head -n 1)
[ -n "$token" ] || { echo "hagen-bootstrap-token: no bootstrap token in {{.Config}}" >&2; exit 1; }
id=${token%%.*}
kubectl="kubectl --kubeconfig {{.AdminConf}}"

if $kubectl -n kube-system get secret "bootstrap-token-$id" >/dev/null 2>&1; then
	expiration=$($kubectl -n kube-system get secret "bootstrap-token-$id" -o jsonpath='{.data.expiration}' | base64 -d)
	if [ -z "$expiration" ]; then
		echo "bootstrap token $id never expires"
		exit 0
	fi
	if [ "$(date -u -d "$expiration" +%s)" -gt "$(($(date -u +%s) + 3600))" ]; then
		echo "bootstrap token $id is valid until $expiration"
		exit 0
	fi
	kubeadm token delete --kubeconfig {{.AdminConf}} "$id" >/dev/null
fi
kubeadm token create --kubeconfig {{.AdminConf}} "$token" --ttl {{.TTL}} \
	--description "hagen: joins of cluster {{.Cluster}}" >/dev/null
echo "changed: bootstrap token $id is valid for {{.TTL}}"
`))
