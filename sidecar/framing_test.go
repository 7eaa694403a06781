package sidecar

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeline writes raw to a new connection to addr in one write, as a
// pipelining client does, and reads responses until the proxy closes the
// connection. closed is false when the proxy kept the connection open
// (the read deadline passed with no more responses).
func pipeline(t *testing.T, addr, raw string) (resps []*http.Response, closed bool) {
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
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return resps, false
			}
			return resps, true // EOF or reset: the proxy closed
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resps = append(resps, resp)
	}
}

// smugglingProxy runs the proxy (real listeners, inspector included) in
// fixed mode in front of a verifying upstream.
func smugglingProxy(t *testing.T) (addr string, up *verifyingUpstream) {
	t.Helper()
	up = newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	addr, _, _, _ = runServer(t, cfg, newStaticSource())
	return addr, up
}

// wantRefusedAndClosed checks that a pipelined stream got exactly one
// answer, a 400 that says Connection: close, that the proxy then closed the
// connection, and that the upstream received wantForwarded requests.
func wantRefusedAndClosed(t *testing.T, up *verifyingUpstream, resps []*http.Response, closed bool, before int) {
	t.Helper()
	wantClosedAfter(t, up, resps, closed, before, CodeBadRequest)
}

// wantClosedAfter is wantRefusedAndClosed with the 400's code given.
func wantClosedAfter(t *testing.T, up *verifyingUpstream, resps []*http.Response, closed bool, before int, code string) {
	t.Helper()
	var statuses []int
	for _, r := range resps {
		statuses = append(statuses, r.StatusCode)
	}
	if len(resps) == 0 {
		t.Fatalf("no answer (closed %v)", closed)
	}
	last := resps[len(resps)-1]
	if last.StatusCode != http.StatusBadRequest || !last.Close || last.Header.Get(ErrorHeader) != code {
		t.Errorf("answers %v; last has Connection: close %v, code %q; want the last a 400 %s that closes", statuses, last.Close, last.Header.Get(ErrorHeader), code)
	}
	if len(resps) != before+1 {
		t.Errorf("answers %v, want %d before the 400 and none after it", statuses, before)
	}
	if !closed {
		t.Errorf("answers %v, then the proxy kept the connection open", statuses)
	}
	if n := up.count(); n != before {
		var paths []string
		up.mu.Lock()
		for _, g := range up.got {
			paths = append(paths, g.Method+" "+g.Path)
		}
		up.mu.Unlock()
		t.Errorf("upstream received %v, want %d request(s)", paths, before)
	}
}

// TestConflictingFramingClosesConnection: a request with both
// Content-Length and Transfer-Encoding was answered 400 but the connection
// stayed open, so the request hidden behind it (inside the body by one
// reading, after it by the other) was signed and forwarded. RFC 9112
// section 6.3: a server that rejects such a message must close the
// connection.
func TestConflictingFramingClosesConnection(t *testing.T) {
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	conflicting := "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	cases := []struct {
		name  string
		raw   string
		clean int // requests before the conflicting one, answered and forwarded
	}{
		// net/http reads the chunked body (empty) and then the GET.
		{"ChunkedWins", conflicting + smuggled, 0},
		// Transfer-Encoding first; by Content-Length the GET is the body.
		{"TransferEncodingFirst", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled, 0},
		// A clean request first: it is answered; nothing after the
		// conflicting one is.
		{"AfterACleanOne", "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi" + conflicting + smuggled, 1},
		// The hidden request already read by net/http with a body of its own.
		{"SmuggledPost", conflicting + "POST /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, up := smugglingProxy(t)
			resps, closed := pipeline(t, addr, tc.raw)
			wantRefusedAndClosed(t, up, resps, closed, tc.clean)
		})
	}
}

// TestHTTP10TransferEncodingDoesNotDesyncInspector: HTTP/1.0 has no
// chunked coding and net/http ignores Transfer-Encoding on it, but the
// inspector read the chunked body it announced, lost track, and then let
// a request with both Content-Length and Transfer-Encoding through, signed.
// Such a request is now refused and the connection closed.
func TestHTTP10TransferEncodingDoesNotDesyncInspector(t *testing.T) {
	conflicting := "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct{ name, raw string }{
		{"Chunked", "GET /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + conflicting + smuggled},
		{"Gzip", "GET /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: gzip\r\n\r\n" + conflicting + smuggled},
		{"WithContentLength", "POST /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello" + conflicting + smuggled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, up := smugglingProxy(t)
			resps, closed := pipeline(t, addr, tc.raw)
			wantRefusedAndClosed(t, up, resps, closed, 0)
		})
	}
}

// TestInspectorFailsClosed: wherever the inspector is unsure of a message's
// framing it refuses the message and closes the connection; it used to
// stop recording and let every later request through.
func TestInspectorFailsClosed(t *testing.T) {
	conflicting := "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	long := strings.Repeat("a", 5000)
	cases := []struct {
		name, raw string
		code      string // "" when net/http answers (or closes) before the proxy
	}{
		// net/http unfolds "Transfer-Encoding: chunked"; the inspector
		// cannot be sure what a folded line means.
		{"ObsFoldTransferEncoding", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + conflicting + smuggled, CodeBadRequest},
		{"ObsFoldContentLength", "POST /a HTTP/1.1\r\nHost: x\r\nX-A: b\r\n Content-Length: 5\r\n\r\nhello" + conflicting + smuggled, CodeBadRequest},
		{"VersionOneDotTwo", "POST /a HTTP/1.2\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + conflicting + smuggled, CodeBadRequest},
		{"ChunkSizeBareLF", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + conflicting + smuggled, CodeBodyReadFailed},
		{"ChunkSizeNotHex", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n" + conflicting + smuggled, CodeBodyReadFailed},
		{"ChunkDataWithoutCRLF", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" + conflicting + smuggled, CodeBodyReadFailed},
		// net/http gives up on a chunk-size line of 4096 bytes; where it
		// would read on from is the start of a request.
		{"ChunkSizeLineTooLong", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;" + long[:4094] + smuggled + "\r\nhello\r\n0\r\n\r\n" + smuggled, CodeBodyReadFailed},
		{"TrailerObsFold", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n" + conflicting + smuggled, CodeBodyReadFailed},
		{"DuplicateContentLength", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello" + smuggled, ""},
		{"TransferEncodingNotChunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, up := smugglingProxy(t)
			resps, closed := pipeline(t, addr, tc.raw)
			if tc.code != "" {
				wantClosedAfter(t, up, resps, closed, 0, tc.code)
				return
			}
			var statuses []int
			for _, r := range resps {
				statuses = append(statuses, r.StatusCode)
			}
			if len(resps) != 1 || resps[0].StatusCode < 400 || !closed || up.count() != 0 {
				t.Errorf("answers %v, closed %v, upstream received %d; want one error, the connection closed, nothing forwarded", statuses, closed, up.count())
			}
		})
	}
}

// strictMessage is one request as strictFrames frames it.
type strictMessage struct {
	method, target string
	body           []byte
}

var (
	strictRequestLine = regexp.MustCompile("^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\x00-\x20\x7f]+) HTTP/1\\.([01])$")
	strictField       = regexp.MustCompile("^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*$")
	strictChunkSize   = regexp.MustCompile("^([0-9A-Fa-f]{1,15})[ \t]*(;[^\r\n]*)?$")
)

// strictFrames frames a client's byte stream by RFC 9112 alone, written
// apart from the inspector and from net/http, and stops at the first
// message it is not sure of: a line or version it does not know, an
// obs-fold, Transfer-Encoding on HTTP/1.0 or beside Content-Length or other
// than one "chunked", Content-Length values that differ, a chunk not ended
// by CRLF, or a message cut short. What it returns is every request the
// client framed unambiguously, in order.
func strictFrames(data []byte) []strictMessage {
	var out []strictMessage
	s := string(data)
	for {
		m, rest, ok := strictFrame(s)
		if !ok {
			return out
		}
		out = append(out, m)
		s = rest
	}
}

func strictFrame(s string) (m strictMessage, rest string, ok bool) {
	// A head: lines ending in LF (a CR before it dropped), up to an empty one.
	headLine := func() (string, bool) {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return "", false
		}
		line := strings.TrimSuffix(s[:i], "\r")
		s = s[i+1:]
		return line, true
	}
	line, ok := headLine()
	if !ok {
		return m, "", false
	}
	rl := strictRequestLine.FindStringSubmatch(line)
	if rl == nil {
		return m, "", false
	}
	m.method, m.target = rl[1], rl[2]
	http10 := rl[3] == "0"
	var lengths, encodings []string
	for {
		line, ok := headLine()
		if !ok {
			return m, "", false
		}
		if line == "" {
			break
		}
		f := strictField.FindStringSubmatch(line)
		if f == nil {
			return m, "", false
		}
		switch strings.ToLower(f[1]) {
		case "content-length":
			lengths = append(lengths, f[2])
		case "transfer-encoding":
			encodings = append(encodings, f[2])
		}
	}
	switch {
	case len(encodings) > 0:
		if http10 || len(lengths) > 0 || len(encodings) > 1 || !strings.EqualFold(encodings[0], "chunked") {
			return m, "", false
		}
		for {
			i := strings.Index(s, "\r\n")
			if i < 0 {
				return m, "", false
			}
			cs := strictChunkSize.FindStringSubmatch(s[:i])
			if cs == nil {
				return m, "", false
			}
			s = s[i+2:]
			n, err := strconv.ParseInt(cs[1], 16, 64)
			if err != nil {
				return m, "", false
			}
			if n == 0 {
				break
			}
			if int64(len(s)) < n+2 || s[n:n+2] != "\r\n" {
				return m, "", false
			}
			m.body = append(m.body, s[:n]...)
			s = s[n+2:]
		}
		for { // trailer fields, each ending in CRLF
			i := strings.Index(s, "\r\n")
			if i < 0 {
				return m, "", false
			}
			field := s[:i]
			s = s[i+2:]
			if field == "" {
				break
			}
			if strings.ContainsAny(field, "\r\n") || strictField.FindStringSubmatch(field) == nil {
				return m, "", false
			}
		}
	case len(lengths) > 0:
		for _, l := range lengths[1:] {
			if l != lengths[0] {
				return m, "", false
			}
		}
		n, err := strconv.ParseInt(lengths[0], 10, 64)
		if err != nil || lengths[0][0] == '+' || int64(len(s)) < n {
			return m, "", false
		}
		m.body = []byte(s[:n])
		s = s[n:]
	}
	return m, s, true
}

// smugglingSeeds are pipelined streams in the shapes of request
// smuggling, each followed by a plain request.
func smugglingSeeds() []string {
	get := "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
	return []string{
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: v\r\n\r\n" + get,
		// CL+TE and TE+CL.
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 35\r\n\r\n0\r\n\r\n" + get,
		// HTTP/1.0 with Transfer-Encoding, then a conflicting request.
		"GET /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc" + get,
		// Duplicate Content-Length, equal and not.
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc" + get,
		// Chunk-size oddities.
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0005 \r\nhello\r\n00\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n" + get,
		// obs-fold, in the head and in a trailer.
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n" + get,
		// Bare LF in the head, in a chunk line and ending a trailer.
		"POST /a HTTP/1.1\nHost: x\nContent-Length: 2\n\nhi" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n" + get,
		// Bare CR, OPTIONS *, an unknown version.
		"POST /a HTTP/1.1\r\nHost: x\rContent-Length: 2\r\n\r\nhi" + get,
		"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + get,
		"POST /a HTTP/1.2\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi" + get,
	}
}

// forwarded is what the recording upstream received of one request.
type forwarded struct {
	method, path string
	body         []byte
	signed       bool
}

// FuzzFramingAgainstNetHTTP writes arbitrary bytes, as one pipelining
// client, to the proxy (the inspector on its listener, as serve runs it)
// in front of an upstream that records what it receives, and checks that
// the requests the upstream receives are, in order, requests that
// strictFrames says the client framed: never a request hidden in another's
// body or made of bytes framed two ways. Each input runs against its own
// proxy and upstream on loopback, bounded by a 2 s read deadline.
func FuzzFramingAgainstNetHTTP(f *testing.F) {
	for _, seed := range smugglingSeeds() {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // keep each iteration short; the shapes that matter are small
		}
		framed := strictFrames(data)

		var mu sync.Mutex
		var got []forwarded
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, forwarded{r.Method, r.URL.Path, body, strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ")})
			mu.Unlock()
			io.WriteString(w, "ok")
		}))
		defer up.Close()
		cfg := testConfig()
		cfg.Upstream, cfg.Service, cfg.Region = up.URL, "sqs", "us-east-1"
		p, err := New(cfg, newStaticSource(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		// The client half-closes after its bytes, so the proxy serves
		// every request it can frame and then closes; its handlers ignore
		// that the client stopped sending, which would otherwise cancel a
		// request before it is forwarded and hide what the proxy would do.
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
		}))
		srv.Listener = framingListener{srv.Listener}
		srv.Config.ConnContext = withInspector
		srv.Config.MaxHeaderBytes = int(cfg.MaxHeaderBytes)
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.Start()

		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		conn.Write(data)
		conn.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, conn) // the answers, until the proxy closes
		conn.Close()
		srv.Close() // waits for the proxy's handlers
		up.Close()  // and for the upstream's

		mu.Lock()
		defer mu.Unlock()
		next := 0
		for _, g := range got {
			matched := false
			for next < len(framed) && !matched {
				m := framed[next]
				next++
				u, err := url.ParseRequestURI(m.target)
				// A target without a leading slash ("*") is joined to
				// the upstream's path with one.
				matched = err == nil && m.method == g.method && bytes.Equal(m.body, g.body) &&
					strings.TrimPrefix(u.Path, "/") == strings.TrimPrefix(g.path, "/")
			}
			if !matched {
				t.Fatalf("the upstream received %s %q with body %q (signed %v), which the client did not frame as the next request;\nframed: %+v\nreceived: %+v", g.method, g.path, g.body, g.signed, framed, got)
			}
		}
	})
}

// TestInspectorFraming feeds the inspector byte streams and checks what it
// records and how much of each it hands on.
func TestInspectorFraming(t *testing.T) {
	clean := func(line string) headRecord { return headRecord{requestLine: line} }
	chunkedHead := "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	optionsHead := "OPTIONS * HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
	tinyChunk := "1;" + strings.Repeat("e", 200) + "\r\nx\r\n"
	cases := []struct {
		name    string
		in      string
		records []headRecord
		handed  int // bytes handed on; -1 for all
	}{
		{"Pipelined", "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b?q HTTP/1.0\n\n", []headRecord{clean("POST /a"), clean("GET /b?q")}, -1},
		{"EqualContentLengths", "POST /a HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nhi", []headRecord{clean("POST /a")}, -1},
		{"ChunkedWithTrailer", "POST /a HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n2;x=y\r\nhi\r\n002 \r\nho\r\n0\r\nT: v\r\n\r\nGET /b HTTP/1.1\r\n\r\n", []headRecord{clean("POST /a"), clean("GET /b")}, -1},
		{"OptionsStarIsNotRecorded", "OPTIONS * HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", []headRecord{clean("GET /b")}, -1},
		{"UnicodeFoldIsNotTransferEncoding", "POST /a HTTP/1.1\r\nTran\u017ffer-Encoding: chunked\r\n\r\n", []headRecord{{"POST /a", "a header name that is not a token"}}, -1},
		{"ContentLengthSign", "POST /a HTTP/1.1\r\nContent-Length: +2\r\n\r\nhi", []headRecord{{"POST /a", "Content-Length is not a decimal number"}}, -1},
		{"HeaderNameWithSpace", "POST /a HTTP/1.1\r\nContent-Length : 2\r\n\r\nhi", []headRecord{{"POST /a", "a header name that is not a token"}}, -1},
		{"TransferEncodingTwice", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", []headRecord{{"POST /a", "more than one Transfer-Encoding header"}}, -1},
		{"NothingRecordedAfterARefusal", "POST /a HTTP/1.2\r\n\r\nGET /b HTTP/1.1\r\n\r\n", []headRecord{{"POST /a", "the HTTP version is not HTTP/1.0 or HTTP/1.1"}}, -1},
		// net/http answers OPTIONS * itself and reads on: the bytes after
		// a refused one are withheld.
		{"RefusedOptionsStarStops", optionsHead + "0\r\n\r\n", []headRecord{{"OPTIONS *", "Transfer-Encoding on an HTTP/1.0 request, which has no chunked coding (RFC 9112 section 6.1)"}}, len(optionsHead)},
		// The rest are withheld from the byte that cannot be followed.
		{"EmptyLineFirst", "\r\nGET / HTTP/1.1\r\n\r\n", nil, 1},
		{"ChunkSizeSpaceBeforeExtension", chunkedHead + "2 ;x\r\nhi\r\n0\r\n\r\n", []headRecord{clean("POST /a")}, len(chunkedHead + "2 ;x\r")},
		{"ChunkSizeTooLarge", chunkedHead + "10000000000\r\n", []headRecord{clean("POST /a")}, len(chunkedHead + "10000000000\r")},
		{"ChunkEndBareLF", chunkedHead + "2\r\nhi\n0\r\n\r\n", []headRecord{clean("POST /a")}, len(chunkedHead + "2\r\nhi")},
		{"TrailerBareLF", chunkedHead + "0\r\n\nGET /b HTTP/1.1\r\n\r\n", []headRecord{clean("POST /a")}, len(chunkedHead + "0\r\n")},
		// Each chunk brings 186 bytes of framing beyond net/http's allowance;
		// the 89th goes over 16 KiB.
		{"TooMuchChunkFraming", chunkedHead + strings.Repeat(tinyChunk, 100), []headRecord{clean("POST /a")}, len(chunkedHead) + 88*len(tinyChunk) + len(tinyChunk) - len("\nx\r\n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &connInspector{}
			handed := c.feed([]byte(tc.in))
			want := tc.handed
			if want < 0 {
				want = len(tc.in)
			}
			if handed != want || !reflect.DeepEqual(c.records, tc.records) {
				t.Errorf("handed on %d bytes, recorded %q; want %d, %q", handed, c.records, want, tc.records)
			}
			if (handed < len(tc.in)) != (c.err != nil) {
				t.Errorf("handed on %d of %d bytes with failure %v", handed, len(tc.in), c.err)
			}
		})
	}
}

// FuzzInspectorAgainstNetHTTP is FuzzFramingAgainstNetHTTP without the
// proxy's other checks: one net/http server with the inspector on its
// listener, whose handler admits each request as the proxy does and records
// it once its body is read. With nothing else to refuse a request, what it
// records on a connection must be exactly a prefix of what strictFrames
// says the client framed (less OPTIONS *, which net/http answers itself):
// a request net/http serves out of step with the inspector shows up as the
// wrong request at its place.
func FuzzInspectorAgainstNetHTTP(f *testing.F) {
	for _, seed := range smugglingSeeds() {
		f.Add([]byte(seed))
	}
	type connLog struct {
		mu   sync.Mutex
		got  []strictMessage
		done chan struct{}
	}
	var conns sync.Map // the client's address -> *connLog
	logFor := func(addr string) *connLog {
		l, _ := conns.LoadOrStore(addr, &connLog{done: make(chan struct{})})
		return l.(*connLog)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := r.Context().Value(smugglingKey{}).(*connInspector).admit(r.Method, r.RequestURI); err != nil {
				closeAfter{w}.WriteHeader(http.StatusBadRequest)
				return
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				return // never forwarded: the proxy needs the whole body
			}
			l := logFor(r.RemoteAddr)
			l.mu.Lock()
			l.got = append(l.got, strictMessage{r.Method, r.RequestURI, body})
			l.mu.Unlock()
		}),
		ConnContext: withInspector,
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateClosed {
				close(logFor(c.RemoteAddr().String()).done)
			}
		},
		MaxHeaderBytes: int(testConfig().MaxHeaderBytes),
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go srv.Serve(framingListener{ln})
	f.Cleanup(func() { srv.Close() })

	f.Fuzz(func(t *testing.T, data []byte) {
		var framed []strictMessage
		for _, m := range strictFrames(data) {
			if m.method != "OPTIONS" || m.target != "*" {
				framed = append(framed, m)
			}
		}
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		l := logFor(conn.LocalAddr().String())
		defer conns.Delete(conn.LocalAddr().String())
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write(data)
		conn.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, conn)
		conn.Close()
		select {
		case <-l.done: // every handler on the connection has returned
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not close the connection 10 s after the client did")
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, g := range l.got {
			if i >= len(framed) || g.method != framed[i].method || g.target != framed[i].target || !bytes.Equal(g.body, framed[i].body) {
				t.Fatalf("request %d served was %s %q with body %q, which the client did not frame there;\nframed: %q\nserved: %q", i, g.method, g.target, g.body, framed, l.got)
			}
		}
	})
}

func FuzzConnInspector(f *testing.F) {
	f.Add([]byte("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n"), 3)
	f.Add([]byte("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n1\r\na\r\n0\r\n\r\n"), 7)
	f.Add([]byte("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;x\r\na\r\n0\r\nT: v\r\n\r\nGET / HTTP/1.0\n\n"), 60)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		// Feeding in any split must hand on the same bytes and give the
		// same records and failure as feeding whole, and never panic.
		whole := &connInspector{}
		wholeN := whole.feed(data)
		parts := &connInspector{}
		if split < 0 {
			split = -split
		}
		cut := 0
		if len(data) > 0 {
			cut = split % (len(data) + 1)
		}
		partsN := parts.feed(data[:cut])
		if partsN == cut {
			partsN += parts.feed(data[cut:])
		}
		if wholeN != partsN || !reflect.DeepEqual(whole.records, parts.records) || !reflect.DeepEqual(whole.err, parts.err) {
			t.Fatalf("whole: %d bytes, %v, %v; split at %d: %d bytes, %v, %v", wholeN, whole.records, whole.err, cut, partsN, parts.records, parts.err)
		}
	})
}
