package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// wsUpstream is a WebSocket server that checks the handshake's signature
// with package signer's verifier, as API Gateway and Neptune do, answers
// 403 when it does not verify, and echoes every message.
type wsUpstream struct {
	*httptest.Server
	// closeAfterEcho makes it close the connection (normal closure) after
	// echoing the first message.
	closeAfterEcho bool
	// flood makes it send binary messages without end instead of echoing,
	// until a write fails.
	flood bool
	// service is what it verifies the signature for (execute-api when
	// empty); a transcribe upstream takes only presigned handshakes, with
	// the empty body's hash, as Amazon Transcribe does.
	service string
	// ended is closed when a connection's handler has returned: the
	// upstream's side of it is gone.
	ended chan struct{}

	mu        sync.Mutex
	handshake *http.Request // the last one, as received
	verifyErr error
	res       signer.Result
}

func newWSUpstream(t *testing.T, closeAfterEcho bool) *wsUpstream {
	u := &wsUpstream{closeAfterEcho: closeAfterEcho, ended: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(u.handle))
	t.Cleanup(u.Close)
	return u
}

// newWSUpstreamTLS starts a wsUpstream over TLS that offers HTTP/2 as well,
// as API Gateway does, and returns it with the path of its CA file.
func newWSUpstreamTLS(t *testing.T) (*wsUpstream, string) {
	caPEM, cert := testCertificates(t)
	u := &wsUpstream{ended: make(chan struct{})}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(u.handle))
	u.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	u.EnableHTTP2 = true
	u.StartTLS()
	t.Cleanup(u.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return u, caFile
}

func (u *wsUpstream) handle(w http.ResponseWriter, r *http.Request) {
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken}, id == testKeyID
	}
	opts := signer.VerifyOptions{Now: time.Now(), Service: "execute-api", Region: "us-east-1"}
	if u.service != "" {
		opts.Service = u.service
	}
	if u.service == "transcribe" {
		opts.PayloadHash = signer.EmptyPayloadHash
	}
	res, err := signer.New(nil).Verify(r, lookup, opts)
	if err == nil && u.service == "transcribe" && (r.Header.Get("Authorization") != "" || r.URL.Query().Get("X-Amz-Signature") == "") {
		err = errors.New("transcribe takes a presigned handshake only")
	}
	u.mu.Lock()
	u.handshake, u.verifyErr, u.res = r.Clone(context.Background()), err, res
	u.mu.Unlock()
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", "ForbiddenException")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"message":"Forbidden"}`)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer close(u.ended)
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	if u.flood {
		msg := make([]byte, 64<<10)
		for c.Write(context.Background(), websocket.MessageBinary, msg) == nil {
		}
		return
	}
	for {
		typ, msg, err := c.Read(context.Background())
		if err != nil {
			return
		}
		if err := c.Write(context.Background(), typ, msg); err != nil {
			return
		}
		if u.closeAfterEcho {
			c.Close(websocket.StatusNormalClosure, "upstream done")
			return
		}
	}
}

func (u *wsUpstream) received(t *testing.T) (*http.Request, signer.Result, error) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.handshake == nil {
		t.Fatal("upstream received no handshake")
	}
	return u.handshake, u.res, u.verifyErr
}

// wsProxy starts the proxy in front of up, signing for execute-api.
func wsProxy(t *testing.T, up *wsUpstream, edit func(*Config)) (*httptest.Server, *logBuffer) {
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "execute-api", "us-east-1"
	if edit != nil {
		edit(&cfg)
	}
	return startProxy(t, cfg, newStaticSource())
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws://" + srv.Listener.Addr().String() + path
}

// waitClosed fails t unless ch closes within a generous deadline: the test
// asserts that something ends, never how fast.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// waitForLog waits until the proxy logged its request line for the
// upgrade, which it writes as its handler returns: the proxy's side of the
// connection is done.
func waitForLog(t *testing.T, logs *logBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy never logged %s:\n%s", want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func echo(t *testing.T, ctx context.Context, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || string(got) != msg {
		t.Fatalf("read: %v, %d bytes, %v: want the echo of the %d bytes sent", typ, len(got), err, len(msg))
	}
}

// TestWebSocketHandshakeSignedAndFramesRelayed: an upgrade is signed (the
// upstream verifies it with package signer), reaches the upstream with its
// Connection: Upgrade and Upgrade: websocket, and frames then pass both
// ways until the client closes, which ends the upstream's side and the
// proxy's.
func TestWebSocketHandshakeSignedAndFramesRelayed(t *testing.T) {
	up := newWSUpstream(t, false)
	proxy, logs := wsProxy(t, up, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, wsURL(proxy, "/prod?room=a%20b"), &websocket.DialOptions{Subprotocols: []string{"graphson"}})
	if err != nil {
		t.Fatalf("dial through the proxy: %v (response %v)", err, resp)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	hs, res, verr := up.received(t)
	if verr != nil {
		t.Fatalf("upstream could not verify the handshake: %v", verr)
	}
	if !strings.EqualFold(hs.Header.Get("Upgrade"), "websocket") || !strings.Contains(strings.ToLower(hs.Header.Get("Connection")), "upgrade") {
		t.Errorf("upstream got Upgrade %q, Connection %q", hs.Header.Get("Upgrade"), hs.Header.Get("Connection"))
	}
	if hs.URL.RawQuery != "room=a%20b" {
		t.Errorf("upstream got query %q, want the client's", hs.URL.RawQuery)
	}
	signed := ";" + res.SignedHeaders + ";"
	for _, name := range []string{"host", "x-amz-date", "x-amz-security-token", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol"} {
		if !strings.Contains(signed, ";"+name+";") {
			t.Errorf("SignedHeaders %q lacks %s", res.SignedHeaders, name)
		}
	}
	// Hop-by-hop: AWS's SDKs leave Connection out, and any hop may rewrite
	// either (Go's ReverseProxy itself rewrites Connection).
	for _, name := range []string{"connection", "upgrade"} {
		if strings.Contains(signed, ";"+name+";") {
			t.Errorf("SignedHeaders %q holds the hop-by-hop %s", res.SignedHeaders, name)
		}
	}
	if c.Subprotocol() != "graphson" && resp.Header.Get("Sec-Websocket-Protocol") != "" {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	for _, msg := range []string{"hello", strings.Repeat("x", 100<<10), "bye"} {
		echo(t, ctx, c, msg)
	}
	if err := c.Write(ctx, websocket.MessageBinary, []byte{0, 1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	if typ, got, err := c.Read(ctx); err != nil || typ != websocket.MessageBinary || string(got) != "\x00\x01\x02\xff" {
		t.Fatalf("binary echo: %v %q %v", typ, got, err)
	}
	if err := c.Close(websocket.StatusNormalClosure, "client done"); err != nil {
		t.Errorf("client close: %v", err)
	}
	waitClosed(t, up.ended, "the upstream's side ending after the client closed")
	waitForLog(t, logs, `"status":101`)
	// The relayed bytes count as the exchange's: the 100 KiB each way.
	if !strings.Contains(logs.String(), `"bytes_in":1`) || !strings.Contains(logs.String(), `"bytes_out":1`) {
		t.Errorf("request log does not count the relayed bytes:\n%s", logs.String())
	}
}

// TestWebSocketIdleTimeoutEndsBothSides: an upgraded connection on which
// nothing passes either way for --upgrade-idle-timeout is closed, on the
// client's side and on the upstream's.
func TestWebSocketIdleTimeoutEndsBothSides(t *testing.T) {
	up := newWSUpstream(t, false)
	proxy, logs := wsProxy(t, up, func(c *Config) { c.UpgradeIdleTimeout = 500 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(proxy, "/prod"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// Nothing is sent: the proxy closes both sides, which the client sees
	// as the connection ending without a close frame.
	_, _, err = c.Read(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("client read on an idle connection: %v (context %v), want the connection closed by the proxy", err, ctx.Err())
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		t.Errorf("client got a close frame %v: the upstream did not close, the proxy did", ce)
	}
	waitClosed(t, up.ended, "the upstream's side ending after the idle limit")
	waitForLog(t, logs, `"status":101`)
}

// TestWebSocketUpstreamCloseReachesClient: when the upstream closes, the
// client gets its close frame (code and reason) and the proxy's side ends.
func TestWebSocketUpstreamCloseReachesClient(t *testing.T) {
	up := newWSUpstream(t, true)
	proxy, logs := wsProxy(t, up, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, wsURL(proxy, "/prod"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	echo(t, ctx, c, "only one")
	_, _, err = c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusNormalClosure || ce.Reason != "upstream done" {
		t.Fatalf("after the upstream closed, client read: %v, want its close frame", err)
	}
	waitClosed(t, up.ended, "the upstream's side ending")
	waitForLog(t, logs, `"status":101`)
}

// TestWebSocketRefusedHandshakeReachesClient: an upstream that refuses the
// handshake (403, as API Gateway does for a signature it does not accept)
// is answered to the client as it came, not as a 101 or a proxy error.
func TestWebSocketRefusedHandshakeReachesClient(t *testing.T) {
	up := newWSUpstream(t, false)
	src := newStaticSource()
	src.c.AccessKeyID = "AKIDUNKNOWNTOUPSTREAM"
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "execute-api", "us-east-1"
	proxy, _ := startProxy(t, cfg, src)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, wsURL(proxy, "/prod"), nil)
	if err == nil {
		c.CloseNow()
		t.Fatal("the handshake succeeded with keys the upstream does not know")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("client got %v (%v), want the upstream's 403", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != `{"message":"Forbidden"}` || resp.Header.Get(ErrorHeader) != "" {
		t.Errorf("client got body %q, proxy error %q: want the upstream's answer untouched", body, resp.Header.Get(ErrorHeader))
	}
	if _, _, verr := up.received(t); verr == nil {
		t.Error("upstream verified a signature made with a key it does not know")
	}
}

// countingListener is an upstream that only counts the connections made to
// it: a refused upgrade must make none.
func countingListener(t *testing.T) (addr string, dials *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	dials = new(atomic.Int64)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			conn.Close()
		}
	}()
	return ln.Addr().String(), dials
}

// TestWebSocketUpgradeOutsideAllowListRefusedBeforeDial: host mode applies
// --allow-hosts and the address checks to an upgrade as to any request:
// refused with the proxy's 403 and error code, and nothing dialled.
func TestWebSocketUpgradeOutsideAllowListRefusedBeforeDial(t *testing.T) {
	addr, dials := countingListener(t)
	_, port := splitHostPort(t, addr)
	for _, tc := range []struct {
		name, host, code string
	}{
		// --connect-to would send it to the counting listener, were it allowed.
		{"HostNotAllowed", "ws.example.com:" + port, CodeHostNotAllowed},
		{"LoopbackAddress", addr, CodeAddressNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.AllowHosts = []string{"*.amazonaws.com"}
			cfg.ConnectTo = []string{"ws.example.com:" + port + "=http://" + addr}
			cfg.Service, cfg.Region = "execute-api", "us-east-1"
			proxy, _ := startProxy(t, cfg, newStaticSource())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL(proxy, "/prod"), &websocket.DialOptions{Host: tc.host})
			if err == nil {
				c.CloseNow()
				t.Fatal("upgrade to a host outside --allow-hosts succeeded")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden || resp.Header.Get(ErrorHeader) != tc.code {
				t.Fatalf("got %v (%v), want 403 with %s", resp, err, tc.code)
			}
			if n := dials.Load(); n != 0 {
				t.Errorf("the proxy dialled the upstream %d times", n)
			}
		})
	}
}

// TestWebSocketTranscribeHandshakePresigned: Amazon Transcribe's streaming
// WebSocket takes its signature in the query string only, host the one
// signed header, valid for at most 300 seconds: the proxy presigns the
// handshake, keeps the client's own parameters, and relays frames.
func TestWebSocketTranscribeHandshakePresigned(t *testing.T) {
	up := newWSUpstream(t, false)
	up.service = "transcribe"
	proxy, _ := wsProxy(t, up, func(c *Config) { c.Service = "transcribe" })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, wsURL(proxy, "/stream-transcription-websocket?language-code=en-US&media-encoding=pcm&sample-rate=16000"), nil)
	if err != nil {
		_, _, verr := up.received(t)
		t.Fatalf("dial through the proxy: %v (response %v); upstream: %v", err, resp, verr)
	}
	defer c.CloseNow()
	hs, res, verr := up.received(t)
	if verr != nil {
		t.Fatalf("upstream could not verify the presigned handshake: %v", verr)
	}
	q := hs.URL.Query()
	if q.Get("language-code") != "en-US" || q.Get("sample-rate") != "16000" || q.Get("X-Amz-Expires") != "300" ||
		q.Get("X-Amz-SignedHeaders") != "host" || q.Get("X-Amz-Security-Token") != testToken || res.SignedHeaders != "host" {
		t.Errorf("presigned handshake query %q, signed headers %q", hs.URL.RawQuery, res.SignedHeaders)
	}
	if hs.Header.Get("Authorization") != "" || hs.Header.Get("X-Amz-Date") != "" {
		t.Errorf("a presigned handshake carried Authorization %q, X-Amz-Date %q", hs.Header.Get("Authorization"), hs.Header.Get("X-Amz-Date"))
	}
	echo(t, ctx, c, "audio event")
	c.Close(websocket.StatusNormalClosure, "")
	waitClosed(t, up.ended, "the upstream's side ending")
}

// TestWebSocketHostModeOverTLS: in host mode a WebSocket client names the
// AWS host, an API Gateway WebSocket API's or a Neptune cluster's Gremlin
// endpoint; the proxy resolves the signing name and region from it
// (execute-api, neptune-db), speaks TLS to the upstream, which also offers
// HTTP/2, and switches protocols over HTTP/1.1 (an upgrade cannot ride
// HTTP/2), with the handshake signed for that host in its headers, as both
// services document.
func TestWebSocketHostModeOverTLS(t *testing.T) {
	for _, tc := range []struct {
		name, host, port, path, service string
	}{
		{"APIGateway", "abc123.execute-api.us-east-1.amazonaws.com", "443", "/prod", "execute-api"},
		{"NeptuneGremlin", "db.cluster-cxyz123.us-east-1.neptune.amazonaws.com", "8182", "/gremlin", "neptune-db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up, caFile := newWSUpstreamTLS(t)
			up.service = tc.service
			cfg := testConfig()
			cfg.UpstreamCAFile = caFile
			cfg.ConnectTo = []string{tc.host + ":" + tc.port + "=" + up.Listener.Addr().String()}
			proxy, logs := startProxy(t, cfg, newStaticSource())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			host := tc.host
			if tc.port != "443" {
				host += ":" + tc.port
			}
			c, resp, err := websocket.Dial(ctx, wsURL(proxy, tc.path), &websocket.DialOptions{Host: host})
			if err != nil {
				var body []byte
				if resp != nil {
					body, _ = io.ReadAll(resp.Body)
				}
				t.Fatalf("dial through the proxy: %v (response %v %s)", err, resp, body)
			}
			defer c.CloseNow()
			hs, res, verr := up.received(t)
			if verr != nil || hs.Host != host || hs.URL.Path != tc.path || hs.ProtoMajor != 1 || hs.TLS == nil {
				t.Fatalf("upstream got Host %q, path %q over HTTP/%d (TLS %v): %v", hs.Host, hs.URL.Path, hs.ProtoMajor, hs.TLS != nil, verr)
			}
			if !strings.Contains(hs.Header.Get("Authorization"), "/us-east-1/"+tc.service+"/aws4_request") || res.SignedHeaders == "" {
				t.Errorf("handshake Authorization %q: want the scope us-east-1/%s in the header", hs.Header.Get("Authorization"), tc.service)
			}
			echo(t, ctx, c, "over tls")
			c.Close(websocket.StatusNormalClosure, "")
			waitClosed(t, up.ended, "the upstream's side ending")
			waitForLog(t, logs, `"status":101`)
		})
	}
}

// TestWebSocketFramesPassTheFramingInspector: through the proxy's own
// server, whose listener follows HTTP/1.1 framing on every byte a client
// sends, the frames after a 101 (masked, so any bytes at all, CR and LF
// included) are relayed, many MiB of them, and are not read as requests.
func TestWebSocketFramesPassTheFramingInspector(t *testing.T) {
	up := newWSUpstream(t, false)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "execute-api", "us-east-1"
	addr, _, _, _ := runServer(t, cfg, newStaticSource())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/prod", nil)
	if err != nil {
		t.Fatalf("dial through the proxy's server: %v (response %v)", err, resp)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	msg := make([]byte, 256<<10)
	for i := range 16 {
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		if i%2 == 0 {
			// Unmasked, this is what a smuggled request looks like.
			copy(msg, "GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
		}
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			t.Fatalf("message %d: write: %v", i, err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil || typ != websocket.MessageBinary || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: echo %v, %d bytes, %v", i, typ, len(got), err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	waitClosed(t, up.ended, "the upstream's side ending")
}

// TestWebSocketFramesThatLookLikeRequestsNotCut: a client may mask its
// frames with the key 0 (RFC 6455 section 5.3 lets it choose any key), so
// the bytes after the 101 can read as HTTP requests, more of them than the
// framing inspector lets a connection pipeline. They are frames of the
// new protocol, not requests: the relay passes them on instead of
// cutting the connection.
func TestWebSocketFramesThatLookLikeRequestsNotCut(t *testing.T) {
	up := newWSUpstream(t, false)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "execute-api", "us-east-1"
	addr, _, _, _ := runServer(t, cfg, newStaticSource())
	conn, br := rawUpgrade(t, addr)
	payload := []byte(strings.Repeat("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 1100))
	frame := []byte{0x82, 0x80 | 126, byte(len(payload) >> 8), byte(len(payload)), 0, 0, 0, 0}
	if _, err := conn.Write(append(frame, payload...)); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatalf("no echo: the relay was cut: %v", err)
	}
	if head[0] != 0x82 || head[1] != 126 || int(head[2])<<8|int(head[3]) != len(payload) {
		t.Fatalf("echo frame header % x", head)
	}
	got := make([]byte, len(payload))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo payload: %v", err)
	}
}

// TestWebSocketOverTheProxysTLSListenerWithBearerToken: a client reaches
// the proxy with wss (its TLS listener offers HTTP/2 as well) and names
// itself with a bearer token: the upgrade is switched over HTTP/1.1, the
// token is removed and the handshake signed in its place, frames pass both
// ways through the TLS connection, and the log names the client. Without
// the token the upgrade gets 401 and reaches no upstream.
func TestWebSocketOverTheProxysTLSListenerWithBearerToken(t *testing.T) {
	up := newWSUpstream(t, false)
	serverCA := newTestCA(t, "server-ca")
	serving := serverCA.serverCert(t)
	const token = "tok-5d1e8a7c3b9f2e4d6a8c0b1e3f5a7c9d"
	files := newSecretDir(t, map[string][]byte{"tls.crt": serving.certPEM, "tls.key": serving.keyPEM, "tokens": tokensFile("gremlin-app", token)})
	cfg := fixedListenerConfig(up.URL)
	cfg.Listener.TLSCertFile, cfg.Listener.TLSKeyFile = files.path("tls.crt"), files.path("tls.key")
	cfg.Listener.ClientTokensFile = files.path("tokens")
	addr, logs := runListener(t, cfg)
	// A client that offers h2 and http/1.1, as most do: Go's transport
	// asks for HTTP/1.1 alone for an upgrade.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: serverCA.pool()}, ForceAttemptHTTP2: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	_, resp, err := websocket.Dial(ctx, "wss://"+addr+"/prod", &websocket.DialOptions{HTTPClient: client})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(ErrorHeader) != CodeClientUnauthenticated {
		t.Fatalf("upgrade without a token: %v (%v), want 401 %s", resp, err, CodeClientUnauthenticated)
	}
	up.mu.Lock()
	reached := up.handshake != nil
	up.mu.Unlock()
	if reached {
		t.Fatal("an unauthenticated upgrade reached the upstream")
	}

	c, resp, err := websocket.Dial(ctx, "wss://"+addr+"/prod", &websocket.DialOptions{HTTPClient: client,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatalf("upgrade with the token: %v (response %v)", err, resp)
	}
	defer c.CloseNow()
	hs, _, verr := up.received(t)
	if verr != nil {
		t.Fatalf("upstream could not verify the handshake: %v", verr)
	}
	for name, values := range hs.Header {
		if strings.Contains(strings.Join(values, " "), token) {
			t.Errorf("the bearer token was forwarded in %s", name)
		}
	}
	echo(t, ctx, c, "through tls")
	c.Close(websocket.StatusNormalClosure, "")
	waitClosed(t, up.ended, "the upstream's side ending")
	waitForLog(t, logs, `"client":"gremlin-app"`)
	if !strings.Contains(logs.String(), `"status":101`) {
		t.Errorf("the request log does not say 101:\n%s", logs)
	}
}

// TestWebSocketShutdownWaitsForThenClosesUpgrades: on a stop signal the
// proxy waits for upgraded connections, as for in-flight requests, up to
// --shutdown-timeout, and then closes them. http.Server.Shutdown lets go of
// hijacked connections: the proxy returned at once and left them open.
func TestWebSocketShutdownWaitsForThenClosesUpgrades(t *testing.T) {
	dial := func(t *testing.T, shutdownTimeout time.Duration) (*wsUpstream, *websocket.Conn, *logBuffer, func() error) {
		up := newWSUpstream(t, false)
		cfg := testConfig()
		cfg.Upstream = up.URL
		cfg.Service, cfg.Region = "execute-api", "us-east-1"
		cfg.ShutdownTimeout = shutdownTimeout
		addr, _, logs, stop := runServer(t, cfg, newStaticSource())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/prod", nil)
		if err != nil {
			t.Fatalf("dial through the proxy's server: %v (response %v)", err, resp)
		}
		t.Cleanup(func() { c.CloseNow() })
		echo(t, ctx, c, "before the stop signal")
		return up, c, logs, stop
	}

	t.Run("EndsWithinTimeout", func(t *testing.T) {
		up, c, logs, stop := dial(t, time.Minute)
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		waitForLog(t, logs, `"msg":"shutting down"`)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		echo(t, ctx, c, "while the proxy stops")
		select {
		case <-stopped:
			t.Fatal("the proxy returned while a WebSocket was still relaying")
		default:
		}
		c.Close(websocket.StatusNormalClosure, "")
		waitClosed(t, up.ended, "the upstream's side ending")
		waitClosed(t, stopped, "the proxy returning once the WebSocket ended")
	})

	t.Run("ClosedAtTimeout", func(t *testing.T) {
		up, c, logs, stop := dial(t, 200*time.Millisecond)
		if err := stop(); err != nil {
			t.Fatalf("Run: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
			t.Fatalf("client read after the proxy stopped: %v (context %v), want the connection closed", err, ctx.Err())
		}
		waitClosed(t, up.ended, "the upstream's side ending")
		if !strings.Contains(logs.String(), `"connections":1`) {
			t.Errorf("no warning that one upgraded connection was closed:\n%s", logs)
		}
	})
}

// TestWebSocketIdleTimeoutEndsAClientThatStoppedReading: a client that
// stops reading while the upstream sends stalls the relay's writes to it;
// once nothing has passed for --upgrade-idle-timeout the proxy closes the
// client's side as well as the upstream's. Closing the upstream's alone
// left the relay blocked on the client for as long as it kept its socket.
func TestWebSocketIdleTimeoutEndsAClientThatStoppedReading(t *testing.T) {
	up := newWSUpstream(t, false)
	up.flood = true
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "execute-api", "us-east-1"
	cfg.UpgradeIdleTimeout = 300 * time.Millisecond
	addr, _, logs, _ := runServer(t, cfg, newStaticSource())
	conn, br := rawUpgrade(t, addr)
	// The client reads nothing more: the upstream's frames fill the
	// sockets' buffers and the relay's writes to the client block.
	waitClosed(t, up.ended, "the upstream's side ending after the idle limit")
	waitForLog(t, logs, `"status":101`)
	// What the buffers held, then the end of the connection.
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Errorf("client's side after the idle limit: %v, want it closed by the proxy", err)
	}
}

// rawUpgrade dials the proxy at addr and sends a WebSocket upgrade for
// /prod by hand, byte for byte, so a test can then write frames a library
// would refuse to; it fails t unless the answer is 101. The connection
// closes when t ends.
func rawUpgrade(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, "GET /prod HTTP/1.1\r\nHost: "+addr+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	return conn, br
}
