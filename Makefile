# meshfed developer targets. `make test` is what CI runs.
GO        ?= go
PROTOC    ?= protoc
GOBIN     ?= $(shell $(GO) env GOPATH)/bin
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
STATICCHECK_VERSION        := v0.8.2
TEST_FLAGS ?=

.PHONY: all build test test-kube prebuild test-short bench lint proto proto-tools fuzz clean deploy

all: build

# build: the meshfed binary and the provider plugins (keep them in one
# directory: meshfed looks for plugins next to itself by default).
build:
	$(GO) build -o bin/ ./cmd/meshfed ./cmd/meshfed-gateway ./cmd/meshfed-provider-aws ./cmd/meshfed-provider-gcp ./cmd/meshfed-provider-azure

# test runs every Go test with the race detector, including the HA suite
# (real 3-member etcd cluster) and the Kubernetes tests (real
# kube-apiservers). Their binaries are built once, before the tests so no
# test timeout covers a cold build, and cached by version.
test: prebuild
	$(GO) test -race -count=1 -timeout 20m $(TEST_FLAGS) ./...

prebuild:
	$(GO) run ./test/kubetest/prebuild
	$(GO) run ./test/terraform/prebuild
	$(GO) build -o /dev/null ./cmd/meshfed

# test-kube runs only the suites against real kube-apiservers: the harness,
# the MCS agent scenarios, meshfed install and the Helm chart.
test-kube: prebuild
	$(GO) test -race -count=1 -timeout 20m $(TEST_FLAGS) ./test/kubetest/ ./test/mcs/ ./test/install/ ./deploy/...

# deploy regenerates the plain manifests and the Helm chart from package
# deploy (a test fails while they are out of date).
deploy:
	$(GO) generate ./deploy

test-short:
	$(GO) test -race -short ./...

bench:
	$(GO) run ./test/bench/propagation -out docs/benchmarks.md
	$(GO) run ./test/bench/gateway -out docs/benchmarks.md
	$(GO) run ./test/bench/failover -out docs/benchmarks.md

fuzz:
	./test/fuzz.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

proto-tools:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@command -v $(PROTOC) >/dev/null || (apt-get update -qq && apt-get install -y -qq protobuf-compiler)

proto: proto-tools
	PATH=$(GOBIN):$$PATH $(PROTOC) -I proto \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/meshfed/v1/*.proto
	PATH=$(GOBIN):$$PATH $(PROTOC) -I proto \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/providers/v1/*.proto

clean:
	rm -rf bin
