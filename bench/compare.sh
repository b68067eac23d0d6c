#!/usr/bin/env bash
# Whole-process comparison for `make bench`: hagen against kubeadm's own
# certificate phase and the seed guide's cfssl route, on this machine, in
# one run. Prints a markdown table with each target of issue 7.
#
# Needs hyperfine (tools/apt.sh) and kubeadm-1.35, cfssl, cfssljson
# (tools/build.sh) in HAGEN_TOOLS_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${HAGEN_TOOLS_BIN:-$PWD/.tools/bin}"
RUNS="${BENCH_RUNS:-10}"
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT

go build -o "$W/hagen" ./cmd/hagen
H="$W/hagen"
KUBEADM="$BIN/kubeadm-1.35"

# Specs: the stacked example (3 masters + 3 workers) in RSA-2048 and
# ECDSA-P256; 3 masters + 500 and + 5,000 workers.
cp examples/stacked-keepalived.cue "$W/rsa.cue"
sed 's/^etcd: {/pki: keyAlgorithm: "ECDSA-P256"\netcd: {/' "$W/rsa.cue" >"$W/ec.cue"
for n in 500 5000; do
	"$H" init --masters 3 --workers "$n" | sed 's/keyAlgorithm: "RSA-2048"/keyAlgorithm: "ECDSA-P256"/' >"$W/w$n.cue"
	# The same cluster with one worker moved: a re-render that changes a file.
	sed "s/\(worker$((n - 1)): {address: \"[0-9.]*\)\"/\1\" \/\/ moved/; s/worker$((n - 1)): {address: \"10\.0\.\([0-9]*\)\.\([0-9]*\)\"/worker$((n - 1)): {address: \"10.0.\1.\2\"/" "$W/w$n.cue" >/dev/null
	sed "s/\"10\.0\.2\.1\"/\"10.0.99.1\"/" "$W/w$n.cue" >"$W/w$n-moved.cue"
done

# kubeadm: one control plane issues the CAs and its certs; the next two
# reuse the CAs (as kubeadm join does) and issue their own.
kubeadm_cfg() { # dir name address alg
	cat >"$1/kubeadm.yaml" <<CFG
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: $3, bindPort: 6443}
nodeRegistration: {name: $2}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.35.0
controlPlaneEndpoint: 10.0.0.100:6443
certificatesDir: $1/pki
encryptionAlgorithm: $4
etcd: {local: {dataDir: /var/lib/etcd}}
CFG
}
cat >"$W/kubeadm3.sh" <<SCRIPT
set -e
rm -rf $W/k && mkdir -p $W/k/cp0 $W/k/cp1 $W/k/cp2
$(declare -f kubeadm_cfg)
kubeadm_cfg $W/k/cp0 cp0 10.0.0.10 \$1
$KUBEADM init phase certs all --config $W/k/cp0/kubeadm.yaml >/dev/null
for i in 1 2; do
	mkdir -p $W/k/cp\$i/pki/etcd
	for f in ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key; do cp $W/k/cp0/pki/\$f $W/k/cp\$i/pki/\$f; done
	kubeadm_cfg $W/k/cp\$i cp\$i 10.0.0.1\$i \$1
	$KUBEADM init phase certs all --config $W/k/cp\$i/kubeadm.yaml >/dev/null
done
SCRIPT
cat >"$W/kubeadm1.sh" <<SCRIPT
set -e
rm -rf $W/k1 && mkdir -p $W/k1
$(declare -f kubeadm_cfg)
kubeadm_cfg $W/k1 cp0 10.0.0.10 \$1
$KUBEADM init phase certs all --config $W/k1/kubeadm.yaml >/dev/null
SCRIPT

# The seed guide's cfssl route for the etcd certificates of three hosts:
# a CA, a client cert, and per host a server and a peer cert.
cat >"$W/cfssl.sh" <<SCRIPT
set -e
rm -rf $W/c && mkdir -p $W/c && cd $W/c
cat >ca-config.json <<'J'
{"signing":{"default":{"expiry":"43800h"},"profiles":{
 "server":{"expiry":"43800h","usages":["signing","key encipherment","server auth","client auth"]},
 "client":{"expiry":"43800h","usages":["signing","key encipherment","client auth"]},
 "peer":{"expiry":"43800h","usages":["signing","key encipherment","server auth","client auth"]}}}}
J
echo '{"CN":"etcd","key":{"algo":"rsa","size":2048}}' >ca-csr.json
echo '{"CN":"client","key":{"algo":"ecdsa","size":256}}' >client.json
$BIN/cfssl gencert -initca ca-csr.json 2>/dev/null | $BIN/cfssljson -bare ca -
$BIN/cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=client client.json 2>/dev/null | $BIN/cfssljson -bare client
for i in 0 1 2; do
	echo "{\"CN\":\"etcd\$i\",\"hosts\":[\"etcd\$i\",\"10.0.0.1\$i\"],\"key\":{\"algo\":\"ecdsa\",\"size\":256}}" >config.json
	$BIN/cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=server config.json 2>/dev/null | $BIN/cfssljson -bare server\$i
	$BIN/cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=peer config.json 2>/dev/null | $BIN/cfssljson -bare peer\$i
done
SCRIPT

fresh() { echo "rm -rf $W/o-$1 $W/.o-$1.hagen-spare $W/$1.secrets.yaml $W/$1.secrets.yaml.lock"; }
render() { echo "$H render $W/$1.cue -o $W/o-$1 --secrets $W/$1.secrets.yaml"; }

# One hyperfine run per measurement, CSV out: name,mean,stddev,median,...
measure() { # label runs prepare command
	local label="$1" runs="$2" prep="$3" cmd="$4"
	hyperfine -N --style none --warmup 1 --runs "$runs" ${prep:+--prepare "$prep"} --export-csv "$W/m.csv" "$cmd" >/dev/null 2>&1 ||
		hyperfine --style none --warmup 1 --runs "$runs" ${prep:+--prepare "$prep"} --export-csv "$W/m.csv" "$cmd" >/dev/null
	# median, in milliseconds
	awk -F, -v l="$label" 'NR==2 {printf "%s %.1f\n", l, $4*1000}' "$W/m.csv" >>"$W/results"
}
: >"$W/results"
measure hagen_rsa_first "$RUNS" "$(fresh rsa)" "$(render rsa)"
measure hagen_ec_first "$((RUNS * 3))" "$(fresh ec)" "$(render ec)"
measure hagen_rsa_rerender "$((RUNS * 3))" "" "$(render rsa)"
measure hagen_ec_rerender "$((RUNS * 3))" "" "$(render ec)"
measure kubeadm3_rsa "$RUNS" "" "bash $W/kubeadm3.sh RSA-2048"
measure kubeadm1_rsa "$RUNS" "" "bash $W/kubeadm1.sh RSA-2048"
measure kubeadm1_ec "$((RUNS * 2))" "" "bash $W/kubeadm1.sh ECDSA-P256"
measure cfssl_etcd3 "$RUNS" "" "bash $W/cfssl.sh"
measure hagen_vet_500 "$RUNS" "" "$H vet $W/w500.cue"
measure hagen_vet_5000 "$RUNS" "" "$H vet $W/w5000.cue"
# 5,000 workers, secrets present: the first render creates them once.
$H render "$W/w5000.cue" -o "$W/o-w5000" --secrets "$W/w5000.secrets.yaml"
$H render "$W/w500.cue" -o "$W/o-w500" --secrets "$W/w500.secrets.yaml"
measure hagen_5000_rerender "$RUNS" "" "$(render w5000)"
measure hagen_500_rerender "$RUNS" "" "$(render w500)"
# A change on every run: alternate between the spec and the moved one.
cat >"$W/alt.sh" <<SCRIPT
if [ -e $W/flip ]; then rm $W/flip; s=w5000; else touch $W/flip; s=w5000-moved; fi
exec $H render $W/\$s.cue -o $W/o-w5000 --secrets $W/w5000.secrets.yaml
SCRIPT
measure hagen_5000_changed "$RUNS" "" "bash $W/alt.sh"
peak=$( { /usr/bin/time -f %M bash "$W/alt.sh" >/dev/null; } 2>&1 | tail -1)

r() { awk -v k="$1" '$1==k {print $2}' "$W/results"; }
row() { printf '| %s | %s ms | %s | %s |\n' "$1" "$2" "$3" "$4"; }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "met" : "NOT met" }'; }
half=$(awk -v k="$(r kubeadm3_rsa)" 'BEGIN {printf "%.1f", k/2}')
lin=$(awk -v a="$(r hagen_vet_5000)" -v b="$(r hagen_vet_500)" 'BEGIN {printf "%.1f", a/b}')

echo
echo "hagen benchmarks on $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(date -u +%F); medians of hyperfine runs"
echo
echo "| measurement | median | target | verdict |"
echo "|---|---|---|---|"
row "kubeadm init phase certs all, 3 control planes, RSA-2048" "$(r kubeadm3_rsa)" "reference" ""
row "kubeadm init phase certs all, 1 control plane, RSA-2048" "$(r kubeadm1_rsa)" "reference" ""
row "kubeadm init phase certs all, 1 control plane, ECDSA-P256" "$(r kubeadm1_ec)" "reference" ""
row "seed guide's cfssl route, etcd certs of 3 hosts" "$(r cfssl_etcd3)" "reference" ""
row "hagen first render 3+3, RSA-2048 (all certs, etcd too)" "$(r hagen_rsa_first)" "<= $half ms (half of kubeadm x3)" "$(verdict "$(r hagen_rsa_first)" "$half")"
row "hagen first render 3+3, ECDSA-P256" "$(r hagen_ec_first)" "< 40 ms" "$(verdict "$(r hagen_ec_first)" 40)"
row "hagen re-render 3+3, RSA-2048, unchanged" "$(r hagen_rsa_rerender)" "< 25 ms" "$(verdict "$(r hagen_rsa_rerender)" 25)"
row "hagen re-render 3+3, ECDSA-P256, unchanged" "$(r hagen_ec_rerender)" "< 25 ms" "$(verdict "$(r hagen_ec_rerender)" 25)"
row "hagen re-render 3+5,000, unchanged" "$(r hagen_5000_rerender)" "< 1500 ms" "$(verdict "$(r hagen_5000_rerender)" 1500)"
row "hagen re-render 3+5,000, one worker moved" "$(r hagen_5000_changed)" "< 1500 ms" "$(verdict "$(r hagen_5000_changed)" 1500)"
row "hagen re-render 3+500, unchanged" "$(r hagen_500_rerender)" "" ""
row "hagen vet 3+500 / 3+5,000" "$(r hagen_vet_500) / $(r hagen_vet_5000)" "5,000 vs 500 within 12x" "$lin x: $(verdict "$lin" 12)"
printf '| peak memory, re-render 3+5,000 | %s MiB | < 300 MiB | %s |\n' "$((peak / 1024))" "$(verdict "$((peak / 1024))" 300)"
