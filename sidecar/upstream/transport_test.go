package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTransport is a Transport as the proxy builds it, dialling with a plain
// net.Dialer and falling back to fallback (nil: net/http's Transport).
func newTransport(t *testing.T, fallback http.RoundTripper) *Transport {
	t.Helper()
	if fallback == nil {
		fallback = &http.Transport{}
	}
	tr := &Transport{
		Dial:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		Fallback:       fallback,
		MaxIdlePerHost: 8,
		IdleTimeout:    time.Minute,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// countingServer is an httptest server that counts the connections opened
// to it.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func get(t *testing.T, tr http.RoundTripper, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, string(b)
}

func TestReusesConnectionAcrossRequests(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("X-Method", r.Method)
			fmt.Fprintf(w, "%s %s", r.Method, r.URL.RequestURI())
		}
	})
	tr := newTransport(t, nil)
	for i := range 10 {
		for _, c := range []struct{ method, path, want string }{
			{"GET", "/a%20b?x=1", "GET /a%20b?x=1"},
			{"DELETE", "/obj", "DELETE /obj"},
			{"HEAD", "/obj", ""},
			{"GET", "/chunked", "part one, part two"},
			{"GET", "/empty", ""},
		} {
			resp, body := get(t, tr, c.method, srv.URL+c.path)
			if body != c.want {
				t.Fatalf("round %d: %s %s: body %q, want %q", i, c.method, c.path, body, c.want)
			}
			if c.method == "HEAD" && resp.Header.Get("X-Method") != "HEAD" {
				t.Fatalf("HEAD answered with header %q", resp.Header.Get("X-Method"))
			}
			if (c.method == "HEAD" || c.path == "/empty") && resp.Body != http.NoBody {
				t.Fatalf("%s %s: body %T, want http.NoBody as net/http gives it", c.method, c.path, resp.Body)
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("50 sequential requests opened %d connections, want 1", n)
	}
}

// TestConcurrentRequests runs requests from many goroutines at once: each
// gets its own answer, and no more connections are opened than requests in
// flight.
func TestConcurrentRequests(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})
	tr := newTransport(t, nil)
	const workers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				path := fmt.Sprintf("/w%d/r%d", w, i)
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != path {
					errs <- fmt.Errorf("%s: got %q, %v", path, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n > workers {
		t.Errorf("%d workers opened %d connections", workers, n)
	}
}

// TestBodyClosedEarlyClosesConnection: what is left of a body closed before
// its end would be read as the next answer; the connection must go.
func TestBodyClosedEarlyClosesConnection(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100<<10))
	})
	tr := newTransport(t, nil)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, body := get(t, tr, "GET", srv.URL); len(body) != 100<<10 {
		t.Fatalf("second answer: %d bytes", len(body))
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("opened %d connections, want 2 (the first closed with its unread body)", n)
	}
}

// rawServer accepts connections on loopback and hands each to serve on its
// own goroutine; it stops with the test.
func rawServer(t *testing.T, serve func(n int, c net.Conn, br *bufio.Reader)) (url string, accepted *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = &atomic.Int64{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			n := int(accepted.Add(1))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(n, c, bufio.NewReader(c))
			}()
		}
	}()
	return "http://" + l.Addr().String(), accepted
}

// readRequest reads one request and discards it; false when the client
// closed the connection.
func readRequest(br *bufio.Reader) (*http.Request, bool) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, false
	}
	io.Copy(io.Discard, req.Body)
	return req, true
}

const okResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestIdleConnectionClosedByUpstream: an upstream that closes a kept-alive
// connection once it has answered (its keep-alive timeout) must not cost the
// next request, even one that is not idempotent: the closed connection is
// noticed before it is reused.
func TestIdleConnectionClosedByUpstream(t *testing.T) {
	url, accepted := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); ok {
			io.WriteString(c, okResponse)
		}
	})
	tr := newTransport(t, nil)
	for i, method := range []string{"GET", "POST", "DELETE", "PATCH"} {
		if _, body := get(t, tr, method, url); body != "ok" {
			t.Fatalf("%s: %q", method, body)
		}
		// Wait until the upstream's close has reached us, as it would
		// have after an idle spell.
		waitFor(t, func() bool { return accepted.Load() == int64(i+1) && !upstreamStillOpen(tr) })
	}
	if n := accepted.Load(); n != 4 {
		t.Errorf("%d connections, want 4", n)
	}
}

// upstreamStillOpen reports whether tr's idle connection is still open by
// the upstream's side.
func upstreamStillOpen(tr *Transport) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, conns := range tr.idle {
		for _, c := range conns {
			if peekOpen(c.nc) {
				return true
			}
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // generous: a loaded machine is slow to get there
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReusedConnectionDyingBeforeAnswer is the race the peek cannot see: the
// upstream reads the next request on a kept-alive connection and closes it
// without a word. An idempotent request is sent again on a new connection;
// one that is not is an error, as net/http has it, since the upstream may
// have acted on it.
func TestReusedConnectionDyingBeforeAnswer(t *testing.T) {
	url, accepted := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); !ok {
			return
		}
		io.WriteString(c, okResponse)
		readRequest(br) // and hang up
	})
	tr := newTransport(t, nil)
	get(t, tr, "GET", url)
	if _, body := get(t, tr, "GET", url); body != "ok" {
		t.Fatalf("retried GET: %q", body)
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("GET retried on %d connections, want 2", n)
	}
	req, _ := http.NewRequest("DELETE", url, nil)
	_, err := tr.RoundTrip(req)
	if err == nil {
		t.Fatal("DELETE on a connection that died before answering: no error")
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("DELETE was sent again (%d connections)", n)
	}
}

// TestNewConnectionFailureIsNotRetried: a connection dialled for the request
// that dies is the upstream's answer.
func TestNewConnectionFailureIsNotRetried(t *testing.T) {
	url, accepted := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		readRequest(br)
	})
	tr := newTransport(t, nil)
	req, _ := http.NewRequest("GET", url, nil)
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("no error from an upstream that hung up")
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestInformationalAnswersSkipped(t *testing.T) {
	url, _ := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for {
			if _, ok := readRequest(br); !ok {
				return
			}
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"+okResponse)
		}
	})
	tr := newTransport(t, nil)
	for range 2 {
		if resp, body := get(t, tr, "GET", url); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	}
}

func TestUnaskedSwitchingProtocolsRefused(t *testing.T) {
	url, _ := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	})
	tr := newTransport(t, nil)
	req, _ := http.NewRequest("GET", url, nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "switched protocols") {
		t.Fatalf("got %v", err)
	}
}

// TestAnswersThatEndTheConnection: after these answers a connection cannot
// carry another request: the upstream said so (Connection: close, HTTP/1.0),
// the body ran to the close, or the upstream sent more than its answer
// (broken framing, whose bytes would become the next request's answer).
func TestAnswersThatEndTheConnection(t *testing.T) {
	for name, answer := range map[string]string{
		"ConnectionClose": "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"HTTP10":          "HTTP/1.0 200 OK\r\n\r\nok",
		"UntilClose":      "HTTP/1.1 200 OK\r\n\r\nok",
		"Unsolicited":     okResponse + "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra",
	} {
		t.Run(name, func(t *testing.T) {
			url, accepted := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
				if _, ok := readRequest(br); ok {
					io.WriteString(c, answer)
				}
			})
			tr := newTransport(t, nil)
			for range 3 {
				if _, body := get(t, tr, "GET", url); body != "ok" {
					t.Fatalf("body %q", body)
				}
			}
			if n := accepted.Load(); n != 3 {
				t.Errorf("%d connections for 3 requests, want 3", n)
			}
		})
	}
}

// TestInvalidStatusRefused: an answer with a status outside 100-999 is an
// error, on this transport's own path (a GET) and on net/http's (a PUT with
// a body), where net/http would pass "000" on.
func TestInvalidStatusRefused(t *testing.T) {
	url, _ := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); ok {
			io.WriteString(c, "HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := newTransport(t, nil)
	for _, body := range []string{"", "a body"} {
		req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
		if body == "" {
			req.Body, req.ContentLength = nil, 0
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("body %q: status %d passed on", body, resp.StatusCode)
		}
		if !strings.Contains(err.Error(), "invalid status code 0") {
			t.Errorf("body %q: error %q does not name the status", body, err)
		}
	}
}

// hangingServer reads each request and never answers, until the test ends.
func hangingServer(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	url, _ := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		readRequest(br)
		<-release
	})
	t.Cleanup(func() { close(release) })
	return url
}

func TestContextEndsWait(t *testing.T) {
	url := hangingServer(t)
	tr := newTransport(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// TestContextEndsBody: a client that goes away mid-download stops the copy.
func TestContextEndsBody(t *testing.T) {
	release := make(chan struct{})
	url, accepted := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, ok := readRequest(br); !ok {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf")
		<-release
	})
	defer close(release)
	tr := newTransport(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("body read to its end though the context ended")
	}
	resp.Body.Close()
	if tr.idleCount() != 0 {
		t.Error("the interrupted connection went back to the pool")
	}
	if accepted.Load() != 1 {
		t.Error("unexpected connections")
	}
}

func (t *Transport) idleCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, conns := range t.idle {
		n += len(conns)
	}
	return n
}

func TestResponseHeaderTimeout(t *testing.T) {
	url := hangingServer(t)
	tr := newTransport(t, nil)
	tr.ResponseHeaderTimeout = 50 * time.Millisecond
	req, _ := http.NewRequest("GET", url, nil)
	_, err := tr.RoundTrip(req)
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() || !strings.Contains(err.Error(), "--response-header-timeout") {
		t.Fatalf("got %v, want a timeout naming --response-header-timeout", err)
	}
}

// TestResponseHeaderTimeoutIsForHeadersOnly: a body slower than the limit is
// fine once the header came. The limit is long enough that the header, sent
// at once, beats it on a loaded machine (50 ms did not always).
func TestResponseHeaderTimeoutIsForHeadersOnly(t *testing.T) {
	const limit = time.Second
	url, _ := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
		time.Sleep(limit + limit/2)
		io.WriteString(c, "cd")
	})
	tr := newTransport(t, nil)
	tr.ResponseHeaderTimeout = limit
	if _, body := get(t, tr, "GET", url); body != "abcd" {
		t.Fatalf("body %q", body)
	}
}

func TestResponseHeaderTooLarge(t *testing.T) {
	url, _ := rawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 8<<10)+"\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := newTransport(t, nil)
	tr.MaxResponseHeaderBytes = 4 << 10
	req, _ := http.NewRequest("GET", url, nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "larger than 4096 bytes") {
		t.Fatalf("got %v", err)
	}
}

// TestIdleTimeoutClosesConnections: an idle connection is closed by the
// transport once IdleTimeout passes, and the pool keeps at most
// MaxIdlePerHost.
func TestIdleTimeoutClosesConnections(t *testing.T) {
	var closed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tr := newTransport(t, nil)
	tr.IdleTimeout = 30 * time.Millisecond
	get(t, tr, "GET", srv.URL)
	waitFor(t, func() bool { return closed.Load() == 1 })
	if tr.idleCount() != 0 {
		t.Errorf("%d idle connections after the idle timeout", tr.idleCount())
	}
	get(t, tr, "GET", srv.URL)
}

func TestMaxIdlePerHost(t *testing.T) {
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr := newTransport(t, nil)
	tr.MaxIdlePerHost = 0
	for range 3 {
		get(t, tr, "GET", srv.URL)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("MaxIdlePerHost 0: %d connections for 3 requests, want 3", n)
	}
}

// recorder is a fallback that answers every request itself.
type recorder struct{ got []*http.Request }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req)
	return &http.Response{StatusCode: 299, Body: http.NoBody, Request: req}, nil
}

func TestFallbackTakesWhatItCannot(t *testing.T) {
	rec := &recorder{}
	tr := newTransport(t, rec)
	body := func() *http.Request {
		req, _ := http.NewRequest("PUT", "http://127.0.0.1:1/", strings.NewReader("x"))
		return req
	}
	chunked := func() *http.Request {
		req, _ := http.NewRequest("PUT", "http://127.0.0.1:1/", io.NopCloser(strings.NewReader("x")))
		req.ContentLength = -1
		return req
	}
	tls := func() *http.Request {
		req, _ := http.NewRequest("GET", "https://127.0.0.1:1/", nil)
		return req
	}
	upgrade := func() *http.Request {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		return req
	}
	for name, req := range map[string]*http.Request{"body": body(), "chunked": chunked(), "https": tls(), "upgrade": upgrade()} {
		resp, err := tr.RoundTrip(req)
		if err != nil || resp.StatusCode != 299 {
			t.Errorf("%s: %v %v, want the fallback's answer", name, resp, err)
		}
	}
	if len(rec.got) != 4 {
		t.Errorf("fallback got %d requests, want 4", len(rec.got))
	}
}

// TestDialErrorReturned: the dialer's error (the proxy's address checks)
// reaches the caller as it is.
func TestDialErrorReturned(t *testing.T) {
	refused := errors.New("address not allowed")
	tr := newTransport(t, nil)
	tr.Dial = func(context.Context, string, string) (net.Conn, error) { return nil, refused }
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, refused) {
		t.Fatalf("got %v", err)
	}
}

// TestDialsHostWithDefaultPort: a URL without a port dials port 80.
func TestDialsHostWithDefaultPort(t *testing.T) {
	var dialled string
	tr := newTransport(t, nil)
	tr.Dial = func(_ context.Context, _, addr string) (net.Conn, error) {
		dialled = addr
		return nil, errors.New("stop")
	}
	for url, want := range map[string]string{
		"http://example.com/":   "example.com:80",
		"http://example.com:9/": "example.com:9",
		"http://[::1]/":         "[::1]:80",
	} {
		req, _ := http.NewRequest("GET", url, nil)
		tr.RoundTrip(req)
		if dialled != want {
			t.Errorf("%s dialled %q, want %q", url, dialled, want)
		}
	}
}

// TestIdleConnectionsUncappedAcrossHosts: every distinct host kept its own
// idle connection, so 10,000 hosts left 10,000 descriptors open. MaxIdle
// caps the pool across hosts, closing the connection idle longest: a host
// used again keeps its connection, the one used once loses it.
func TestIdleConnectionsUncappedAcrossHosts(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
	a, aConns := countingServer(t, ok)
	b, bConns := countingServer(t, ok)
	c, _ := countingServer(t, ok)
	tr := newTransport(t, nil)
	tr.MaxIdle = 2
	for _, url := range []string{a.URL, b.URL, a.URL, c.URL} {
		get(t, tr, "GET", url)
	}
	if n := tr.idleCount(); n != 2 {
		t.Errorf("%d idle connections, want MaxIdle (2)", n)
	}
	get(t, tr, "GET", a.URL)
	get(t, tr, "GET", b.URL)
	if n := aConns.Load(); n != 1 {
		t.Errorf("the host used most recently opened %d connections, want 1 (kept)", n)
	}
	if n := bConns.Load(); n != 2 {
		t.Errorf("the host idle longest opened %d connections, want 2 (its first closed)", n)
	}
	if !tr.CloseOldestIdle() || tr.idleCount() != 1 {
		t.Errorf("CloseOldestIdle left %d idle connections, want 1", tr.idleCount())
	}
	tr.CloseIdleConnections()
	if tr.CloseOldestIdle() {
		t.Error("CloseOldestIdle found a connection in an empty pool")
	}
	get(t, tr, "GET", c.URL)
	if n := tr.idleCount(); n != 1 {
		t.Errorf("%d idle connections after the pool was emptied and used again, want 1", n)
	}
}
