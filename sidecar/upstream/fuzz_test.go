package upstream

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// FuzzAgainstNetHTTP sends one GET to an upstream that answers with the
// fuzzed bytes and hangs up, once through this transport and once through
// net/http's: both must fail, or both give the same status, header and body.
// 101 answers are left out (net/http hands the connection over; we refuse
// an upgrade nobody asked for), and a status outside 100-999 must be an
// error here where net/http passes it on.
func FuzzAgainstNetHTTP(f *testing.F) {
	for _, seed := range []string{
		okResponse,
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + okResponse,
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: 7\r\n\r\n<Error>",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		if bytes.Contains(answer, []byte(" 101")) {
			return // outside what is compared: upgrades go to the fallback by design
		}
		// In-memory connections: a fuzzer's thousands of exchanges a
		// second would run out of loopback ports.
		dial := func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				if _, ok := readRequest(bufio.NewReader(server)); ok {
					server.Write(answer)
				}
			}()
			return client, nil
		}
		ours := newTransport(t, nil)
		ours.Dial = dial
		ours.MaxResponseHeaderBytes = 64 << 10
		theirs := &http.Transport{DialContext: dial, MaxResponseHeaderBytes: 64 << 10, DisableCompression: true}
		t.Cleanup(theirs.CloseIdleConnections)
		const url = "http://upstream.test/"
		a, aErr := exchange(ours, url)
		b, bErr := exchange(theirs, url)
		if bErr == nil && (b.Status < 100 || b.Status > 999) {
			// net/http passes these on; ours refuses them (see roundTrip).
			if aErr == nil {
				t.Fatalf("answer %q: status %d accepted", answer, a.Status)
			}
			return
		}
		if (aErr == nil) != (bErr == nil) {
			t.Fatalf("answer %q:\nours:     %v %v\nnet/http: %v %v", answer, a, aErr, b, bErr)
		}
		if aErr == nil && !reflect.DeepEqual(a, b) {
			t.Fatalf("answer %q:\nours:     %+v\nnet/http: %+v", answer, a, b)
		}
	})
}

// outcome is what a proxy passes on of an answer.
type outcome struct {
	Status        int
	Header        http.Header
	ContentLength int64
	Body          string
	BodyErr       bool
	Trailer       http.Header
}

func exchange(rt http.RoundTripper, url string) (outcome, error) {
	req, _ := http.NewRequest("GET", url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return outcome{}, err
	}
	defer resp.Body.Close()
	done := make(chan struct{})
	var body []byte
	var bodyErr error
	go func() {
		body, bodyErr = io.ReadAll(resp.Body)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return outcome{}, io.ErrNoProgress
	}
	return outcome{Status: resp.StatusCode, Header: resp.Header, ContentLength: resp.ContentLength,
		Body: string(body), BodyErr: bodyErr != nil, Trailer: resp.Trailer}, nil
}
