# sigv4-sidecar developer targets. `make test` is the one command CI runs (.ci/run):
# it installs what it needs (Go modules, MinIO, versitygw, helm, the JavaScript SDK) into $(TOOLS_BIN),
# and Debian's awscli and rclone with apt-get.
SHELL     := /bin/bash
GO        ?= go
TOOLS_BIN ?= $(HOME)/.cache/sigv4-sidecar/bin
export TOOLS_BIN

# One set of build flags for every step but the race-built unit tests: the release's (no cgo, no local
# paths). A package compiled once (by lint, cross, the e2e suite's build, make build, make release) is then
# found in the build cache by all the others; with mixed flags each compiled everything again. -race needs
# cgo: `unit` sets CGO_ENABLED=1 for that run only.
export CGO_ENABLED ?= 0
export GOFLAGS     ?= -trimpath

.PHONY: test tools tools-modules tools-e2e tools-helm tools-compile tools-wait tools-wait-e2e lint cross unit unit-tools e2e charts release-check bench bench-signer bench-proxy fuzz build release image

# `make test` starts the slow installs (module downloads; MinIO, versitygw and helm builds; apt-get and npm;
# the SBOM tool) in the background, so their network waits and builds fill idle time; `e2e` waits for its own
# servers and clients (the critical path, so at normal priority: at a lower one, starved by the unit tests, a
# warm check that they are there took 2 minutes instead of 7 s), `charts` and `release-check` for the rest
# (helm and the chart tests' dependencies, at a lower priority), and their log is shown when they fail. After `lint`, two
# lanes run side by side, each output line prefixed with its lane: [e2e], the end-to-end suite, the longest
# step, and [checks]: cross, unit, charts and release-check one after the other, which take the CPU the e2e
# suite leaves idle (its servers and clients wait on each other). Not at a lower priority: starved, unit
# tests with short server timeouts failed. Each lane stops at its first failure; `make test` fails if either does.
# The lanes run in the background, where a shell ignores Ctrl-C: an interrupt or a TERM stops them with a TERM.
# Under `make -n test` the parts are listed one after the other, and nothing is started.
DRY_RUN = $(findstring n,$(firstword -$(MAKEFLAGS)))
CHECKS  = cross unit charts release-check
test:
	@if [ -n "$(DRY_RUN)" ]; then echo "# in the background, output into a log:"; \
	  $(MAKE) --no-print-directory tools; echo "# meanwhile, first:"; $(MAKE) --no-print-directory lint; \
	  echo "# then side by side, lane [e2e]:"; $(MAKE) --no-print-directory e2e; \
	  echo "# and lane [checks]:"; $(MAKE) --no-print-directory $(CHECKS); exit; fi; \
	job=$$(mktemp -d "$${TMPDIR:-/tmp}/sigv4-sidecar-tools.XXXXXX"); start=$$(date +%s); \
	echo "test: installing in the background (module downloads, versitygw, MinIO, awscli/rclone, npm, helm, the SBOM tool; MinIO's build alone is about 4 min cold, nothing warm), log $$job/tools.log"; \
	( $(MAKE) --no-print-directory tools TOOLS_JOB="$$job" >"$$job/tools.log" 2>&1; echo $$? >"$$job/tools.rc" ) & \
	trap 'trap - INT TERM; echo "test: interrupted, stopping every step"; kill -TERM 0' INT TERM; \
	lane() { local name=$$1; shift; local began=$$(date +%s); \
	  ( set -o pipefail; "$$@" 2>&1 | sed -u "s/^/[$$name] /" ); local rc=$$?; \
	  echo "[$$name] lane $$( [ $$rc = 0 ] && echo passed || echo failed ) in $$(( $$(date +%s) - began ))s"; return $$rc; }; \
	$(MAKE) --no-print-directory lint; rc=$$?; \
	if [ $$rc = 0 ]; then \
	  echo "test: now side by side, each line prefixed with its lane: [e2e] the end-to-end suite (about 5 min warm on 2 cores); [checks] $(CHECKS), which usually end first"; \
	  lane e2e $(MAKE) --no-print-directory e2e TOOLS_JOB="$$job" & e2e=$$!; \
	  lane checks $(MAKE) --no-print-directory $(CHECKS) TOOLS_JOB="$$job" & checks=$$!; \
	  wait $$e2e || rc=1; wait $$checks || rc=1; \
	fi; \
	if [ ! -f "$$job/tools.rc" ]; then echo "test: waiting for the background installs to end (they fill the caches for the next run)"; fi; \
	wait; if [ $$rc = 0 ]; then echo "test: all passed in $$(( $$(date +%s) - start ))s"; rm -rf "$$job"; else echo "test: failed after $$(( $$(date +%s) - start ))s; background install log kept in $$job/tools.log"; fi; \
	exit $$rc

# Everything the tests install or download, in the order the steps need it; each step says what it does and
# how long it took. `make test` runs it in the background; alone it is a way to fill the caches.
tools: tools-modules tools-e2e tools-helm tools-compile

tools-modules:
	@start=$$(date +%s); echo "tools: go mod download of the main, chart-test and tools modules (about a minute cold, nothing warm)"; \
	$(GO) mod download && (cd charts/chartstest && $(GO) mod download) && (cd tools && $(GO) mod download) && \
	echo "tools: modules downloaded in $$(( $$(date +%s) - start ))s"

# The e2e suite's servers and clients, installed by its own code (its pins stay in one place). The timeout
# is e2e's: go test's default 10 minutes killed a MinIO build on a loaded machine.
# Within `make test` it also leaves its exit code in $(TOOLS_JOB)/e2e.rc (written whole, by a rename), so that
# the e2e suite starts as soon as its own part is ready instead of waiting for helm and the chart tests'
# dependencies too (about 5 minutes sooner cold).
tools-e2e:
	@start=$$(date +%s); echo "tools: e2e servers and clients: MinIO (about 4 min cold), versitygw (about a minute), awscli/rclone (apt-get) and @aws-sdk/client-s3 (npm), when missing"; \
	$(GO) test -count=1 -tags e2e -run '^$$' -timeout 60m ./cmd/sigv4-sidecar/e2e/ -args -install-only; rc=$$?; \
	if [ $$rc = 0 ]; then echo "tools: e2e servers and clients ready in $$(( $$(date +%s) - start ))s"; fi; \
	if [ -n "$(TOOLS_JOB)" ]; then echo $$rc >"$(TOOLS_JOB)/e2e.rc.new" && mv "$(TOOLS_JOB)/e2e.rc.new" "$(TOOLS_JOB)/e2e.rc"; fi; \
	exit $$rc

# helm at the version the chart tests pin (helmVersion in charts/chartstest/helm_test.go). With the chart
# tests' build flags: they pin the same Kubernetes modules as helm, so the packages both use compile once.
HELM_VERSION = $(shell sed -n 's/^const helmVersion = "\(v[0-9.]*\)"$$/\1/p' charts/chartstest/helm_test.go)
tools-helm:
	@if [ ! -x "$(TOOLS_BIN)/helm" ]; then start=$$(date +%s); \
	  echo "tools: go install helm $(HELM_VERSION) into $(TOOLS_BIN) (about 2 min cold)"; \
	  GOBIN="$(TOOLS_BIN)" nice -n 10 $(GO) install -ldflags='-s -w' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && \
	  echo "tools: helm installed in $$(( $$(date +%s) - start ))s"; fi

# Compiled ahead: the chart tests' Kubernetes dependencies and the release's SBOM tool.
tools-compile:
	@start=$$(date +%s); echo "tools: compiling the chart tests' Kubernetes dependencies and the SBOM tool (about 3 min cold, seconds warm)"; \
	(cd charts/chartstest && nice -n 10 $(GO) test -mod=mod -count=1 -run '^$$' ./... >/dev/null) && \
	(cd tools && nice -n 10 $(GO) tool -n cyclonedx-gomod >/dev/null) && \
	echo "tools: compiled in $$(( $$(date +%s) - start ))s"

# Within `make test`: wait for the background installs, showing their log as it grows; fail with it.
# $(call wait-installs,RC,WHAT) waits until $(TOOLS_JOB)/RC exists, or the whole install has ended (it stopped
# early on a failure), and fails unless RC says 0. tools.rc is written last, after every part's own RC file.
define wait-installs
@if [ -n "$(TOOLS_JOB)" ] && [ ! -f "$(TOOLS_JOB)/$(1)" ] && [ ! -f "$(TOOLS_JOB)/tools.rc" ]; then \
  echo "waiting for the background installs$(2); their log so far, then as it grows:"; \
  tail -n +1 -f "$(TOOLS_JOB)/tools.log" & tailpid=$$!; \
  while [ ! -f "$(TOOLS_JOB)/$(1)" ] && [ ! -f "$(TOOLS_JOB)/tools.rc" ]; do sleep 1; done; sleep 1; kill $$tailpid; \
fi
@if [ -n "$(TOOLS_JOB)" ]; then rc=$$(cat "$(TOOLS_JOB)/$(1)" 2>/dev/null || cat "$(TOOLS_JOB)/tools.rc"); \
  if [ "$$rc" != 0 ]; then echo "background installs failed; their log:"; cat "$(TOOLS_JOB)/tools.log"; exit 1; fi; fi
endef
tools-wait:
	$(call wait-installs,tools.rc,)
tools-wait-e2e:
	$(call wait-installs,e2e.rc, (the e2e servers and clients))

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	@echo "lint: go vet -tags e2e ./... (about a minute cold, seconds warm)"
	$(GO) vet -tags e2e ./...

# Every platform a release ships for (`make release` builds all of them).
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
# What `make test` compiles for: each OS once and one arm64. `cross` type-checks each with its test files
# (go vet, which compiles every dependency for that platform), so a call that exists on one OS only cannot
# break another silently; `release-check` then builds and links the release binary of each from the same
# compiled packages. Tests themselves run only on the machine's own platform (`unit`). The e2e suite (Linux
# only: it uses Pdeathsig and /proc) is vetted for linux; with the same tags as lint, so that linux/amd64's
# vet is lint's, from the cache (vet's results are cached per set of tags).
TEST_PLATFORMS ?= linux/amd64 darwin/arm64 windows/amd64
cross:
	@echo "cross: go vet (with tests) of ./... for $(TEST_PLATFORMS), one line before each (about 90 s a platform cold, seconds warm)"
	@set -e; for p in $(TEST_PLATFORMS); do \
	  start=$$(date +%s); tags=; if [ $${p%/*} = linux ]; then tags=e2e; fi; \
	  echo "cross $$p: go vet -tags '$$tags' ./..."; \
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
	@echo "unit: go test -race ./... (the race-built compile is about 2 min cold; the tests about 2 min of CPU, 3 to 6 min beside the e2e suite)"
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -count=1 -run '^TestSignAllocations$$' ./signer/

# End-to-end suite: real SigV4-verifying servers (MinIO, versitygw; installed into $(TOOLS_BIN) when
# missing), real S3 clients (awscli and rclone from apt-get, @aws-sdk/client-s3 from npm ci, installed while
# the servers build) and the built binary. -v so the 1 GiB transfers' peak RSS lines reach the log, and each
# test's === RUN line says which group runs.
# The servers' objects and the proxies' spooled bodies go under TMPDIR: a tmpfs (/dev/shm) when it is
# writable with 8 GiB free, so that the GiB transfers do not wait on the disk (TestLargeTransfer/minio: 29 s
# instead of 40 s here, the same CPU); otherwise TMPDIR as it is.
E2E_TMPDIR ?= $(shell d=/dev/shm; [ -d $$d ] && [ -w $$d ] && [ "$$(df -Pk $$d 2>/dev/null | awk 'NR==2{print $$4}')" -ge 8388608 ] 2>/dev/null && echo $$d)
e2e: tools-wait-e2e
	@echo "e2e: go test -v -tags e2e ./cmd/sigv4-sidecar/e2e/, temporary files in $(or $(E2E_TMPDIR),$${TMPDIR:-/tmp}) (compiling it: seconds; the suite: 4 to 6 min, about 6 min of CPU)"
	$(if $(E2E_TMPDIR),TMPDIR=$(E2E_TMPDIR) )$(GO) test -v -count=1 -tags e2e -timeout 60m ./cmd/sigv4-sidecar/e2e/

# Helm chart and Kubernetes manifests, in their own module so the main module carries no k8s deps.
# -mod=mod: the chart tests import ./sidecar through a replace, so when the main module gains a dependency
# their go.sum catches up instead of failing.
charts: tools-wait tools-helm
	@echo "charts: go vet and go test of charts/chartstest (compiling its Kubernetes dependencies is about 2 min cold; the tests about a minute)"
	cd charts/chartstest && $(GO) vet -mod=mod ./... && $(GO) test -mod=mod -count=1 -timeout 20m ./...

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
	@echo "release $(VERSION): SBOM with cyclonedx-gomod (its first run compiles it: about a minute cold)"
	cd tools && $(GO) tool cyclonedx-gomod mod -json -output $(abspath $(DIST))/sigv4-sidecar-$(VERSION).cdx.json ..
	cd $(DIST) && $(SHA256) sigv4-sidecar-$(VERSION)-* sigv4-sidecar-$(VERSION).cdx.json > SHA256SUMS
	@echo "release $(VERSION): done"; ls -l $(DIST)

# The test of `make release`: runs it into a temporary directory and checks each binary's format and
# architecture, that the linux ones are static, SHA256SUMS and the SBOM. In the tools module, beside the SBOM tool.
# Within `make test` it releases $(TEST_PLATFORMS) only, one binary of each format (ELF, Mach-O, PE) and
# one arm64, from the packages `cross` compiled; `make release-check RELEASE_CHECK_PLATFORMS=` checks all six.
RELEASE_CHECK_PLATFORMS ?= $(TEST_PLATFORMS)
export RELEASE_CHECK_PLATFORMS
release-check: tools-wait
	@echo "release-check: make release for $(or $(RELEASE_CHECK_PLATFORMS),$(PLATFORMS)) into a temporary directory, then check its files (about 30 s once cross has run)"
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
