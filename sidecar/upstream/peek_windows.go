package upstream

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// wsaPoll is WSAPoll (Windows Vista and later), which x/sys/windows does
// not wrap.
var wsaPoll = windows.NewLazySystemDLL("ws2_32.dll").NewProc("WSAPoll")

// wsaPollFD is WSAPOLLFD: a SOCKET (pointer-sized) and two shorts.
type wsaPollFD struct {
	fd      uintptr
	events  int16
	revents int16
}

const pollReadNormal = 0x0100 // POLLRDNORM

// peekOpen reports whether the upstream still holds nc open: WSAPoll with
// no timeout finds nothing to read. Readable means end of file (it closed
// the connection while it sat idle) or data it sent unasked; hang-up or
// error are reported too; in every such case the connection must not carry
// a request. Windows has no non-blocking MSG_PEEK on Go's overlapped
// sockets, hence the poll. A connection without a socket (a wrapper), or a
// poll that fails, is taken as open; RoundTrip's retry of idempotent
// requests covers it.
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
	err = rc.Control(func(fd uintptr) {
		p := wsaPollFD{fd: fd, events: pollReadNormal}
		n, _, _ := wsaPoll.Call(uintptr(unsafe.Pointer(&p)), 1, 0)
		open = int32(n) <= 0 // 0: nothing happened; SOCKET_ERROR (-1): unknown, taken as open
	})
	return err == nil && open
}
