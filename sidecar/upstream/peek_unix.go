//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package upstream

import (
	"net"
	"syscall"
)

// peekOpen reports whether the upstream still holds nc open: a
// non-blocking peek finds nothing to read (EAGAIN). End of file means it
// closed the connection while it sat idle (its keep-alive timeout), and
// data means it sent something unasked; either way the connection must not
// carry a request. One system call, no wait. A connection that offers no
// file descriptor (a wrapper) is taken as open; RoundTrip's retry of
// idempotent requests covers it.
func peekOpen(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = err == syscall.EAGAIN
		return true // never wait for readiness
	})
	return err == nil && open
}
