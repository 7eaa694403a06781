package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
)

func fixedProxyTo(t *testing.T, up *verifyingUpstream, service string, mutate func(*Config)) (string, *staticSource, *logBuffer) {
	t.Helper()
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = service, "us-east-1"
	if mutate != nil {
		mutate(&cfg)
	}
	src := newStaticSource()
	proxy, logs := startProxy(t, cfg, src)
	return proxy.URL, src, logs
}

// TestStreamedResponseReachesClientChunkByChunk has the upstream send a
// chunk, then wait until the client has read it before sending the next: a
// proxy that buffered the response would deadlock the exchange, and the
// upstream's wait would time out. An event stream is streamed even when the
// upstream announces its length; any response of unknown length is.
func TestStreamedResponseReachesClientChunkByChunk(t *testing.T) {
	for _, tc := range []struct {
		contentType string
		knownLength bool
	}{
		{"text/event-stream", false},
		{"application/vnd.amazon.eventstream", false},
		{"application/json", false},
		{"application/vnd.amazon.eventstream", true},
		{"text/event-stream; charset=utf-8", true},
	} {
		contentType := tc.contentType
		name := contentType
		if tc.knownLength {
			name += ",Content-Length"
		}
		t.Run(name, func(t *testing.T) {
			readBy := make(chan int, 10)
			events := make(chan string, 100)
			up := newUpstream(t)
			up.respond = func(w http.ResponseWriter, r *http.Request, _ received) {
				w.Header().Set("Content-Type", contentType)
				if tc.knownLength {
					w.Header().Set("Content-Length", strconv.Itoa(4*len("chunk-0;")))
				}
				w.WriteHeader(http.StatusOK)
				for i := range 4 {
					time.Sleep(200 * time.Millisecond)
					events <- fmt.Sprintf("sent %d", i)
					fmt.Fprintf(w, "chunk-%d;", i)
					w.(http.Flusher).Flush()
					select {
					case n := <-readBy:
						if n != i {
							events <- fmt.Sprintf("client read %d after sending %d", n, i)
						}
					case <-time.After(10 * time.Second):
						events <- fmt.Sprintf("client never read chunk %d before the next was due", i)
						return
					}
				}
			}
			proxy, _, _ := fixedProxyTo(t, up, "lambda", nil)
			resp, err := http.Get(proxy + "/2021-11-15/functions/f/response-streaming-invocations")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, 64)
			var got strings.Builder
			for i := range 4 {
				want := fmt.Sprintf("chunk-%d;", i)
				for !strings.HasSuffix(got.String(), want) {
					n, err := resp.Body.Read(buf)
					got.Write(buf[:n])
					if err == io.EOF && i == 3 && strings.HasSuffix(got.String(), want) {
						break // a body of known length may end with its last read
					}
					if err != nil {
						t.Fatalf("read: %v after %q", err, got.String())
					}
				}
				events <- fmt.Sprintf("read %d", i)
				readBy <- i
			}
			// The upstream handler has returned once the body ends.
			if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
				t.Fatalf("after the last chunk: %q, %v", rest, err)
			}
			close(events)
			var order []string
			for e := range events {
				order = append(order, e)
			}
			want := []string{"sent 0", "read 0", "sent 1", "read 1", "sent 2", "read 2", "sent 3", "read 3"}
			if strings.Join(order, ",") != strings.Join(want, ",") {
				t.Errorf("events %v, want %v", order, want)
			}
		})
	}
}

// TestClientCancellationCancelsUpstream checks that a client giving up ends
// the upstream request too.
func TestClientCancellationCancelsUpstream(t *testing.T) {
	started := make(chan struct{})
	canceled := make(chan struct{})
	up := newUpstream(t)
	up.respond = func(w http.ResponseWriter, r *http.Request, _ received) {
		close(started)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	}
	proxy, _, logs := fixedProxyTo(t, up, "sqs", nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, proxy+"/slow", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("upstream request not canceled after the client gave up")
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v", err)
	}
	_ = logs
}

// TestSpoolToTempFileIsRemoved sends a body larger than --body-memory in
// signed mode: it is spooled to a file in --spool-dir while the request is
// in flight, arrives intact, and leaves nothing behind.
func TestSpoolToTempFileIsRemoved(t *testing.T) {
	dir := t.TempDir()
	openDuring := make(chan int64, 1)
	up := newUpstream(t)
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		openDuring <- spoolFilesOpen()
		if rec.VerifyErr != nil {
			http.Error(w, rec.VerifyErr.Error(), 403)
			return
		}
		fmt.Fprint(w, len(rec.Body))
	}
	proxy, _, _ := fixedProxyTo(t, up, "sqs", func(c *Config) {
		c.Payload = PayloadSigned
		c.BodyMemory = 4 << 10
		c.SpoolDir = dir
	})
	body := testBody(3<<20 + 17)
	before := spoolFilesOpen()
	resp, err := http.Post(proxy+"/q", "application/octet-stream", io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != fmt.Sprint(len(body)) {
		t.Fatalf("status %d body %q", resp.StatusCode, got)
	}
	if n := <-openDuring; n != before+1 {
		t.Errorf("%d spool files open during the request, want %d (the body should spill to a file)", n, before+1)
	}
	// The handler closes the spool just after the response's last byte.
	eventually(func() bool { return spoolFilesOpen() == before })
	if n := spoolFilesOpen(); n != before {
		t.Errorf("%d spool files still open after the request", n-before)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("spool dir holds %d entries after the request", len(entries))
	}
	if !bytes.Equal(up.last(t).Body, body) {
		t.Error("upstream body differs")
	}
}

// TestBodyTooLarge checks --max-body for bodies of known and unknown
// length: 413 body_too_large, and the upstream sees nothing.
func TestBodyTooLarge(t *testing.T) {
	up := newUpstream(t)
	proxy, _, _ := fixedProxyTo(t, up, "sqs", func(c *Config) {
		c.MaxBody = 1000
		c.BodyMemory = 100
	})
	for _, known := range []bool{true, false} {
		var body io.Reader = bytes.NewReader(testBody(1001))
		if !known {
			body = io.MultiReader(body)
		}
		resp, err := http.Post(proxy+"/q", "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 413 || errorCode(t, resp) != CodeBodyTooLarge {
			t.Errorf("known=%v: status %d, want 413 %s", known, resp.StatusCode, CodeBodyTooLarge)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(proxy+"/q", "text/plain", bytes.NewReader(testBody(1000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || up.count() != 1 {
		t.Errorf("a body of exactly --max-body: status %d, upstream count %d", resp.StatusCode, up.count())
	}
}

// TestUpstreamResponsePassesThroughUntouched checks an upstream error keeps
// its status, headers and body, carries no proxy error header, and gets no
// sniffed Content-Type.
func TestUpstreamResponsePassesThroughUntouched(t *testing.T) {
	up := newUpstream(t)
	xmlBody := `<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>`
	up.respond = func(w http.ResponseWriter, r *http.Request, _ received) {
		if r.URL.Path == "/notype" {
			w.Header()["Content-Type"] = nil
			w.WriteHeader(200)
			w.Write([]byte("<html>not sniffed</html>"))
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", "RID")
		w.Header().Set("X-Amzn-Errortype", "AccessDeniedException")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, xmlBody)
	}
	proxy, src, logs := fixedProxyTo(t, up, "s3", nil)
	resp, err := http.Get(proxy + "/bucket/key")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || string(body) != xmlBody || resp.Header.Get("Content-Type") != "application/xml" || resp.Header.Get("X-Amzn-Errortype") != "AccessDeniedException" {
		t.Errorf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get(ErrorHeader) != "" {
		t.Errorf("upstream error marked as the proxy's")
	}
	if len(src.invalidated) != 0 {
		t.Errorf("AccessDenied invalidated credentials")
	}
	// The request line is logged just after the response's last byte.
	if !eventually(func() bool { return strings.Contains(logs.String(), `"aws_request_id":"RID"`) }) {
		t.Errorf("request log lacks the AWS request id:\n%s", logs)
	}
	resp, err = http.Get(proxy + "/notype")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		t.Errorf("proxy added Content-Type %q", ct)
	}
}

// TestRejectedCredentialsAreInvalidated checks that an upstream saying the
// keys are expired makes the proxy drop them and re-send the request once,
// signed with fresh ones; a second rejection passes through untouched.
func TestRejectedCredentialsAreInvalidated(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rejectAll  bool
		wantStatus int
		wantCalls  int
	}{
		{"RetriedWithFreshKeys", false, 200, 2},
		{"SecondRejectionPassesThrough", true, 400, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUpstream(t)
			up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
				if rec.VerifyErr != nil || (rec.KeyID == testKeyID || tc.rejectAll) {
					w.Header().Set("X-Amzn-Errortype", "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/")
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, `{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}`)
					return
				}
				io.WriteString(w, "ok "+string(rec.Body))
			}
			proxy, src, _ := fixedProxyTo(t, up, "dynamodb", nil)
			src.rotate = true
			resp, err := http.Post(proxy+"/", "application/x-amz-json-1.0", io.MultiReader(strings.NewReader(`{"TableName":"t"}`)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || resp.Header.Get(ErrorHeader) != "" {
				t.Errorf("status %d (%s), error header %q", resp.StatusCode, body, resp.Header.Get(ErrorHeader))
			}
			if up.count() != tc.wantCalls {
				t.Fatalf("upstream got %d requests, want %d", up.count(), tc.wantCalls)
			}
			got := up.last(t)
			if got.VerifyErr != nil || got.KeyID != testKeyID2 || string(got.Body) != `{"TableName":"t"}` {
				t.Errorf("retry: key %s, body %q, %v", got.KeyID, got.Body, got.VerifyErr)
			}
			if len(src.invalidated) == 0 || src.invalidated[0] != testKeyID {
				t.Errorf("invalidated %v, want %s first", src.invalidated, testKeyID)
			}
		})
	}
}

// TestNoCredentialsFailsClosed checks a request that cannot be signed is
// answered 503 and never sent.
func TestNoCredentialsFailsClosed(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	for name, src := range map[string]*staticSource{
		"error":   {err: fmt.Errorf("%w: nothing in the chain", creds.ErrNoCredentials)},
		"expired": {c: creds.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, Source: "test", CanExpire: true, Expires: time.Now().Add(-time.Minute)}},
	} {
		t.Run(name, func(t *testing.T) {
			proxy, _ := startProxy(t, cfg, src)
			resp, err := http.Post(proxy.URL+"/q", "text/plain", strings.NewReader("body"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 503 || errorCode(t, resp) != CodeNoCredentials {
				t.Errorf("status %d, want 503 %s", resp.StatusCode, CodeNoCredentials)
			}
			if up.count() != 0 {
				t.Errorf("upstream got %d requests", up.count())
			}
		})
	}
}

// TestHeaderHandling checks what is removed, what is forwarded unsigned and
// what is signed.
func TestHeaderHandling(t *testing.T) {
	up := newUpstream(t)
	proxy, _, _ := fixedProxyTo(t, up, "s3", func(c *Config) {
		c.StripHeaders = []string{"x-drop-*"}
		c.UnsignedHeaders = []string{"x-mutable"}
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := "GET /bucket/key?keep=1&X-Amz-Signature=abc&X-Amz-Credential=AKID%2Fx&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20000101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok&z=2 HTTP/1.1\r\n" +
		"Host: whatever\r\n" +
		"Connection: keep-alive, X-Hop\r\nX-Hop: gone\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eA==\r\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=OTHER/20000101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\n" +
		"X-Amz-Security-Token: clients-own\r\nX-Amz-Content-Sha256: deadbeef\r\nX-Amz-Date: 20000101T000000Z\r\n" +
		"X-Drop-Me: gone\r\nX-Mutable: forwarded\r\nX-Forwarded-For: 1.2.3.4\r\nUser-Agent: app/1.0\r\nX-Amz-Meta-Color: blue\r\n\r\n"
	io.WriteString(conn, raw)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
		t.Fatalf("response %q", buf[:n])
	}
	got := up.last(t)
	if got.VerifyErr != nil {
		t.Fatalf("signature: %v", got.VerifyErr)
	}
	if got.RawQuery != "keep=1&z=2" {
		t.Errorf("query %q, want presign parameters removed", got.RawQuery)
	}
	for _, h := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization", "X-Drop-Me", "X-Forwarded-For"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("%s forwarded: %q", h, v)
		}
	}
	if got.Header.Get("X-Amz-Security-Token") != testToken || got.Header.Get("X-Amz-Content-Sha256") == "deadbeef" {
		t.Errorf("client's own signing headers not replaced")
	}
	auth := got.Header.Get("Authorization")
	signed := auth[strings.Index(auth, "SignedHeaders=")+len("SignedHeaders=") : strings.Index(auth, ", Signature")]
	for _, h := range []string{"host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "x-amz-meta-color"} {
		if !strings.Contains(";"+signed+";", ";"+h+";") {
			t.Errorf("%s not signed (SignedHeaders=%s)", h, signed)
		}
	}
	for _, h := range []string{"x-mutable", "user-agent"} {
		if strings.Contains(";"+signed+";", ";"+h+";") {
			t.Errorf("%s signed (SignedHeaders=%s)", h, signed)
		}
	}
	if got.Header.Get("X-Mutable") != "forwarded" || got.Header.Get("User-Agent") != "app/1.0" {
		t.Errorf("unsigned headers not forwarded")
	}
}

// TestUpstreamFailures maps transport failures to 502 and 504.
func TestUpstreamFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	slow := newUpstream(t)
	slow.respond = func(w http.ResponseWriter, r *http.Request, _ received) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	cases := []struct {
		name     string
		upstream string
		status   int
		code     string
	}{
		{"ConnectionRefused", "http://" + closedAddr, 502, CodeUpstreamFailed},
		{"NoResponseHeaders", slow.URL, 504, CodeUpstreamTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Upstream = tc.upstream
			cfg.Service, cfg.Region = "sqs", "us-east-1"
			cfg.ResponseHeaderTimeout = 300 * time.Millisecond
			proxy, _ := startProxy(t, cfg, newStaticSource())
			resp, err := http.Get(proxy.URL + "/q")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status || errorCode(t, resp) != tc.code {
				t.Errorf("status %d, want %d %s", resp.StatusCode, tc.status, tc.code)
			}
		})
	}
}

// TestUpstreamStatus000IsBadGateway: net/http's client passes an answer
// with status "000" on, and the proxy's WriteHeader panicked on it, leaving
// the client with a dropped connection. With a body as without one, the
// client gets a 502 naming it.
func TestUpstreamStatus000IsBadGateway(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				io.WriteString(c, "HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	cfg := testConfig()
	cfg.Upstream = "http://" + ln.Addr().String()
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	proxy, _ := startProxy(t, cfg, newStaticSource())
	for _, body := range []string{"", "Action=SendMessage"} {
		resp, err := http.Post(proxy.URL+"/123456789012/q", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatalf("body %q: %v (the proxy dropped the connection)", body, err)
		}
		code := errorCode(t, resp)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || code != CodeUpstreamFailed {
			t.Errorf("body %q: status %d %s, want 502 %s", body, resp.StatusCode, code, CodeUpstreamFailed)
		}
	}
}

// TestDotDotInsideBaseIsForwarded checks that a `..` that stays inside the
// base path is not refused (S3 keys may hold one) and goes as written.
func TestDotDotInsideBaseIsForwarded(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL + "/base"
	cfg.Service, cfg.Region = "s3", "us-east-1"
	proxy, _ := startProxy(t, cfg, newStaticSource())
	resp := rawRequest(t, strings.TrimPrefix(proxy.URL, "http://"), "GET /bucket/a/../b HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := up.last(t); got.Path != "/base/bucket/a/../b" || got.VerifyErr != nil {
		t.Errorf("upstream path %q (%v)", got.Path, got.VerifyErr)
	}
}

// eventually reports whether cond becomes true within a minute (generous: a
// loaded machine is slow to get there): for what a handler does after the
// client has its response.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestRetryReplaysSpool re-sends a spooled request through the
// RequestSigner the way a retry layer does (a clone with GetBody's body): the
// body is replayed from the same spool, not spooled again, and re-signed.
func TestRetryReplaysSpool(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.Payload = PayloadSigned
	cfg.BodyMemory = 1 << 10
	p, err := New(cfg, newStaticSource(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	x := &exchange{route: Route{Scheme: "http", Host: up.Listener.Addr().String(), Service: "sqs", Region: "us-east-1"}}
	ctx := withExchange(context.Background(), x)
	body := testBody(50 << 10)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, up.URL+"/q", io.MultiReader(bytes.NewReader(body)))
	req.ContentLength = -1
	before := spoolFilesOpen()
	for attempt := range 2 {
		send := req
		if attempt > 0 {
			if req.GetBody == nil {
				t.Fatal("no GetBody to replay the spooled body")
			}
			send = req.Clone(ctx)
			send.Body, _ = req.GetBody()
			send.Header.Del("Authorization")
		}
		resp, err := p.RequestSigner().RoundTrip(send)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := up.last(t); got.VerifyErr != nil || !bytes.Equal(got.Body, body) {
			t.Fatalf("attempt %d: %v, body %d bytes", attempt, got.VerifyErr, len(got.Body))
		}
		if n := spoolFilesOpen() - before; n != 1 {
			t.Fatalf("attempt %d: %d spool files open, want 1", attempt, n)
		}
		req = send
	}
	x.spool.Close()
}

// TestRetriesAndBreaker runs the full chain: a 503 is retried with the
// spooled body replayed and signed afresh, and an upstream that keeps
// failing opens its breaker, after which the proxy answers 503
// circuit_open with Retry-After without contacting it.
func TestRetriesAndBreaker(t *testing.T) {
	t.Run("RetryReplaysBody", func(t *testing.T) {
		up := newUpstream(t)
		calls := 0
		up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
			calls++
			if calls == 1 || rec.VerifyErr != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, string(rec.Body))
		}
		proxy, _, _ := fixedProxyTo(t, up, "sqs", func(c *Config) { c.Resilience.RetryBase = time.Millisecond })
		resp, err := http.Post(proxy+"/q", "text/plain", io.MultiReader(strings.NewReader("payload")))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "payload" || up.count() != 2 {
			t.Errorf("status %d body %q after %d upstream requests", resp.StatusCode, body, up.count())
		}
	})
	t.Run("BreakerOpens", func(t *testing.T) {
		up := newUpstream(t)
		up.respond = func(w http.ResponseWriter, r *http.Request, _ received) {
			w.WriteHeader(http.StatusInternalServerError)
		}
		proxy, _, _ := fixedProxyTo(t, up, "sqs", func(c *Config) {
			c.Resilience.RetryAttempts = 1
			c.Resilience.BreakerFailures = 3
			c.Resilience.BreakerOpen = time.Minute
		})
		for range 3 {
			resp, err := http.Get(proxy + "/q")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 500 || resp.Header.Get(ErrorHeader) != "" {
				t.Fatalf("status %d %q, want the upstream's 500", resp.StatusCode, resp.Header.Get(ErrorHeader))
			}
		}
		resp, err := http.Get(proxy + "/q")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 503 || errorCode(t, resp) != CodeCircuitOpen || resp.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q, want 503 %s", resp.StatusCode, resp.Header.Get("Retry-After"), CodeCircuitOpen)
		}
		if up.count() != 3 {
			t.Errorf("upstream got %d requests, want 3", up.count())
		}
	})
}
