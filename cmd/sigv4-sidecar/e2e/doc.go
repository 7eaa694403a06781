// Package e2e drives the built sigv4-sidecar binary like an app would, in
// front of real SigV4-verifying servers (MinIO and versitygw) on loopback, and
// load-tests it against a minimal upstream for `make bench`.
//
// Everything but this file is built only with the e2e tag, so `go vet ./...`
// and `go test ./...` stay fast; `make e2e` and `make bench` set the tag. The
// suite installs the servers itself into $TOOLS_BIN (default
// ~/.cache/sigv4-sidecar/bin) when they are missing, starts each once in
// TestMain and stops every process it started, also when a test fails.
//
// The heavy tests (the 1 GiB transfers, the AWS CLI, rclone and the
// JavaScript SDK) call t.Parallel: they run after the quick ones, two at a
// time (-parallel is GOMAXPROCS), so that one's waits on its server fill the
// CPU the other leaves idle. Each has its own buckets, proxies and taps, and
// asserts nothing about another's traffic; a peak RSS is per proxy process.
package e2e
