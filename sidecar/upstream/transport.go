package upstream

import (
	"bufio"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Transport sends bodyless plain-HTTP requests over pooled HTTP/1.1
// connections on the caller's goroutine, and every other request with
// Fallback. Its fields must be set before first use and not changed after.
// Safe for concurrent use.
//
// It behaves as net/http's Transport does where a proxy can tell: a response
// body read to its end frees the connection for the next request, one closed
// early closes it; a connection the upstream closed while it sat idle is
// noticed before it is reused, and an idempotent request that finds a reused
// connection dead before any answer is sent again on a new one; the
// request's context interrupts the exchange at any point.
type Transport struct {
	// Dial opens a connection to addr ("host:port"). Required.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Fallback sends the requests this transport does not. Required.
	Fallback http.RoundTripper
	// MaxIdlePerHost is the number of idle connections kept per host; 0 or
	// less keeps none.
	MaxIdlePerHost int
	// MaxIdle is the number of idle connections kept across all hosts; past
	// it the connection idle longest (in host mode, most often one to a host
	// used once) is closed. 0 or less: no cap but MaxIdlePerHost's.
	MaxIdle int
	// IdleTimeout closes a connection idle this long; 0 means never.
	IdleTimeout time.Duration
	// ResponseHeaderTimeout limits the wait for a response's header once the
	// request is written; 0 means no limit but the request context's.
	ResponseHeaderTimeout time.Duration
	// MaxResponseHeaderBytes limits a response's header block; 0 means 1 MiB.
	MaxResponseHeaderBytes int64

	mu   sync.Mutex
	idle map[string][]*conn // per host:port, most recently used last
	lru  list.List          // every idle *conn, the one idle longest first
}

var _ http.RoundTripper = (*Transport)(nil)

// Handles reports whether RoundTrip sends req itself rather than with
// Fallback: a plain-HTTP request without a body that asks for no protocol
// upgrade. A body goes to Fallback because net/http reads the answer while
// it writes the body, so an upstream that answers early (an error before the
// body ends) is heard instead of deadlocking the write.
func Handles(req *http.Request) bool {
	return req.URL.Scheme == "http" &&
		(req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 &&
		len(req.TransferEncoding) == 0 && len(req.Trailer) == 0 &&
		len(req.Header["Upgrade"]) == 0
}

// RoundTrip implements http.RoundTripper. It does not modify req. An
// answer whose status is outside 100-999 is an error, whichever path it
// came by: net/http's Transport passes "000" on, and the proxy's
// WriteHeader would panic on it.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !Handles(req) {
		resp, err := t.Fallback.RoundTrip(req)
		if err == nil {
			if err = checkStatus(resp.StatusCode); err != nil {
				resp.Body.Close()
				return nil, err
			}
		}
		return resp, err
	}
	if req.Body != nil {
		req.Body.Close() // http.NoBody; a RoundTripper closes what it is given
	}
	ctx := req.Context()
	addr := hostPort(req.URL)
	for {
		c, err := t.conn(ctx, addr)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		// A connection that served before and died before a byte of the
		// answer came back was most likely closed by the upstream while we
		// sent (its keep-alive timeout): net/http sends an idempotent request
		// again on a new connection, and so do we. A new connection that
		// fails is an answer.
		var failed *exchangeError
		if ctx.Err() == nil && c.reused && errors.As(err, &failed) && failed.nothingRead && (failed.nothingWritten || isIdempotent(req)) {
			continue
		}
		return nil, err
	}
}

// CloseIdleConnections closes the idle connections of this transport and of
// Fallback. Connections in use go back to the pool when their responses
// end, as net/http's do.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.lru.Init()
	t.mu.Unlock()
	for _, conns := range idle {
		for _, c := range conns {
			c.close()
		}
	}
	if f, ok := t.Fallback.(interface{ CloseIdleConnections() }); ok {
		f.CloseIdleConnections()
	}
}

// conn returns an idle connection to addr that is still open, or dials one.
func (t *Transport) conn(ctx context.Context, addr string) (*conn, error) {
	for {
		c := t.takeIdle(addr)
		if c == nil {
			break
		}
		if c.usable() {
			return c, nil
		}
		c.close()
	}
	nc, err := t.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{t: t, addr: addr, nc: nc}
	c.limited = limitedReader{r: nc, left: -1}
	c.br = bufio.NewReaderSize(&c.limited, 4<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	return c, nil
}

func (t *Transport) takeIdle(addr string) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.idle[addr]
	if len(conns) == 0 {
		return nil
	}
	c := conns[len(conns)-1]
	conns[len(conns)-1] = nil
	t.idle[addr] = conns[:len(conns)-1]
	if len(conns) == 1 {
		delete(t.idle, addr)
	}
	t.lru.Remove(c.lruElem)
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	return c
}

// putIdle keeps c for the next request to its host, or closes it when the
// pool for that host is full.
func (t *Transport) putIdle(c *conn) {
	t.mu.Lock()
	if len(t.idle[c.addr]) >= t.MaxIdlePerHost {
		t.mu.Unlock()
		c.close()
		return
	}
	if t.idle == nil {
		t.idle = map[string][]*conn{}
	}
	t.idle[c.addr] = append(t.idle[c.addr], c)
	c.lruElem = t.lru.PushBack(c)
	if t.IdleTimeout > 0 {
		if c.idleTimer == nil {
			c.idleTimer = time.AfterFunc(t.IdleTimeout, func() { t.expire(c) })
		} else {
			c.idleTimer.Reset(t.IdleTimeout)
		}
	}
	var evicted *conn
	if t.MaxIdle > 0 && t.lru.Len() > t.MaxIdle {
		evicted = t.lru.Front().Value.(*conn)
		t.removeIdleLocked(evicted)
	}
	t.mu.Unlock()
	if evicted != nil {
		evicted.close()
	}
}

// CloseOldestIdle closes the connection that has been idle longest, of any
// host, and reports whether there was one: it frees a descriptor for a new
// connection when they run short.
func (t *Transport) CloseOldestIdle() bool {
	t.mu.Lock()
	var oldest *conn
	if e := t.lru.Front(); e != nil {
		oldest = e.Value.(*conn)
		t.removeIdleLocked(oldest)
	}
	t.mu.Unlock()
	if oldest == nil {
		return false
	}
	oldest.close()
	return true
}

// expire closes c if it is still idle (it may have been taken for a
// request just as its timer fired).
func (t *Transport) expire(c *conn) {
	t.mu.Lock()
	found := t.removeIdleLocked(c)
	t.mu.Unlock()
	if found {
		c.close()
	}
}

// removeIdleLocked takes c out of the pool, if it is there, and reports
// whether it was. t.mu must be held.
func (t *Transport) removeIdleLocked(c *conn) bool {
	conns := t.idle[c.addr]
	i := -1
	for j, idle := range conns {
		if idle == c {
			i = j
			break
		}
	}
	if i < 0 {
		return false
	}
	t.idle[c.addr] = append(conns[:i], conns[i+1:]...)
	conns[len(conns)-1] = nil
	if len(t.idle[c.addr]) == 0 {
		// In host mode most hosts are seen once: keep no empty entry each.
		delete(t.idle, c.addr)
	}
	t.lru.Remove(c.lruElem)
	return true
}

// conn is one HTTP/1.1 connection. Only the request that holds it (taken
// from the pool or dialled) uses it.
type conn struct {
	t       *Transport
	addr    string
	nc      net.Conn
	limited limitedReader
	br      *bufio.Reader
	bw      *bufio.Writer
	// reused is set once a response was read to its end on this
	// connection: a failure after that may be its keep-alive timeout.
	reused    bool
	idleTimer *time.Timer
	lruElem   *list.Element // in Transport.lru while idle
}

// exchangeError is a failed exchange, with how far it got: what the retry
// rule in RoundTrip needs to know.
type exchangeError struct {
	err            error
	nothingWritten bool // the request never reached the socket
	nothingRead    bool // not a byte of a response came back
}

func (e *exchangeError) Error() string { return e.err.Error() }
func (e *exchangeError) Unwrap() error { return e.err }

// aLongTimeAgo is a deadline in the past: setting it makes a blocked read or
// write return at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req on c and reads the response header. On success the
// response's body owns c; on failure c is closed.
func (c *conn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	// The request's context ends the exchange wherever it is: a deadline in
	// the past makes the blocked read or write return.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(aLongTimeAgo) })
	c.limited.read = 0
	fail := func(err error, written bool) (*http.Response, error) {
		stop()
		c.close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return nil, &exchangeError{err: err, nothingWritten: !written, nothingRead: c.limited.read == 0}
	}
	if err := req.Write(c.bw); err != nil {
		return fail(err, false)
	}
	if err := c.bw.Flush(); err != nil {
		return fail(err, false)
	}
	if d := c.t.ResponseHeaderTimeout; d > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
	c.limitHeader()
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() && ctx.Err() == nil {
				err = &timeoutError{fmt.Sprintf("timeout awaiting response headers (--response-header-timeout %s)", c.t.ResponseHeaderTimeout)}
			} else if errors.Is(err, errHeaderTooLarge) {
				err = fmt.Errorf("upstream response header is larger than %d bytes", c.t.maxHeaderBytes())
			}
			return fail(err, true)
		}
		if err := checkStatus(resp.StatusCode); err != nil {
			return fail(err, true)
		}
		// 1xx answers (103 Early Hints, a stray 100 Continue) come before
		// the real one. 101 is only an answer to an Upgrade, which Handles
		// leaves to Fallback.
		if resp.StatusCode >= 200 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("upstream switched protocols without being asked to"), true)
		}
		c.limitHeader()
	}
	c.limited.left = -1
	if c.t.ResponseHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
		// The context may have ended, and set its deadline, just before
		// this cleared it: ctx.Err is set before that callback runs, so
		// checking after clearing misses nothing.
		if ctx.Err() != nil {
			_ = c.nc.SetDeadline(aLongTimeAgo)
		}
	}
	b := &body{ReadCloser: resp.Body, c: c, stop: stop, reusable: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		// No body to wait for (HEAD, 204, 304, Content-Length: 0): the
		// connection is free now, and the caller sees http.NoBody as
		// net/http gives it, which layers above test for.
		b.finish(true)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// limitHeader lets the next read take at most a header block's worth.
func (c *conn) limitHeader() { c.limited.left = c.t.maxHeaderBytes() }

func (t *Transport) maxHeaderBytes() int64 {
	if t.MaxResponseHeaderBytes > 0 {
		return t.MaxResponseHeaderBytes
	}
	return 1 << 20
}

// usable reports whether an idle connection can carry another request: the
// upstream has not closed it (its keep-alive timeout, or a limit on
// requests per connection), and sent nothing it was not asked for.
func (c *conn) usable() bool {
	return c.br.Buffered() == 0 && peekOpen(c.nc)
}

func (c *conn) close() {
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	c.nc.Close()
}

// body is a response body that gives its connection back to the pool when
// it has been read to its end, and closes it otherwise.
type body struct {
	io.ReadCloser
	c        *conn
	stop     func() bool
	reusable bool
	done     bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// Close closes the connection unless the body was read to its end (or had
// none): what is left unread cannot be skipped cheaply.
func (b *body) Close() error {
	if !b.done {
		b.finish(b.ReadCloser == http.NoBody)
	}
	return nil
}

func (b *body) finish(atEOF bool) {
	b.done = true
	// stop is false once the context's end has set a deadline on the
	// connection: it cannot serve again.
	if b.stop() && atEOF && b.reusable && b.c.br.Buffered() == 0 {
		b.c.reused = true
		b.c.t.putIdle(b.c)
		return
	}
	b.c.close()
}

// limitedReader counts the bytes read from a connection and, while left is
// not negative, refuses to read more than left of them: the response header
// limit.
type limitedReader struct {
	r    io.Reader
	left int64
	read int64
}

var errHeaderTooLarge = errors.New("response header too large")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left == 0 {
		return 0, errHeaderTooLarge
	}
	if l.left > 0 && int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	if l.left > 0 {
		l.left -= int64(n)
	}
	return n, err
}

// checkStatus refuses a status outside 100-999: net/http's ReadResponse
// parses any three digits, and WriteHeader panics on such a code.
func checkStatus(code int) error {
	if code < 100 || code > 999 {
		return fmt.Errorf("upstream answered with invalid status code %d", code)
	}
	return nil
}

// timeoutError is the response header timeout, a net.Error that says so.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

var _ net.Error = (*timeoutError)(nil)

// isIdempotent reports whether req may be sent twice, as net/http judges
// it: a safe method, or a request carrying an idempotency key.
func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return len(req.Header["Idempotency-Key"]) > 0 || len(req.Header["X-Idempotency-Key"]) > 0
}

// hostPort is u's host:port, port 80 when u names none (Handles takes only
// plain HTTP).
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
