# sigv4-sidecar developer targets. `make test` is the one command CI runs (.ci/run):
# it installs what it needs (Go modules, MinIO, versitygw, helm, the JavaScript SDK) into $(TOOLS_BIN),
# and Debian's awscli and rclone with apt-get.
SHELL     := /bin/bash
GO        ?= go
TOOLS_BIN ?= $(HOME)/.cache/sigv4-sidecar/bin
export TOOLS_BIN

.PHONY: test lint unit e2e charts bench bench-signer bench-proxy fuzz build

test: lint unit e2e charts

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Unit and integration tests of the main module, under the race detector; then the allocation budget
# that is built only without it (the race detector adds allocations of its own).
unit:
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -count=1 -run '^TestSignAllocations$$' ./signer/

# End-to-end suite: real SigV4-verifying servers (MinIO, versitygw; installed into $(TOOLS_BIN) when
# missing), real S3 clients (awscli and rclone from apt-get, @aws-sdk/client-s3 from npm ci, installed while
# the servers build) and the built binary. -v so the 1 GiB transfers' peak RSS lines reach the log.
e2e:
	$(GO) test -v -count=1 -tags e2e -timeout 60m ./cmd/sigv4-sidecar/e2e/

# Helm chart and Kubernetes manifests, in their own module so the main module carries no k8s deps.
# -mod=mod: the chart tests import ./sidecar through a replace, so when the main module gains a dependency
# their go.sum catches up instead of failing.
charts:
	@if [ -f charts/chartstest/go.mod ]; then cd charts/chartstest && $(GO) vet -mod=mod ./... && $(GO) test -mod=mod -count=1 -timeout 20m ./...; fi

# The release binary, exactly as the Dockerfile builds it: static (no cgo, runs on distroless/scratch),
# no local paths, stripped, version stamped. GOOS/GOARCH from the environment cross-compile.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_OUT ?= bin/sigv4-sidecar
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BUILD_OUT) ./cmd/sigv4-sidecar

bench: bench-signer bench-proxy

bench-signer:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./signer/

# Load test of the binary against a minimal upstream, next to the same load sent straight to it: fixed
# rates evenly spaced (the suite's own pacer) and in hey's bursts (apt-get installed when missing), and
# saturation; prints the Markdown tables of BENCHMARKS.md "## Proxy" and the verdict on each target.
BENCH_TIME ?= 5s
bench-proxy:
	$(GO) test -v -count=1 -tags e2e -run '^$$' -timeout 30m ./cmd/sigv4-sidecar/e2e/ -args -proxy-bench -bench-time $(BENCH_TIME)

FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done
