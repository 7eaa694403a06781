# sigv4-sidecar developer targets. `make test` is the one command CI runs (.ci/run):
# it installs what it needs (Go modules, MinIO, versitygw, helm, the JavaScript SDK) into $(TOOLS_BIN),
# and Debian's awscli and rclone with apt-get.
SHELL     := /bin/bash
GO        ?= go
TOOLS_BIN ?= $(HOME)/.cache/sigv4-sidecar/bin
export TOOLS_BIN

.PHONY: test lint cross unit unit-tools e2e charts release-check bench bench-signer bench-proxy fuzz build release image

test: lint cross unit e2e charts release-check

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Every platform a release ships for. `cross` compiles each (go build) and type-checks each with its test
# files (go vet), so a call that exists on one OS only cannot break another silently; tests themselves run
# only on the machine's own platform (`unit`). The e2e suite (Linux only: it uses Pdeathsig and /proc) is
# vetted for linux.
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
cross:
	@echo "cross: go build and go vet (with tests) of ./... for $(PLATFORMS); 10 to 25 s a platform on 2 cores once cached"
	@set -e; for p in $(PLATFORMS); do \
	  start=$$(date +%s); tags=; if [ $${p%/*} = linux ]; then tags=e2e; fi; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build ./...; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet -tags "$$tags" ./...; \
	  echo "cross $$p: ok in $$(( $$(date +%s) - start ))s"; \
	done

# What the unit tests run besides Go: zsh, to parse the completion script `completion zsh` prints.
unit-tools:
	@command -v zsh >/dev/null || { echo "unit: installing zsh with apt-get (about 30 s), to parse the zsh completion script"; \
	  apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq zsh >/dev/null 2>&1; }

# Unit and integration tests of the main module, under the race detector; then the allocation budget
# that is built only without it (the race detector adds allocations of its own).
unit: unit-tools
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

# A release: `make build`'s binary for every platform in $(PLATFORMS), built side by side, then a CycloneDX SBOM
# of the module (cyclonedx-gomod, pinned in tools/go.mod: its dependencies stay out of the main module; its `mod`
# mode, since `app` fails outright where it cannot read the version from git, as in a git worktree) and
# SHA256SUMS over all of it, in $(DIST). docs/releasing.md says how a version is tagged and published.
DIST         ?= dist
RELEASE_JOBS ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
SHA256       ?= $(shell command -v sha256sum >/dev/null 2>&1 && echo sha256sum || echo shasum -a 256)
release:
	@echo "release $(VERSION): $(words $(PLATFORMS)) binaries, SBOM and SHA256SUMS into $(DIST)/ ($(RELEASE_JOBS) builds at a time; about a minute on 2 cores once the module cache is warm)"
	@mkdir -p $(DIST)
	@rm -f $(DIST)/SHA256SUMS $(DIST)/sigv4-sidecar-$(VERSION)-*
	@printf '%s\n' $(PLATFORMS) | xargs -P $(RELEASE_JOBS) -I{} sh -c 'set -e; p={}; os=$${p%/*}; arch=$${p#*/}; ext=; \
	  if [ $$os = windows ]; then ext=.exe; fi; \
	  GOOS=$$os GOARCH=$$arch $(MAKE) --no-print-directory build VERSION=$(VERSION) BUILD_OUT=$(DIST)/sigv4-sidecar-$(VERSION)-$$os-$$arch$$ext'
	cd tools && $(GO) tool cyclonedx-gomod mod -json -output $(abspath $(DIST))/sigv4-sidecar-$(VERSION).cdx.json ..
	cd $(DIST) && $(SHA256) sigv4-sidecar-$(VERSION)-* sigv4-sidecar-$(VERSION).cdx.json > SHA256SUMS
	@echo "release $(VERSION): done"; ls -l $(DIST)

# The test of `make release`: runs it into a temporary directory and checks each binary's format and
# architecture, that the linux ones are static, SHA256SUMS and the SBOM. In the tools module, beside the SBOM tool.
release-check:
	@echo "release-check: make release into a temporary directory, then check its files (1 to 2 minutes on 2 cores)"
	cd tools && $(GO) vet ./... && $(GO) test -count=1 -timeout 30m ./...

# The multi-architecture image (linux/amd64, linux/arm64) from the Dockerfile, which cross-compiles with
# `make build` on the build machine's platform. Needs a Docker engine with buildx; IMAGE_FLAGS=--push publishes
# (a multi-platform image cannot be --load'ed into the classic image store). The tag is the version without
# its v, as the chart's appVersion names it: git tag v1.2.3 -> image 1.2.3.
IMAGE       ?= ghcr.io/sigv4-sidecar/sigv4-sidecar
IMAGE_TAG   ?= $(patsubst v%,%,$(VERSION))
IMAGE_FLAGS ?=
image:
	docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=$(VERSION) \
	  -t $(IMAGE):$(IMAGE_TAG) $(IMAGE_FLAGS) .

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
