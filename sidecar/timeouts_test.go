package sidecar

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServerTimeoutsCloseClientConnections checks that --read-header-timeout
// and --idle-timeout reach the proxy's listener (through the framing
// inspector that wraps every connection): a client that never finishes its
// headers, and a keep-alive connection left idle, are closed by the proxy.
// The test's own read deadline is only a guard against a proxy that never
// closes them; it is far above both timeouts.
func TestServerTimeoutsCloseClientConnections(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	// Long enough that a loaded machine still reads a request sent whole
	// within them (at 200 ms a stalled server read could miss the first
	// request of the IdleTimeout case), far below the guard.
	cfg.ReadHeaderTimeout = time.Second
	cfg.IdleTimeout = time.Second
	addr, _, _, _ := runServer(t, cfg, newStaticSource())
	const guard = 20 * time.Second

	// closedByProxy reads until the connection ends; a timeout of the
	// test's own deadline means the proxy kept it open.
	closedByProxy := func(t *testing.T, conn net.Conn, br *bufio.Reader) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(guard))
		rest, err := io.ReadAll(br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %s", guard)
		}
		if len(rest) != 0 {
			t.Errorf("proxy wrote %q before closing, want nothing", rest)
		}
	}

	t.Run("ReadHeaderTimeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Headers started, never finished (slowloris).
		if _, err := io.WriteString(conn, "GET /q HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		before := up.count()
		closedByProxy(t, conn, bufio.NewReader(conn))
		if n := up.count() - before; n != 0 {
			t.Errorf("upstream got %d requests, want 0", n)
		}
	})

	t.Run("IdleTimeout", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		if _, err := io.WriteString(conn, "GET /q HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(guard))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("first request: status %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		// Nothing more is sent: the idle connection must be closed.
		closedByProxy(t, conn, br)
	})
}
