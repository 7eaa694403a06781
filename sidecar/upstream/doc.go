// Package upstream carries the proxy's bodyless requests to plain-HTTP
// upstreams over pooled HTTP/1.1 connections, writing each request and reading
// its response on the caller's own goroutine. Everything else (request bodies,
// TLS, protocol upgrades) it hands to a fallback http.RoundTripper,
// net/http's Transport in the proxy.
//
// Why it exists: net/http's Transport serves every HTTP/1.1 connection with a
// reader and a writer goroutine, so one small request crosses three goroutines
// and wakes the scheduler at each crossing. On a sidecar's small requests
// that bookkeeping cost more CPU than the upstream spent answering them
// (BENCHMARKS.md, "Proxy"). Here the caller writes, waits on the socket and
// reads; nothing else runs.
package upstream
