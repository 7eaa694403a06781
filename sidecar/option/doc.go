// Package option holds the one error a bad option value stops the proxy's
// start with, shared by the packages that check options (sidecar,
// sidecar/resilience and sidecar/listen) so that every such message has
// one shape:
//
//	invalid --upstream "ftp://x": scheme must be http or https
//
// It imports nothing of ours, so every package may use it.
package option
