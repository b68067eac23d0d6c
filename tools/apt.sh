#!/usr/bin/env bash
# Install the Debian packages the hagen conformance suite needs, if missing.
#
# Idempotent: if every package is already installed (per `dpkg -s`) this
# script does nothing and does not touch the network.
#
# Services are never left running: a temporary /usr/sbin/policy-rc.d that
# denies service starts is installed for the duration of apt-get (unless one
# already exists), and any etcd/keepalived/haproxy process that a postinst
# started anyway is stopped afterwards.
#
# Usage: tools/apt.sh            (must run as root, or via sudo)
set -euo pipefail

PACKAGES=(
	etcd-server
	etcd-client
	keepalived
	haproxy
	shellcheck
	systemd
	openssl
	ansible-core
	# The transports' own checkers: ansible-lint (production profile) and
	# cloud-init's schema validation.
	ansible-lint
	cloud-init
	hyperfine
	# The lab's hosts: what a node has (curl for keepalived's check script,
	# iptables and conntrack for kube-proxy, iproute2 and util-linux for
	# the namespaces and kubeadm's preflight).
	curl
	iptables
	conntrack
	iproute2
	util-linux
	procps
	# Hosts the playbook reaches over SSH (the lab's Ansible transport):
	# sshd on each host, the client on the operator's workstation.
	openssh-server
	openssh-client
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg -s "$p" >/dev/null 2>&1; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "apt.sh: all packages present: ${PACKAGES[*]}"
	exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	SUDO=(sudo)
fi

echo "apt.sh: installing: ${missing[*]}"

# Deny service starts during installation (exit 101 = "action forbidden").
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
	"${SUDO[@]}" chmod 0755 "$policy"
	created_policy=1
fi
cleanup() {
	if [ "$created_policy" -eq 1 ]; then
		"${SUDO[@]}" rm -f "$policy"
	fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing[@]}"

# Belt and braces: stop anything a postinst may have started regardless.
pid1="$(ps -p 1 -o comm= 2>/dev/null || true)"
for svc in etcd keepalived haproxy ssh; do
	if [ "$pid1" = "systemd" ]; then
		"${SUDO[@]}" systemctl stop "$svc" >/dev/null 2>&1 || true
		"${SUDO[@]}" systemctl disable "$svc" >/dev/null 2>&1 || true
	else
		# Not under systemd: look for a daemon running the packaged binary
		# and stop it by pid (never by broad name matching).
		bin="$svc"
		[ "$svc" = ssh ] && bin=sshd
		for pid in $(pidof "$bin" 2>/dev/null || true); do
			exe="$(readlink -f "/proc/$pid/exe" 2>/dev/null || true)"
			case "$exe" in
			/usr/bin/"$bin" | /usr/sbin/"$bin")
				echo "apt.sh: stopping $bin (pid $pid) started by postinst"
				"${SUDO[@]}" kill "$pid" 2>/dev/null || true
				;;
			esac
		done
	fi
done

still_missing=()
for p in "${PACKAGES[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || still_missing+=("$p")
done
if [ "${#still_missing[@]}" -ne 0 ]; then
	echo "apt.sh: failed to install: ${still_missing[*]}" >&2
	exit 1
fi
echo "apt.sh: done"
