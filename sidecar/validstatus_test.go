package sidecar

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestInvalidStatusRefused: an answer with a status outside 100-999 is an
// error, with a body and without, where net/http would pass "000" on.
func TestInvalidStatusRefused(t *testing.T) {
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
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					io.WriteString(c, "HTTP/1.1 000 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	tr := validStatus{next: base}
	for _, body := range []string{"", "a body"} {
		req, _ := http.NewRequest(http.MethodPut, "http://"+ln.Addr().String()+"/", strings.NewReader(body))
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
