package sidecar

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Request smuggling lives in the gap between two parsers that frame the
// same bytes differently. net/http frames the proxy's client connections;
// a connInspector frames them again, strictly, on the bytes net/http reads,
// and the proxy forwards a request only where both agree on it. The
// inspector fails closed:
//
//   - A request head it finds ambiguous is recorded as refused:
//     Content-Length with Transfer-Encoding (RFC 9112 section 6.3),
//     Transfer-Encoding on HTTP/1.0 (which net/http ignores) or other than
//     a single "chunked", Content-Length that is not digits or differs
//     between two lines, an obs-fold (section 5.2), a malformed line, a
//     version other than HTTP/1.0 and 1.1. The handler answers it 400 with
//     Connection: close, and the inspector records nothing after it, so no
//     later request on the connection can be admitted.
//   - Where it cannot follow the bytes at all (a chunk-size line, chunk end
//     or trailer it does not accept, a line too long, a request line
//     missing), it hands net/http none of the bytes from that point on:
//     the next Read fails, a body still arriving ends in body_read_failed,
//     and the connection closes, cutting off any response still in flight
//     on it.
//   - The handler takes the records in order (admit) and forwards a request
//     only if the next record is a clean head with its method and target.
//     No record, or a different one, means the parsers disagree: the
//     request is refused and the connection closed.
//
// Where net/http's rules decide framing (net/http/transfer.go,
// net/http/internal/chunked.go) the inspector accepts a subset of what they
// accept and frames it the same way, so that the two never go out of step
// even where net/http would read on after an error.
// FuzzInspectorAgainstNetHTTP and FuzzFramingAgainstNetHTTP check this on
// pipelined streams against a third, independent framer. The inspector
// never changes a byte it hands on.

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

// withInspector is an http.Server's ConnContext: it lets the handler find
// the inspector of its connection.
func withInspector(ctx context.Context, c net.Conn) context.Context {
	if ci, ok := c.(*connInspector); ok {
		return context.WithValue(ctx, smugglingKey{}, ci)
	}
	return ctx
}

const (
	// A head line; --max-header-bytes stops net/http well before.
	maxHeadLine = 1 << 20
	// net/http refuses a chunk-size line of 4096 bytes or more, and a
	// trailer that does not end within its 4096-byte read buffer.
	maxChunkLine = 4000
	maxTrailer   = 4000
	// net/http's bound on chunk-line bytes beyond 16 per chunk plus twice
	// the chunk's data (internal/chunked.go).
	maxChunkOverhead = 16 << 10
	// Heads read ahead of the handler; net/http reads at most 4 KiB ahead.
	maxPendingHeads = 1024
	// How long Close waits for a refused client to stop sending, so that
	// unread bytes do not turn the close into a reset that destroys the 400
	// (as net/http's closeWriteAndWait).
	refusedLinger = 500 * time.Millisecond
)

type inspectState uint8

const (
	inRequestLine inspectState = iota
	inHeaders
	inBody
	inChunkSize
	inChunkData
	inChunkCR // the CR after chunk data
	inChunkLF
	inTrailer
	unrecorded // after a refused head: bytes pass, nothing is recorded
	stopped    // Read hands on nothing more
)

type headRecord struct {
	requestLine string // "METHOD TARGET"
	refusal     string // why the request is refused; "" when it is clean
}

// connInspector follows HTTP/1.1 framing on what the server reads from a
// client connection. Read is used by one goroutine at a time (net/http's);
// admit and Close may be called from others.
type connInspector struct {
	net.Conn

	mu      sync.Mutex
	records []headRecord
	err     error // once set, Read returns it (then io.EOF) without reading
	linger  bool  // a request was refused: Close lets the client finish
	// http2: the connection began with the HTTP/2 preface; its requests
	// come from net/http's HTTP/2 server, which frames them itself.
	http2 bool

	started bool // a request line was read; touched only by Read

	// Parser state, touched only by Read.
	state     inspectState
	line      []byte
	head      headState
	remaining int64 // body or chunk-data bytes still to come
	overhead  int64 // chunk-line bytes as net/http counts them
	trailer   int   // trailer bytes so far

	// switched is set once the upstream switched protocols: the bytes
	// that follow are the new protocol's (WebSocket frames), not HTTP
	// requests, and pass uninspected (upgrade.go).
	switched atomic.Bool
}

// headState is what the inspector has learnt of the head it is reading.
type headState struct {
	requestLine string
	optionsStar bool // "OPTIONS *": net/http answers it, the handler never sees it
	http10      bool
	refusal     string
	lengths     int // Content-Length lines
	length      int64
	lengthText  [20]byte // the first Content-Length, to compare the others with
	lengthLen   int
	encodings   int // Transfer-Encoding lines
}

func (c *connInspector) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.err
	if err != nil && err != io.EOF {
		c.err = io.EOF // said once, then the stream has ended
	}
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 && !c.switched.Load() {
		if k := c.feed(p[:n]); k < n {
			// The bytes from k on are never handed on; the next Read
			// says why.
			if k > 0 {
				return k, nil
			}
			c.mu.Lock()
			err, c.err = c.err, io.EOF
			c.mu.Unlock()
			return 0, err
		}
	}
	return n, err
}

// Close closes the connection; after a refusal it first half-closes and
// lets the client's remaining bytes drain for a moment.
func (c *connInspector) Close() error {
	c.mu.Lock()
	linger := c.linger
	c.linger = false
	c.mu.Unlock()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); linger && ok && cw.CloseWrite() == nil {
		c.Conn.SetReadDeadline(time.Now().Add(refusedLinger))
		io.Copy(io.Discard, io.LimitReader(c.Conn, 256<<10))
	}
	return c.Conn.Close()
}

// admit takes the record of the next request head read on this connection
// and reports whether the request the server has just parsed, method and
// target, may be forwarded. When it may not, it returns a *RequestError
// that says why, and the inspector hands on no more bytes: the caller
// answers with Connection: close. Safe for concurrent use with Read.
func (c *connInspector) admit(method, target string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	refusal := "the proxy could not follow the message framing on this connection"
	if c.http2 && method != "PRI" {
		return nil
	}
	if len(c.records) > 0 {
		r := c.records[0]
		c.records = c.records[1:]
		switch {
		case r.refusal != "":
			refusal = r.refusal
		case !isRequestLine(r.requestLine, method, target):
			refusal = "the proxy and its HTTP server read this connection's messages differently"
		default:
			return nil
		}
	}
	c.records = nil
	c.err, c.linger = io.EOF, true
	return &RequestError{Code: CodeBadRequest, Message: refusal + "; the request is refused and the connection closed (RFC 9112 section 6.3)"}
}

func isRequestLine(line, method, target string) bool {
	return len(line) == len(method)+1+len(target) && line[:len(method)] == method &&
		line[len(method)] == ' ' && line[len(method)+1:] == target
}

// stop ends the inspection: Read hands on nothing more and the next call
// returns err.
func (c *connInspector) stop(err error) {
	c.state = stopped
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.linger = true
	c.mu.Unlock()
}

// framingError is why the inspector stopped handing on bytes; it reaches
// the client in the message of a body_read_failed answer.
type framingError struct{ what string }

func (e *framingError) Error() string {
	return "the proxy cannot follow this message's framing: " + e.what + "; the connection is closed"
}

// feed follows framing over b and returns how many of its bytes may be
// handed on: all of them, or fewer when the inspector stopped.
func (c *connInspector) feed(b []byte) int {
	i := 0
	for i < len(b) {
		switch c.state {
		case unrecorded:
			return len(b)
		case stopped:
			return i
		case inBody, inChunkData:
			n := min(int64(len(b)-i), c.remaining)
			c.remaining -= n
			i += int(n)
			if c.remaining == 0 {
				if c.state == inBody {
					c.state = inRequestLine
				} else {
					c.state = inChunkCR
				}
			}
		case inChunkCR, inChunkLF:
			// RFC 9112 section 7.1: chunk data ends in CRLF, and
			// net/http accepts nothing else.
			want, next := byte('\r'), inChunkLF
			if c.state == inChunkLF {
				want, next = '\n', inChunkSize
			}
			if b[i] != want {
				c.stop(&framingError{"chunk data not followed by CRLF"})
				return i
			}
			c.state = next
			i++
		default:
			limit := maxHeadLine
			switch c.state {
			case inChunkSize:
				limit = maxChunkLine
			case inTrailer:
				limit = maxTrailer - c.trailer
			}
			j := bytes.IndexByte(b[i:], '\n')
			if j < 0 {
				if len(c.line)+len(b)-i > limit {
					c.stop(&framingError{"a line too long"})
					return i // net/http has no line end to act on
				}
				c.line = append(c.line, b[i:]...)
				return len(b)
			}
			if len(c.line)+j > limit {
				c.stop(&framingError{"a line too long"})
				return i
			}
			c.line = append(c.line, b[i:i+j]...)
			if !c.onLine(c.line) {
				return i + j // withhold the line's end
			}
			i += j + 1
			c.line = c.line[:0]
			if cap(c.line) > 64<<10 {
				c.line = nil // one long line does not pin its buffer for the connection's life
			}
		}
	}
	return i
}

// onLine takes one line, without its LF; it reports false when the
// inspector stopped on it. line is only valid during the call.
func (c *connInspector) onLine(line []byte) bool {
	switch c.state {
	case inRequestLine:
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			// net/http does not skip empty lines before a request.
			c.stop(&framingError{"an empty line where a request line belongs"})
			return false
		}
		if !c.started && string(line) == "PRI * HTTP/2.0" {
			// The HTTP/2 connection preface (RFC 9113 section 3.4):
			// what follows is frames, which net/http's HTTP/2 server
			// frames (--h2c); without --h2c net/http reads the
			// preface as one HTTP/1 request, which admit refuses,
			// and closes the connection.
			c.mu.Lock()
			c.http2 = true
			c.mu.Unlock()
			c.state = unrecorded
			return true
		}
		c.started = true
		c.requestLine(line)
		c.state = inHeaders
	case inHeaders:
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return c.endHead()
		}
		c.headerLine(line)
	case inChunkSize:
		content, ok := crlfLine(line)
		if !ok {
			c.stop(&framingError{"a chunk-size line not ending in CRLF"})
			return false
		}
		size, ok := chunkSize(content)
		if !ok {
			c.stop(&framingError{"a chunk size that is not hexadecimal, or of 1 TiB or more"})
			return false
		}
		c.overhead = max(c.overhead+int64(len(content))+2-16-2*size, 0)
		if c.overhead > maxChunkOverhead {
			c.stop(&framingError{"too many bytes of chunk framing for the data"})
			return false
		}
		if size == 0 {
			c.state, c.trailer = inTrailer, 0
		} else {
			c.state, c.remaining = inChunkData, size
		}
	case inTrailer:
		c.trailer += len(line) + 1
		content, ok := crlfLine(line)
		switch {
		case !ok:
			c.stop(&framingError{"a trailer line not ending in CRLF"})
			return false
		case len(content) == 0:
			c.state = inRequestLine
		case headerLineProblem(content) != "":
			c.stop(&framingError{"a malformed trailer line"})
			return false
		}
	}
	return true
}

// crlfLine strips the CR of a line that must end in CRLF and hold no other
// CR (net/http's rule for chunk lines, RFC 9112 section 7.1).
func crlfLine(line []byte) ([]byte, bool) {
	if i := bytes.IndexByte(line, '\r'); i < 0 || i != len(line)-1 {
		return nil, false
	}
	return line[:len(line)-1], true
}

// chunkSize parses a chunk-size line without its CRLF as net/http does
// (trailing spaces and tabs dropped, then anything from ';' on, then 1 to
// 16 hex digits), and refuses a chunk of 1 TiB or more, whose size net/http
// would double past int64 in its overhead count.
func chunkSize(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, " \t")
	line, _, _ = bytes.Cut(line, []byte(";"))
	if len(line) == 0 || len(line) > 16 {
		return 0, false
	}
	if digits := bytes.TrimLeft(line, "0"); len(digits) > 10 {
		return 0, false
	}
	var n int64
	for _, ch := range line {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// requestLine takes the first line of a head as net/http splits it:
// method, target and version between the first two spaces.
func (c *connInspector) requestLine(line []byte) {
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(rest, []byte(" "))
	c.head.requestLine = string(method) + " " + string(target)
	c.head.optionsStar = string(method) == "OPTIONS" && string(target) == "*"
	switch {
	case !ok1 || !ok2:
		c.head.refusal = "the request line is not METHOD TARGET VERSION"
	case string(version) == "HTTP/1.0":
		c.head.http10 = true
	case string(version) != "HTTP/1.1":
		c.head.refusal = "the HTTP version is not HTTP/1.0 or HTTP/1.1"
	}
}

// headerLine takes one header line. The first problem found refuses the
// head; the inspector still reads on to its end, where net/http hands it to
// the handler.
func (c *connInspector) headerLine(line []byte) {
	h := &c.head
	if h.refusal != "" {
		return
	}
	if h.refusal = headerLineProblem(line); h.refusal != "" {
		return
	}
	name, value, _ := bytes.Cut(line, []byte(":"))
	value = bytes.Trim(value, " \t")
	switch {
	case asciiEqualFold(name, "content-length"):
		n, err := strconv.ParseInt(string(value), 10, 63)
		switch {
		case len(value) == 0 || len(value) > len(h.lengthText) || !isDigits(value) || err != nil:
			h.refusal = "Content-Length is not a decimal number"
		case h.lengths > 0 && string(value) != string(h.lengthText[:h.lengthLen]):
			h.refusal = "two Content-Length headers with different values"
		default:
			h.length, h.lengthLen = n, copy(h.lengthText[:], value)
		}
		h.lengths++
	case asciiEqualFold(name, "transfer-encoding"):
		h.encodings++
		switch {
		case h.encodings > 1:
			h.refusal = "more than one Transfer-Encoding header"
		case !asciiEqualFold(value, "chunked"):
			h.refusal = "a Transfer-Encoding other than chunked"
		}
	}
}

// headerLineProblem says what is wrong with a header or trailer line, or
// "" when nothing is: net/http's rules for a line it accepts (a token name,
// a colon, no control characters in the value), and no obs-fold, which
// net/http unfolds.
func headerLineProblem(line []byte) string {
	if line[0] == ' ' || line[0] == '\t' {
		return "a folded header line (obs-fold, RFC 9112 section 5.2)"
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return "a header line without a colon"
	}
	if len(name) == 0 {
		return "a header line without a name"
	}
	for _, ch := range name {
		if !isTokenByte(ch) {
			return "a header name that is not a token"
		}
	}
	for _, ch := range value {
		if ch < ' ' && ch != '\t' || ch == 0x7f {
			return "a control character in a header value"
		}
	}
	return ""
}

// endHead records the head just read and sets up its body. It reports
// false when the inspector stopped.
func (c *connInspector) endHead() bool {
	h := &c.head
	if h.refusal == "" && h.encodings > 0 {
		switch {
		case h.http10:
			h.refusal = "Transfer-Encoding on an HTTP/1.0 request, which has no chunked coding (RFC 9112 section 6.1)"
		case h.lengths > 0:
			h.refusal = "the request has both Content-Length and Transfer-Encoding: send one of them"
		}
	}
	if h.refusal != "" || !h.optionsStar {
		c.mu.Lock()
		pending := len(c.records)
		if pending < maxPendingHeads {
			c.records = append(c.records, headRecord{requestLine: h.requestLine, refusal: h.refusal})
		}
		c.linger = c.linger || h.refusal != ""
		c.mu.Unlock()
		if pending >= maxPendingHeads {
			c.stop(&framingError{"too many requests read ahead"})
			return false
		}
	}
	switch {
	case h.refusal != "" && h.optionsStar:
		// net/http answers OPTIONS * itself and reads on: no handler
		// would refuse it, so nothing after it is handed on.
		c.stop(io.EOF)
	case h.refusal != "":
		// The handler refuses it and net/http closes after the answer.
		c.state = unrecorded
	case h.encodings > 0:
		c.state, c.overhead = inChunkSize, 0
	case h.length > 0:
		c.state, c.remaining = inBody, h.length
	default:
		c.state = inRequestLine
	}
	c.head = headState{}
	return true
}

func isDigits(b []byte) bool {
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return true
}

// isTokenByte reports whether ch may appear in a token (RFC 9110 section
// 5.6.2), which a header name is.
func isTokenByte(ch byte) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	return ch != 0 && bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), ch) >= 0
}

// asciiEqualFold is strings.EqualFold for ASCII only: net/http matches
// header names and "chunked" that way, and a Unicode fold ('ſ' for 's')
// would see a header net/http does not.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

var (
	_ net.Listener = framingListener{}
	_ net.Conn     = (*connInspector)(nil)
	_ error        = (*framingError)(nil)
)
