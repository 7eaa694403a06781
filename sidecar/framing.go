package sidecar

import (
	"bytes"
	"net"
	"strconv"
	"sync"
)

// net/http accepts a request with both Content-Length and Transfer-Encoding
// by dropping Content-Length (RFC 9112 section 6.3), which leaves no trace a
// handler could see. RFC 9112 says such a message "ought to be handled as an
// error" since it is the classic request-smuggling shape, and the proxy
// refuses it. framingListener wraps each client connection in a
// connInspector that follows HTTP/1.1 message framing on the bytes the
// server reads and records, per request head, whether it had both headers.
// The handler asks for the record of its own request by method and target.
//
// The inspector only observes: it never changes a byte, and when it loses
// track (a line too long, a malformed chunk size) it stops recording, which
// can only make it miss a conflict, never invent one.

type smugglingKey struct{}

// framingListener wraps accepted connections in a connInspector.
type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &connInspector{Conn: c}, nil
}

const maxInspectLine = 1 << 20

type inspectState uint8

const (
	inHead inspectState = iota
	inBody
	inChunkSize
	inChunkData
	inChunkEnd
	inTrailer
	lost
)

type headRecord struct {
	requestLine string // "METHOD TARGET"
	conflict    bool
}

type connInspector struct {
	net.Conn

	mu      sync.Mutex
	records []headRecord

	// Parser state, touched only by Read (one reader at a time).
	state      inspectState
	line       []byte
	firstLine  string
	hasCL      bool
	hasTE      bool
	chunked    bool
	clValue    int64
	remaining  int64
	endPending int // bytes of CRLF still expected after chunk data
}

func (c *connInspector) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.state != lost {
		c.feed(p[:n])
	}
	return n, err
}

// takeConflict reports whether the head of the request method target,
// which the server has just read on this connection, had both
// Content-Length and Transfer-Encoding. Heads are recorded in order and the
// server serves them in order; records of heads the server answered itself
// (OPTIONS *, errors) are skipped by matching the request line. Safe for
// concurrent use with Read.
func (c *connInspector) takeConflict(method, target string) bool {
	want := method + " " + target
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.records) > 0 {
		r := c.records[0]
		c.records = c.records[1:]
		if r.requestLine == want {
			return r.conflict
		}
	}
	return false
}

func (c *connInspector) feed(b []byte) {
	for len(b) > 0 && c.state != lost {
		switch c.state {
		case inBody, inChunkData:
			n := int64(len(b))
			if n > c.remaining {
				n = c.remaining
			}
			c.remaining -= n
			b = b[n:]
			if c.remaining == 0 {
				if c.state == inBody {
					c.state = inHead
				} else {
					c.state, c.endPending = inChunkEnd, 2
				}
			}
		case inChunkEnd:
			// CRLF after chunk data; a bare LF is tolerated.
			if b[0] == '\n' {
				c.state = inChunkSize
			} else if b[0] != '\r' {
				c.state = lost
			}
			b = b[1:]
		default:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				c.line = append(c.line, b...)
				if len(c.line) > maxInspectLine {
					c.state = lost
				}
				return
			}
			c.line = append(c.line, b[:i]...)
			b = b[i+1:]
			c.onLine(bytes.TrimSuffix(c.line, []byte("\r")))
			c.line = c.line[:0]
		}
	}
}

// onLine takes one line of the head, a chunk size or a trailer. line is only
// valid during the call. Every client request goes through here, so it
// copies nothing but the request line.
func (c *connInspector) onLine(line []byte) {
	switch c.state {
	case inHead:
		if c.firstLine == "" {
			if len(line) == 0 {
				return // RFC 9112 section 2.2: empty lines before a request
			}
			method, rest, _ := bytes.Cut(line, []byte(" "))
			target, _, _ := bytes.Cut(rest, []byte(" "))
			c.firstLine = string(method) + " " + string(target)
			return
		}
		if len(line) == 0 {
			c.endHead()
			return
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			c.hasCL = true
			if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && n >= 0 {
				c.clValue = n
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			c.hasTE = true
			if bytes.EqualFold(value, []byte("chunked")) {
				c.chunked = true
			}
		}
	case inChunkSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		switch {
		case err != nil || n < 0:
			c.state = lost
		case n == 0:
			c.state = inTrailer
		default:
			c.state, c.remaining = inChunkData, n
		}
	case inTrailer:
		if len(line) == 0 {
			c.state = inHead
		}
	}
}

func (c *connInspector) endHead() {
	c.mu.Lock()
	c.records = append(c.records, headRecord{requestLine: c.firstLine, conflict: c.hasCL && c.hasTE})
	if len(c.records) > 64 {
		c.records = c.records[1:]
	}
	c.mu.Unlock()
	switch {
	case c.hasTE && c.chunked:
		c.state = inChunkSize
	case c.hasTE:
		c.state = lost // net/http refuses any other coding and closes
	case c.clValue > 0:
		c.state, c.remaining = inBody, c.clValue
	default:
		c.state = inHead
	}
	c.firstLine, c.hasCL, c.hasTE, c.chunked, c.clValue = "", false, false, false, 0
}

var (
	_ net.Listener = framingListener{}
	_ net.Conn     = (*connInspector)(nil)
)
