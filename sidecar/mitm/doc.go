// Package mitm holds the proxy's own certificate authority for clients that
// reach AWS through it as an HTTPS proxy (HTTPS_PROXY, CONNECT host:443):
// creating one (sigv4-sidecar ca init), reading and checking the
// --mitm-ca-cert and --mitm-ca-key files (re-read when they change, the last
// good pair kept), and minting the short-lived leaf certificate the proxy
// serves a tunnel with, for exactly the host the client asked for, cached
// per host with a bounded cache.
//
// It is a package of its own because none of it needs HTTP: it reads files
// and signs certificates with the standard library's crypto/x509, and hands
// the sidecar package a *tls.Certificate per host. What it does not hold:
// which hosts may be tunnelled (the allow-list), the tunnel itself and the
// requests inside it (sidecar/tunnel.go). The CA's private key never leaves
// the process: it signs leaves and is never written, logged or served.
package mitm
