// Package tools holds what releasing sigv4-sidecar needs beyond the Go
// toolchain: the SBOM generator, pinned with the tool directive in this
// module's go.mod so its many dependencies (a git implementation, a license
// detector) stay out of the main module, and the test of `make release`.
package tools
