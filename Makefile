# hagen: the two commands a newcomer runs are `make run` and `make test`.
GO       ?= go
BIN      ?= bin/hagen
TOOLS    ?= $(CURDIR)/.tools/bin
EXAMPLE  ?= examples/stacked-keepalived.cue
OUT      ?= out

.PHONY: build run test unit long vet conformance tools lab-tools lab bench check-imports fuzz clean

build:
	$(GO) build -o $(BIN) ./cmd/hagen

# Render the bundled example into out/ (secrets.yaml is created beside it).
run:
	$(GO) run ./cmd/hagen render $(EXAMPLE) -o $(OUT) --secrets $(OUT).secrets.yaml

# Everything CI runs: static checks, unit and golden tests, and the
# conformance suite against the real tools.
test: vet check-imports unit long fuzz conformance lab

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test ./...

# Tests of a minute or more, kept out of a plain `go test ./...`: 20
# renders of a 5,000-host cluster killed at random moments.
long:
	HAGEN_LONG_TESTS=1 $(GO) test -count=1 -run 'TestKilledRenders' ./cmd/hagen/cli/

# Install the Debian packages and build kubeadm/etcd from the module proxy
# (cached in .tools/bin), then feed every artifact to the program that
# consumes it.
tools:
	tools/apt.sh
	HAGEN_TOOLS_BIN=$(TOOLS) tools/build.sh

conformance: tools
	HAGEN_TOOLS_BIN=$(TOOLS) $(GO) test -count=1 -timeout 50m ./conformance/

# The lab: the examples a lab can host brought up as HA control planes in
# namespaces, checked, drilled and re-applied, then bundles broken on
# purpose (needs root; docs/LAB.md). It builds the control plane and
# kubectl of the examples' Kubernetes version too.
lab-tools: tools
	HAGEN_TOOLS_BIN=$(TOOLS) tools/build.sh lab

lab: lab-tools
	HAGEN_LAB=1 HAGEN_TOOLS_BIN=$(TOOLS) $(GO) test -count=1 -timeout 90m -v ./lab/e2e/

# Go benchmarks, then the whole-process comparison with kubeadm and the
# seed guide's cfssl route (a markdown table on stdout).
bench: tools
	$(GO) test -run XXX -bench . -benchmem -benchtime 3x ./compiler/ ./pki/ ./render/
	HAGEN_TOOLS_BIN=$(TOOLS) bench/compare.sh

# render must never import CUE, the compiler never cfssl, hagen nothing of
# the lab's (client-go, etcd's client, the lab's packages), and nothing of
# hagen's imports the lab.
check-imports:
	@! $(GO) list -deps ./render/... | grep -q '^cuelang.org/' || { echo "render imports CUE"; exit 1; }
	@! $(GO) list -deps ./compiler/... | grep -q '^github.com/cloudflare/cfssl' || { echo "compiler imports cfssl"; exit 1; }
	@! $(GO) list -deps ./cmd/hagen | grep -qE '^(k8s.io/client-go|go.etcd.io/etcd/client|google.golang.org/grpc|github.com/hagen/hagen/lab)(/|$$)' || { echo "hagen links the lab's dependencies"; exit 1; }
	@! $(GO) list -deps ./cmd/hagen/... ./compiler/... ./pki/... ./render/... ./inspect/... ./schema/... | grep -q '^github.com/hagen/hagen/lab' || { echo "hagen imports the lab"; exit 1; }

# Fuzz spec loading (CUE and YAML) and secrets parsing, bounded: no input
# may panic or fail other than as a clean user error. The budgets count
# executions (about 15 s each here) rather than seconds: a -fuzztime
# duration races Go 1.26's fuzz coordinator at its deadline and fails with
# "context deadline exceeded" and no crasher (go.dev/issue/75804, fixed
# in Go 1.27).
FUZZ_TIMEOUT ?= 5m
fuzz:
	$(GO) test -run XXX -timeout $(FUZZ_TIMEOUT) -fuzz '^FuzzCompileCUE$$' -fuzztime 20000x ./compiler/
	$(GO) test -run XXX -timeout $(FUZZ_TIMEOUT) -fuzz '^FuzzCompileYAML$$' -fuzztime 30000x ./compiler/
	$(GO) test -run XXX -timeout $(FUZZ_TIMEOUT) -fuzz '^FuzzParseSecrets$$' -fuzztime 40000x ./pki/

clean:
	rm -rf bin $(OUT) $(OUT).secrets.yaml $(OUT).secrets.yaml.lock
