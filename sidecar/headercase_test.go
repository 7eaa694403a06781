package sidecar

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawUpstream answers every request on its connection with response, byte
// for byte, so a test controls the spelling of each header name; to a HEAD
// it sends the header block only, as a server must. (Sent after a HEAD's
// answer, the body's bytes were read as the start of the next answer on
// that connection when the proxy reused it, and the next request got 502.)
func rawUpstream(t *testing.T, response string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(conn)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					answer := response
					if req.Method == http.MethodHead {
						head, _, _ := strings.Cut(response, "\r\n\r\n")
						answer = head + "\r\n\r\n"
					}
					if _, err := io.WriteString(conn, answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// rawHeaderBlock sends raw to addr and returns the response's status line
// and header block as the bytes arrived, before any parser touched them.
func rawHeaderBlock(t *testing.T, addr, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	var block strings.Builder
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		block.WriteString(line)
		if err != nil || line == "\r\n" {
			return block.String()
		}
	}
}

// TestMetadataHeaderNamesKeepLowerCase: S3 sends user metadata as
// x-amz-meta-my-key; through the proxy the client received
// X-Amz-Meta-My-Key (net/http canonicalizes names), and the AWS CLI's
// head-object showed {"My-Key": "v"} for {"my-key": "v"}. The names reach
// the client in lower case, on GET and HEAD, and on a PUT with a body.
func TestMetadataHeaderNamesKeepLowerCase(t *testing.T) {
	upAddr := rawUpstream(t, "HTTP/1.1 200 OK\r\n"+
		"x-amz-meta-my-key: v\r\n"+
		"x-amz-meta-CamelCase: w\r\n"+
		"x-amz-request-id: REQ1\r\n"+
		"Content-Length: 2\r\n\r\nok")
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = "http://"+upAddr, "s3", "us-east-1"
	proxy, _ := startProxy(t, cfg, newStaticSource())
	addr := strings.TrimPrefix(proxy.URL, "http://")
	for _, req := range []string{
		"GET /bucket/key HTTP/1.1\r\nHost: proxy\r\n\r\n",
		"HEAD /bucket/key HTTP/1.1\r\nHost: proxy\r\n\r\n",
		"PUT /bucket/key HTTP/1.1\r\nHost: proxy\r\nContent-Length: 4\r\n\r\nbody",
	} {
		block := rawHeaderBlock(t, addr, req)
		method, _, _ := strings.Cut(req, " ")
		if !strings.HasPrefix(block, "HTTP/1.1 200") {
			t.Fatalf("%s: %q", method, block)
		}
		for _, want := range []string{"\r\nx-amz-meta-my-key: v\r\n", "\r\nx-amz-meta-camelcase: w\r\n"} {
			if !strings.Contains(block, want) {
				t.Errorf("%s: header block lacks %q:\n%s", method, strings.TrimSpace(want), block)
			}
		}
	}
}
