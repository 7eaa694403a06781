//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package upstream

import "net"

// peekOpen has no non-blocking peek here: an idle connection is taken as
// open, and RoundTrip's retry of idempotent requests covers one the
// upstream closed.
func peekOpen(net.Conn) bool { return true }
