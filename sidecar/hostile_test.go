package sidecar

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// runServer starts a Server (the real listeners, framing inspector
// included) and returns the proxy and admin addresses. It stops with the
// test.
func runServer(t *testing.T, cfg Config, src *staticSource) (proxyAddr, adminAddr string, logs *logBuffer, stop func() error) {
	t.Helper()
	logs = &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	srv := &Server{
		Config: cfg, Credentials: src,
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Listening: func(p, a net.Addr) {
			ready <- [2]string{p.String(), a.String()}
		},
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case addrs := <-ready:
		proxyAddr, adminAddr = addrs[0], addrs[1]
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run returned %v", err)
		}
		for _, secret := range []string{testSecret, testToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("a secret reached the log")
			}
		}
	})
	return proxyAddr, adminAddr, logs, stop
}

func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var body struct{ Code, Message string }
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		return "(not JSON: " + string(raw) + ")"
	}
	if h := resp.Header.Get(ErrorHeader); h != body.Code {
		t.Errorf("%s header %q differs from body code %q", ErrorHeader, h, body.Code)
	}
	if body.Message == "" {
		t.Errorf("error %s has no message", body.Code)
	}
	return body.Code
}

// TestHostileInput sends requests the proxy must refuse itself: each gets
// its status and code, and nothing reaches the upstream.
func TestHostileInput(t *testing.T) {
	up, caFile := newTLSUpstream(t)
	upAddr := up.Listener.Addr().String()

	hostCfg := testConfig()
	hostCfg.UpstreamCAFile = caFile
	hostCfg.ConnectTo = []string{"*.amazonaws.com:443=" + upAddr}
	hostCfg.MaxHeaderBytes = 16 << 10
	hostProxy, _, _, _ := runServer(t, hostCfg, newStaticSource())

	fixedUp := newUpstream(t)
	fixedCfg := testConfig()
	fixedCfg.Upstream = fixedUp.URL + "/base/path"
	fixedCfg.Service, fixedCfg.Region = "s3", "us-east-1"
	fixedProxy, _, _, _ := runServer(t, fixedCfg, newStaticSource())

	anyCfg := testConfig()
	anyCfg.AllowHosts = []string{"*"}
	anyCfg.Service, anyCfg.Region = "execute-api", "us-east-1"
	anyProxy, _, _, _ := runServer(t, anyCfg, newStaticSource())

	big := strings.Repeat("a", 100<<10)
	cases := []struct {
		name   string
		proxy  string
		raw    string
		status int
		code   string // "" when net/http answers before the proxy's handler
	}{
		{"ConnectionNamesAuthorization", hostProxy,
			"GET /q HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com\r\nConnection: Authorization\r\nAuthorization: x\r\n\r\n", 400, CodeBadRequest},
		{"ConnectionNamesXAmzDate", hostProxy,
			"GET /q HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com\r\nConnection: keep-alive, X-Amz-Date\r\n\r\n", 400, CodeBadRequest},
		{"ContentLengthAndTransferEncoding", hostProxy,
			"POST /q HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400, CodeBadRequest},
		{"HugeHeader", hostProxy,
			"GET /q HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com\r\nX-Big: " + big + "\r\n\r\n", 431, ""},
		{"ManyHeaders", hostProxy,
			"GET /q HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com\r\n" + strings.Repeat("X-A: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n", 2000) + "\r\n", 431, ""},
		{"MalformedHostHeader", hostProxy,
			"GET /q HTTP/1.1\r\nHost: bad host\r\n\r\n", 400, ""},
		{"HostWithEmptyLabel", hostProxy,
			"GET /q HTTP/1.1\r\nHost: sqs..amazonaws.com\r\n\r\n", 400, CodeBadHost},
		{"HostWithBadPort", hostProxy,
			"GET /q HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com:99999\r\n\r\n", 400, CodeBadHost},
		{"MissingHost", hostProxy,
			"GET /q HTTP/1.0\r\n\r\n", 400, CodeBadHost},
		{"HostOutsideAllowList", hostProxy,
			"GET /q HTTP/1.1\r\nHost: example.com\r\n\r\n", 403, CodeHostNotAllowed},
		{"AbsoluteFormOutsideAllowList", hostProxy,
			"GET http://evil.example/q HTTP/1.1\r\nHost: evil.example\r\n\r\n", 403, CodeHostNotAllowed},
		{"IMDS", hostProxy,
			"GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n", 403, CodeAddressNotAllowed},
		{"IMDSAbsoluteForm", hostProxy,
			"GET http://169.254.169.254/latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n", 403, CodeAddressNotAllowed},
		{"IMDSv6", hostProxy,
			"GET /latest/meta-data/ HTTP/1.1\r\nHost: [fd00:ec2::254]\r\n\r\n", 403, CodeAddressNotAllowed},
		{"IMDSEvenWithWildcardAllowList", anyProxy,
			"GET / HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n", 403, CodeAddressNotAllowed},
		{"LoopbackLiteral", anyProxy,
			"GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n", 403, CodeAddressNotAllowed},
		{"PrivateLiteral", anyProxy,
			"GET / HTTP/1.1\r\nHost: 10.1.2.3\r\n\r\n", 403, CodeAddressNotAllowed},
		{"NameResolvingToLoopback", anyProxy,
			"GET / HTTP/1.1\r\nHost: localhost:" + strings.Split(upAddr, ":")[1] + "\r\n\r\n", 403, CodeAddressNotAllowed},
		{"UnknownEndpoint", hostProxy,
			"GET / HTTP/1.1\r\nHost: weird-thing.amazonaws.com\r\n\r\n", 400, CodeUnknownEndpoint},
		{"Connect", hostProxy,
			"CONNECT sqs.us-east-1.amazonaws.com:443 HTTP/1.1\r\nHost: sqs.us-east-1.amazonaws.com:443\r\n\r\n", 400, CodeBadRequest},
		{"DotDotEscapesBase", fixedProxy,
			"GET /../secret HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodePathEscapesBase},
		{"DotDotDeepEscapesBase", fixedProxy,
			"GET /a/../../../secret HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodePathEscapesBase},
		{"EncodedDotDotEscapesBase", fixedProxy,
			"GET /%2e%2e/%2E%2E/secret HTTP/1.1\r\nHost: x\r\n\r\n", 400, CodePathEscapesBase},
		{"BodyLengthAboveMax", fixedProxy,
			"PUT /k HTTP/1.1\r\nHost: x\r\nContent-Length: 6000000000\r\n\r\n", 413, CodeBodyTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := up.count() + fixedUp.count()
			resp := rawRequest(t, tc.proxy, tc.raw)
			if resp.StatusCode != tc.status {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.status)
			}
			if tc.code != "" {
				if code := errorCode(t, resp); code != tc.code {
					t.Errorf("code %s, want %s", code, tc.code)
				}
			}
			if n := up.count() + fixedUp.count() - before; n != 0 {
				t.Errorf("upstream received %d requests, want 0", n)
			}
		})
	}
}

// TestContentLengthAndTransferEncodingKeepAlive checks the framing
// inspector stays in step over a keep-alive connection: a clean request,
// then a conflicting one, which is refused and closes the connection; a
// clean chunked one then goes through on a new connection.
func TestContentLengthAndTransferEncodingKeepAlive(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	addr, _, _, _ := runServer(t, cfg, newStaticSource())
	dial := func() (net.Conn, *bufio.Reader) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		return conn, bufio.NewReader(conn)
	}
	conn, br := dial()
	send := func(raw string) *http.Response {
		t.Helper()
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"); r.StatusCode != 200 || r.Close {
		t.Fatalf("first request: %d (close %v)", r.StatusCode, r.Close)
	}
	if r := send("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"); r.StatusCode != 400 || !r.Close {
		t.Fatalf("conflicting request: %d (close %v), want 400 and Connection: close", r.StatusCode, r.Close)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the connection stayed open after the conflicting request")
	}
	conn, br = dial()
	if r := send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n"); r.StatusCode != 200 {
		t.Fatalf("third request: %d", r.StatusCode)
	}
	if up.count() != 2 {
		t.Fatalf("upstream got %d requests, want 2", up.count())
	}
	if got := up.last(t); got.Path != "/c" || string(got.Body) != "xyz" || got.VerifyErr != nil {
		t.Errorf("last upstream request %s %q %v", got.Path, got.Body, got.VerifyErr)
	}
}
