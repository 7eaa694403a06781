// Package sidecar is the HTTP side of sigv4-sidecar: it receives plain
// requests, decides where each one goes (fixed upstream or the request's own
// host, checked against an allow-list), prepares its body for signing, signs it
// at the last moment in its outbound chain, forwards it, and streams the answer back.
// It also serves the admin listener (health, readiness, metrics) and maps every
// failure to one status code and stable error code.
package sidecar
