// Package conformance feeds every artifact hagen renders to the program
// that consumes it, for every example in examples/ and for generated
// variations of the stacked example (static-pod etcd, keepalived unicast,
// HAProxy, IPv6, ECDSA keys, Kubernetes 1.30 (kubeadm v1beta3) and
// 1.34/1.35 (v1beta4), etcd 3.4, dedicated etcd hosts).
//
// Run it with `make conformance`: it needs HAGEN_TOOLS_BIN (kubeadm-1.35,
// kubeadm-1.30, etcd-3.6, etcdctl-3.6 built by `make tools`) and the
// Debian packages keepalived, haproxy, shellcheck, systemd, openssl, etcd
// (3.4), ansible-core and util-linux, and Go (for kubeadm 1.10's sources), and it runs as root (mount namespaces, keepalived's
// script security). Without HAGEN_TOOLS_BIN every test skips; with it, a
// missing tool is a failure, never a skip.
//
// What each check proves:
//
//   - TestKubeadmConfigValidate: `kubeadm config validate` (kubeadm 1.35 for
//     v1beta4, 1.30 for v1beta3) accepts every host's kubeadm.yaml: kubeadm's
//     strict decoder finds no unknown or misplaced field and its validation
//     passes, in the apiVersion the plan selects.
//   - TestKubeadmV1Alpha1Keys: the kubeadm 1.10 configurations
//     (MasterConfiguration, NodeConfiguration) use only json names, with the
//     right JSON shapes, that kubeadm 1.10's own Go types declare (parsed
//     from k8s.io/kubernetes@v1.10.13 in the module cache).
//   - TestKubeadmCertPhase: `kubeadm init phase certs all` on each
//     control-plane host's pki reuses every CA, key and certificate hagen
//     placed, byte for byte; with `etcd.local` it also loads and
//     chain-checks the etcd member certificates. Because kubeadm's init
//     phase does not check the SANs of certificates it finds, kubeadm then
//     issues its own etcd leaves from our CAs and each of ours must cover
//     them: CN, O, every SAN (kubeadm's VerifyHostname rule, as `kubeadm
//     join --control-plane` applies it) and usage. Dedicated etcd hosts get
//     the same treatment.
//   - TestKeepalived: `keepalived -t` accepts every keepalived.conf, with the
//     bundle's check script (root-owned, 0755: keepalived's script security
//     passes) and the interface mapped to one that exists here. The peers
//     of one VIP agree on virtual_router_id, VIP and password; exactly one
//     MASTER with the highest priority; distinct priorities; a failing
//     health check drops any peer below every healthy one; unicast peers
//     list each other.
//   - TestHAProxy: `haproxy -c` accepts every haproxy.cfg without warnings;
//     it health-checks exactly the control-plane apiservers and listens on
//     the port of the controlPlaneEndpoint.
//   - TestShellcheck: shellcheck finds nothing in any script of the bundle
//     (check_apiserver.sh, hagen-repoint-kubelet, cluster/*.sh); scripts
//     have a shebang and mode 0755.
//   - TestSystemdUnits: `systemd-analyze verify` accepts etcd.service without
//     a complaint (its ExecStart made to exist in a private mount namespace),
//     and the kubelet drop-in, linked as the RUNBOOK links it next to
//     kubeadm's packaged kubelet.service and 10-kubeadm.conf, verifies and
//     wins: the kubelet's effective ExecStart is the drop-in's.
//   - TestStaticPods: every etcd static pod decodes strictly into a v1 Pod;
//     host network; every mount is a hostPath at its own path (so the flags
//     name the bundle's files); the data dir and certs are mounted; probes
//     are plain HTTP on a metrics listener etcd really opens; the image is
//     the spec's etcd version.
//   - TestCertificates: openssl verifies every certificate against its CA
//     (-x509_strict, and -purpose sslserver/sslclient as its role needs) and
//     finds it unexpired; every key matches its certificate (the
//     service-account key its public half); member certs carry CN = host name and the table's SANs; each
//     role holds exactly its files (no etcd CA key anywhere, no cluster CA
//     key off the control plane); shared files are byte-identical across
//     hosts, leaves never; keys 0600, certificates 0644.
//   - TestEtcdLive: a three-member loopback cluster (127.0.2x.1-3), for etcd
//     3.4 and 3.6 and for run "systemd" and "static-pod", each member
//     started exactly as its service manager would (the unit's ExecStart and
//     EnvironmentFile, or the Pod's command, args and env) in a private
//     mount namespace where /etc/kubernetes is the host's bundle tree,
//     read-only. Over mutual TLS with the bundle's healthcheck-client
//     certificate: all endpoints healthy, the member list complete, a write
//     on one member read on another, every member's own client cert works,
//     a client cert from another CA is refused, no member warns about an
//     unrecognized or deprecated setting, and after one member is killed
//     (SIGKILL to its process group) the others still accept writes.
//   - TestAnsible, TestAnsibleCopy: the bundle's Ansible transport passes
//     `ansible-playbook --syntax-check`; its copy step, run locally with each
//     host under a temporary root, lays exactly the bundle's host files, byte
//     for byte, with the MANIFEST's modes.
//   - TestBroken*: each check above, run on an artifact broken on purpose
//     (an etcd server cert re-issued without the member's address, a
//     misspelled keepalived or HAProxy keyword, an unknown kubeadm field, a
//     v1beta key in v1alpha1, an unquoted shell expansion, an unknown unit
//     key, a drop-in that does not reset ExecStart, a misindented Pod
//     field, an HTTPS probe, a wrong CA, a swapped key, an expired or
//     client-only cert, two MASTERs, ...), reports a failure. The same
//     helpers serve the positive and the negative tests.
//
// Every process the suite starts is bounded by a timeout and stopped by
// its PID (its process group) in t.Cleanup, also on failure; mounts live in
// private mount namespaces and vanish with their process; nothing is
// written outside temporary directories.
package conformance
