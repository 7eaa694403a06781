# syntax=docker/dockerfile:1
#
# sigv4-sidecar image: a static binary on distroless (no shell, no libc, uid 65532).
#
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v1.2.3 \
#     -t ghcr.io/sigv4-sidecar/sigv4-sidecar:1.2.3 .
#
# `make image VERSION=v1.2.3` runs exactly that (IMAGE_FLAGS=--push to publish); the tag drops the v, as the
# chart's appVersion does.
#
# The builder runs on the build machine's platform and cross-compiles for each target (no emulation):
# CGO_ENABLED=0 makes that possible and the result static. `make build` is the one recipe, so a local
# `make build` produces the same binary (charts/chartstest runs it from an empty root).

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH make build VERSION=$VERSION BUILD_OUT=/out/sigv4-sidecar

# distroless static: CA certificates, /etc/passwd with nonroot (65532), /tmp, nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sigv4-sidecar /usr/local/bin/sigv4-sidecar
USER 65532:65532
# The proxy and the admin listener (/healthz, /readyz, /metrics). Both bind 127.0.0.1 by default: set
# SIGV4_LISTEN / SIGV4_ADMIN_LISTEN to 0.0.0.0:... to reach them from outside the container.
EXPOSE 8080 8081
# For docker and compose; Kubernetes ignores it and uses the chart's probes (the same subcommand).
HEALTHCHECK --interval=10s --timeout=3s CMD ["/usr/local/bin/sigv4-sidecar", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/sigv4-sidecar"]
CMD ["serve"]
