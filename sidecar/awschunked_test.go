package sidecar

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// The client's own keys: the proxy never has them, so nothing it forwards
// may still be signed with them.
var clientKeys = signer.Credentials{AccessKeyID: "AKIDCLIENTOWNKEY0001", SecretAccessKey: "client-secret-the-proxy-never-sees"}

// streamedUpload is what streamVerifyingUpstream saw of one upload.
type streamedUpload struct {
	header           http.Header
	contentLength    int64
	transferEncoding []string
	raw              []byte // the body as it came, framing included
	decoded          []byte // the payload, as signer.VerifyStreaming decodes it
	err              error  // the verifier's, or a failed read
}

// streamVerifyingUpstream checks every request with signer.VerifyStreaming
// under the proxy's keys: the seed signature, then, as the body is read,
// every chunk signature, the trailer signature and checksum and the decoded
// length. It answers 200 only when all of that holds.
type streamVerifyingUpstream struct {
	*httptest.Server
	mu  sync.Mutex
	got []streamedUpload
}

func newStreamVerifyingUpstream(t *testing.T) *streamVerifyingUpstream {
	u := &streamVerifyingUpstream{}
	lookup := func(id string) (signer.Credentials, bool) {
		return signer.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken}, id == testKeyID
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := streamedUpload{header: r.Header.Clone(), contentLength: r.ContentLength, transferEncoding: r.TransferEncoding}
		var raw bytes.Buffer
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, &raw), r.Body}
		_, rec.err = signer.New(nil).VerifyStreaming(r, lookup, signer.VerifyOptions{Now: time.Now(), Service: "s3", Region: "us-east-1"})
		if rec.err == nil {
			rec.decoded, rec.err = io.ReadAll(r.Body)
		}
		if rec.err == nil && r.Header.Get("X-Amz-Content-Sha256") != signer.StreamingUnsignedPayloadTrailer &&
			!strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
			rec.err = errors.New("X-Amz-Content-Sha256 " + r.Header.Get("X-Amz-Content-Sha256") + " is not an aws-chunked form")
		}
		rec.raw = raw.Bytes()
		u.mu.Lock()
		u.got = append(u.got, rec)
		u.mu.Unlock()
		if rec.err != nil {
			http.Error(w, rec.err.Error(), http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *streamVerifyingUpstream) uploads() []streamedUpload {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]streamedUpload(nil), u.got...)
}

// clientUpload is an aws-chunked upload as an SDK sends it: the body
// encoded and signed with the client's keys, and its headers.
type clientUpload struct {
	body   []byte
	header http.Header
}

func newClientUpload(t testing.TB, payload []byte, so signer.StreamingOptions) clientUpload {
	t.Helper()
	so.DecodedLength = int64(len(payload))
	req, _ := http.NewRequest(http.MethodPut, "http://bucket.s3.us-east-1.amazonaws.com/key", bytes.NewReader(payload))
	if _, err := signer.New(nil).SignStreaming(req, clientKeys, signer.Options{Service: "s3", Region: "us-east-1", Time: time.Now()}, so); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return clientUpload{body: body, header: req.Header}
}

// request builds the client's PUT to the proxy; knownLength false sends it
// with Transfer-Encoding: chunked and no Content-Length, as the JavaScript
// SDK v3 does.
func (c clientUpload) request(t testing.TB, proxyURL string, body []byte, knownLength bool) *http.Request {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if !knownLength {
		r = io.MultiReader(r) // hides the length from net/http
	}
	req, err := http.NewRequest(http.MethodPut, proxyURL+"/bucket/key", r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header.Clone()
	if !knownLength {
		req.ContentLength = -1
	}
	return req
}

func chunkedProxy(t *testing.T, upstreamURL string) string {
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = upstreamURL, "s3", "us-east-1"
	srv, _ := startProxy(t, cfg, newStaticSource())
	return srv.URL
}

func sendTo(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// testPayload is n bytes that are not all alike.
func testPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// TestClientAwsChunkedUploadIsNotStoredFramed is the bug: a client (the
// JavaScript SDK v3, others with checksums on) sends its own
// STREAMING-UNSIGNED-PAYLOAD-TRAILER upload. The proxy used to drop the
// streaming marker and sign a hash of the framed bytes, so the upstream saw
// a plain body made of the chunk framing: MinIO refused it, SeaweedFS
// stored the framing as the object. The upstream must receive an
// aws-chunked upload, signed with the proxy's keys, that decodes to the
// client's payload with the client's checksum.
func TestClientAwsChunkedUploadIsNotStoredFramed(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	proxy := chunkedProxy(t, up.URL)
	payload := testPayload(2500)
	c := newClientUpload(t, payload, signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32"})
	for _, known := range []bool{true, false} {
		resp, body := sendTo(t, c.request(t, proxy, c.body, known))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("known length %v: status %d: %s", known, resp.StatusCode, body)
		}
		got := up.uploads()[len(up.uploads())-1]
		if got.err != nil || !bytes.Equal(got.decoded, payload) {
			t.Fatalf("known length %v: upstream: %v; decoded %d bytes (%q...), want the %d-byte payload",
				known, got.err, len(got.decoded), got.decoded[:min(len(got.decoded), 8)], len(payload))
		}
	}
}

// TestClientAwsChunkedUnsignedIsPassedThrough: the unsigned trailer form
// reaches the upstream byte for byte, framing and trailer included, with
// the client's aws-chunked headers signed by the proxy, with and without a
// Content-Length, in one chunk or many.
func TestClientAwsChunkedUnsignedIsPassedThrough(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	proxy := chunkedProxy(t, up.URL)
	for _, size := range []int{0, 1, 200 << 10} {
		for _, trailer := range []string{"x-amz-checksum-crc32", "x-amz-checksum-sha256"} {
			for _, known := range []bool{true, false} {
				payload := testPayload(size)
				c := newClientUpload(t, payload, signer.StreamingOptions{Unsigned: true, Trailer: trailer, ChunkSize: signer.MinChunkSize})
				resp, body := sendTo(t, c.request(t, proxy, c.body, known))
				name := strconv.Itoa(size) + " " + trailer + " known " + strconv.FormatBool(known)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d: %s", name, resp.StatusCode, body)
				}
				got := up.uploads()[len(up.uploads())-1]
				switch {
				case got.err != nil:
					t.Fatalf("%s: upstream: %v", name, got.err)
				case !bytes.Equal(got.raw, c.body):
					t.Fatalf("%s: upstream received %d bytes that differ from the client's %d", name, len(got.raw), len(c.body))
				case !bytes.Equal(got.decoded, payload):
					t.Fatalf("%s: decoded payload differs", name)
				}
				for _, h := range []string{"X-Amz-Content-Sha256", "Content-Encoding", "X-Amz-Decoded-Content-Length", "X-Amz-Trailer"} {
					if got.header.Get(h) != c.header.Get(h) {
						t.Errorf("%s: %s %q, the client sent %q", name, h, got.header.Get(h), c.header.Get(h))
					}
					if !strings.Contains(strings.Split(got.header.Get("Authorization"), "SignedHeaders=")[1], strings.ToLower(h)) {
						t.Errorf("%s: %s not signed: %s", name, h, got.header.Get("Authorization"))
					}
				}
			}
		}
	}
}

// TestClientAwsChunkedSignedFormsAreResigned: chunks the client signed
// with its own keys are decoded and signed again with the proxy's; the
// upstream's verifier, which knows only the proxy's keys, accepts every
// chunk and the trailer, and the client's trailer value arrives as sent.
func TestClientAwsChunkedSignedFormsAreResigned(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	proxy := chunkedProxy(t, up.URL)
	for _, size := range []int{0, 5, 300 << 10} {
		for _, so := range []signer.StreamingOptions{
			{ChunkSize: signer.MinChunkSize},
			{ChunkSize: 100 << 10, Trailer: "x-amz-checksum-crc32c"},
			{ChunkSize: signer.MinChunkSize, Trailer: "x-amz-checksum-sha1"},
		} {
			for _, known := range []bool{true, false} {
				payload := testPayload(size)
				c := newClientUpload(t, payload, so)
				name := strconv.Itoa(size) + " " + c.header.Get("X-Amz-Content-Sha256") + " " + so.Trailer + " known " + strconv.FormatBool(known)
				resp, body := sendTo(t, c.request(t, proxy, c.body, known))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d: %s", name, resp.StatusCode, body)
				}
				got := up.uploads()[len(up.uploads())-1]
				if got.err != nil || !bytes.Equal(got.decoded, payload) {
					t.Fatalf("%s: upstream: %v, decoded %d of %d bytes", name, got.err, len(got.decoded), len(payload))
				}
				if got.header.Get("X-Amz-Content-Sha256") != c.header.Get("X-Amz-Content-Sha256") {
					t.Errorf("%s: forwarded as %s", name, got.header.Get("X-Amz-Content-Sha256"))
				}
				if so.Trailer != "" {
					line := so.Trailer + ":" + trailerValue(c.body, so.Trailer)
					if !bytes.Contains(got.raw, []byte(line+"\r\n")) {
						t.Errorf("%s: the client's trailer %q did not arrive", name, line)
					}
				}
				if bytes.Contains(got.raw, []byte(chunkSignatureOf(c.body))) {
					t.Errorf("%s: a chunk signature made with the client's keys was forwarded", name)
				}
			}
		}
	}
}

func trailerValue(body []byte, name string) string {
	_, rest, _ := bytes.Cut(body, []byte(name+":"))
	v, _, _ := bytes.Cut(rest, []byte("\r\n"))
	return string(v)
}

func chunkSignatureOf(body []byte) string {
	_, rest, _ := bytes.Cut(body, []byte("chunk-signature="))
	return string(rest[:64])
}

// TestClientAwsChunkedWrongChecksumReachesUpstream: the proxy does not
// judge the client's checksum; a wrong one reaches the upstream, whose
// verifier rejects it as it would the client's own request.
func TestClientAwsChunkedWrongChecksumReachesUpstream(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	proxy := chunkedProxy(t, up.URL)
	for _, so := range []signer.StreamingOptions{
		{Unsigned: true, Trailer: "x-amz-checksum-crc32"},
		{Trailer: "x-amz-checksum-crc32"},
	} {
		c := newClientUpload(t, testPayload(20000), so)
		i := bytes.Index(c.body, []byte("x-amz-checksum-crc32:")) + len("x-amz-checksum-crc32:")
		c.body[i] ^= 'A' ^ 'B'
		resp, _ := sendTo(t, c.request(t, proxy, c.body, true))
		got := up.uploads()[len(up.uploads())-1]
		var ve *signer.VerifyError
		if resp.StatusCode != http.StatusForbidden || !errors.As(got.err, &ve) || ve.Reason != signer.ReasonPayloadMismatch {
			t.Fatalf("%s: status %d, upstream %v; want the upstream's checksum mismatch", c.header.Get("X-Amz-Content-Sha256"), resp.StatusCode, got.err)
		}
	}
}

// TestClientAwsChunkedBadFramingFailsClosed: a body whose framing does not
// match its headers is answered 400 by the proxy, and the upstream never
// receives a complete body (its read fails, or it sees nothing).
func TestClientAwsChunkedBadFramingFailsClosed(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	proxy := chunkedProxy(t, up.URL)
	payload := testPayload(40000)
	for _, tc := range []struct {
		name string
		so   signer.StreamingOptions
		bend func(c *clientUpload) []byte
	}{
		{"decoded length larger than the chunks", signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32"}, func(c *clientUpload) []byte {
			c.header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(payload)+1))
			return c.body
		}},
		{"decoded length smaller than the chunks", signer.StreamingOptions{Trailer: "x-amz-checksum-crc32"}, func(c *clientUpload) []byte {
			c.header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(payload)-1))
			return c.body
		}},
		{"trailer other than announced", signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32"}, func(c *clientUpload) []byte {
			c.header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
			return c.body
		}},
		{"a second body after the end", signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32"}, func(c *clientUpload) []byte {
			return append(append([]byte(nil), c.body...), "5\r\nextra\r\n"...)
		}},
		{"garbage after the end, signed", signer.StreamingOptions{}, func(c *clientUpload) []byte {
			return append(append([]byte(nil), c.body...), 'x')
		}},
		{"truncated", signer.StreamingOptions{Trailer: "x-amz-checksum-sha256"}, func(c *clientUpload) []byte {
			return c.body[:len(c.body)-3]
		}},
	} {
		for _, known := range []bool{true, false} {
			t.Run(tc.name+" known "+strconv.FormatBool(known), func(t *testing.T) {
				before := len(up.uploads())
				c := newClientUpload(t, payload, tc.so)
				body := tc.bend(&c)
				resp, msg := sendTo(t, c.request(t, proxy, body, known))
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeBodyReadFailed {
					t.Errorf("status %d %q: %s", resp.StatusCode, resp.Header.Get(ErrorHeader), msg)
				}
				if !strings.Contains(msg, "aws-chunked") {
					t.Errorf("the answer does not say what was wrong: %s", msg)
				}
				// The upstream's handler may still be reading when the
				// proxy answers: give it time to record what it saw.
				deadline := time.Now().Add(5 * time.Second)
				for len(up.uploads()) == before && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				for _, u := range up.uploads()[before:] {
					if u.err == nil {
						t.Errorf("the upstream accepted a complete body of %d bytes", len(u.raw))
					}
				}
			})
		}
	}
}

// TestClientAwsChunkedRefused: what the proxy cannot forward faithfully is
// answered 400 with what was wrong, and nothing reaches the upstream.
func TestClientAwsChunkedRefused(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	proxy := chunkedProxy(t, up.URL)
	base := newClientUpload(t, testPayload(100), signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32"})
	for _, tc := range []struct {
		name, want string
		edit       func(h http.Header)
	}{
		{"SigV4a chunks", "SigV4a", func(h http.Header) { h.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD") }},
		{"SigV4a chunks with trailer", "SigV4a", func(h http.Header) {
			h.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")
		}},
		{"unknown streaming form", "STREAMING-UNSIGNED-PAYLOAD", func(h http.Header) { h.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD") }},
		{"aws-chunked with a hex hash", "needs a STREAMING-*", func(h http.Header) { h.Set("X-Amz-Content-Sha256", signer.EmptyPayloadHash) }},
		{"aws-chunked with UNSIGNED-PAYLOAD", "needs a STREAMING-*", func(h http.Header) { h.Set("X-Amz-Content-Sha256", signer.UnsignedPayload) }},
		{"aws-chunked without X-Amz-Content-Sha256", "needs a STREAMING-*", func(h http.Header) { h.Del("X-Amz-Content-Sha256") }},
		{"aws-chunked among other encodings", "needs a STREAMING-*", func(h http.Header) {
			h.Set("Content-Encoding", "gzip, aws-chunked")
			h.Del("X-Amz-Content-Sha256")
		}},
		{"no decoded length", "X-Amz-Decoded-Content-Length", func(h http.Header) { h.Del("X-Amz-Decoded-Content-Length") }},
		{"decoded length not a number", "X-Amz-Decoded-Content-Length", func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "12abc") }},
		{"negative decoded length", "X-Amz-Decoded-Content-Length", func(h http.Header) { h.Set("X-Amz-Decoded-Content-Length", "-1") }},
		{"trailer form without X-Amz-Trailer", "without X-Amz-Trailer", func(h http.Header) { h.Del("X-Amz-Trailer") }},
		{"two trailers", "X-Amz-Trailer", func(h http.Header) { h.Set("X-Amz-Trailer", "x-amz-checksum-crc32,x-amz-checksum-sha1") }},
		{"signed trailer the proxy cannot compute the length of", "re-sign", func(h http.Header) {
			h.Set("X-Amz-Content-Sha256", signer.StreamingPayloadTrailer)
			h.Set("X-Amz-Trailer", "x-amz-checksum-md5")
		}},
		{"trailer with the form that has none", "X-Amz-Trailer", func(h http.Header) { h.Set("X-Amz-Content-Sha256", signer.StreamingPayload) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(up.uploads())
			c := clientUpload{body: base.body, header: base.header.Clone()}
			tc.edit(c.header)
			resp, msg := sendTo(t, c.request(t, proxy, c.body, true))
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeBadRequest || !strings.Contains(msg, tc.want) {
				t.Errorf("status %d %q, want 400 %s naming %q: %s", resp.StatusCode, resp.Header.Get(ErrorHeader), CodeBadRequest, tc.want, msg)
			}
			if n := len(up.uploads()); n != before {
				t.Errorf("the upstream received the request")
			}
		})
	}
	// An empty body cannot be aws-chunked: refused, never signed as empty.
	c := clientUpload{header: base.header.Clone()}
	resp, msg := sendTo(t, c.request(t, proxy, nil, true))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "empty body") {
		t.Errorf("empty aws-chunked body: status %d: %s", resp.StatusCode, msg)
	}
}

// TestFramingCheckNeverForwardsACompleteBadBody: the pass-through forwards
// only bytes its decoder has parsed and keeps the last one until the end
// is confirmed, so a body that goes wrong at its very end (a second body
// after the first, a trailer other than announced, a length that does not
// add up) never leaves whole, even to an upstream that would stop reading
// at the end of the first aws-chunked body.
func TestFramingCheckNeverForwardsACompleteBadBody(t *testing.T) {
	c := newClientUpload(t, testPayload(3000), signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32", ChunkSize: signer.MinChunkSize})
	good := signer.DecodeOptions{DecodedLength: 3000, Trailer: "x-amz-checksum-crc32"}
	for _, tc := range []struct {
		name string
		body []byte
		o    signer.DecodeOptions
	}{
		{"second body after the end", append(append([]byte(nil), c.body...), "5\r\nextra\r\n0\r\n\r\n"...), good},
		{"one byte after the end", append(append([]byte(nil), c.body...), 'x'), good},
		{"other trailer", c.body, signer.DecodeOptions{DecodedLength: 3000, Trailer: "x-amz-checksum-sha1"}},
		{"decoded length too large", c.body, signer.DecodeOptions{DecodedLength: 3001, Trailer: "x-amz-checksum-crc32"}},
	} {
		for _, step := range []int{1, 7, 64 << 10} {
			out, err := readInSteps(newFramingCheck(io.NopCloser(bytes.NewReader(tc.body)), tc.o), step)
			if !errors.As(err, new(*signer.FramingError)) {
				t.Fatalf("%s, reads of %d: err %v, want a *signer.FramingError", tc.name, step, err)
			}
			if len(out) >= len(c.body) || !bytes.Equal(out, c.body[:len(out)]) {
				t.Fatalf("%s, reads of %d: forwarded %d bytes of a %d-byte body before failing", tc.name, step, len(out), len(c.body))
			}
		}
	}
	f := newFramingCheck(io.NopCloser(bytes.NewReader(c.body)), good)
	if out, err := readInSteps(f, 3); err != nil || !bytes.Equal(out, c.body) {
		t.Fatalf("well-formed body: %d bytes, %v", len(out), err)
	}
}

func readInSteps(r io.Reader, step int) ([]byte, error) {
	var out []byte
	buf := make([]byte, step)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// zeroStream is n zero bytes, generated as they are read.
type zeroStream struct{ n int64 }

func (z *zeroStream) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

// benchmarkClientAwsChunked streams a client's aws-chunked upload of size
// bytes through the whole proxy to an upstream that discards it. The
// client encodes as it sends and the upstream holds nothing, so B/op is
// the proxy's (and net/http's) memory per upload: it stays the same from
// 1 MiB to 256 MiB when nothing is buffered.
func benchmarkClientAwsChunked(b *testing.B, so signer.StreamingOptions, size int64) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	proxyURL := startBenchProxy(b, up.URL, PayloadAuto)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	so.DecodedLength = size
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPut, proxyURL+"/bucket/key", &zeroStream{n: size})
		req.ContentLength = size
		if _, err := signer.New(nil).SignStreaming(req, clientKeys, signer.Options{Service: "s3", Region: "us-east-1", Time: time.Now()}, so); err != nil {
			b.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func BenchmarkClientAwsChunkedPassthrough(b *testing.B) {
	for _, size := range []int64{1 << 20, 256 << 20} {
		b.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(b *testing.B) {
			benchmarkClientAwsChunked(b, signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32"}, size)
		})
	}
}

func BenchmarkClientAwsChunkedResigned(b *testing.B) {
	for _, size := range []int64{1 << 20, 256 << 20} {
		b.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(b *testing.B) {
			benchmarkClientAwsChunked(b, signer.StreamingOptions{Trailer: "x-amz-checksum-crc32"}, size)
		})
	}
}

// FuzzFramingCheck: whatever the body and its announced form, the
// pass-through forwards a prefix of the client's bytes, all of them only
// when the decoder accepted the body, and when it fails, what it forwarded
// is never itself a well-formed body of that form: an upstream never
// receives a complete body the proxy found wrong. Seeded from the signer's
// encoder.
func FuzzFramingCheck(f *testing.F) {
	for _, size := range []int{0, 1, signer.MinChunkSize + 3} {
		c := newClientUpload(f, testPayload(size), signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32", ChunkSize: signer.MinChunkSize})
		f.Add(c.body, int64(size), "x-amz-checksum-crc32", 7)
		f.Add(append(append([]byte(nil), c.body...), "0\r\n\r\n"...), int64(size), "x-amz-checksum-crc32", 4096)
	}
	f.Fuzz(func(t *testing.T, body []byte, decoded int64, trailer string, step int) {
		if decoded < 0 || step <= 0 || step > 1<<20 {
			return
		}
		o := signer.DecodeOptions{DecodedLength: decoded, Trailer: trailer}
		out, err := readInSteps(newFramingCheck(io.NopCloser(bytes.NewReader(body)), o), step)
		if !bytes.HasPrefix(body, out) {
			t.Fatalf("forwarded bytes that are not the client's")
		}
		_, whole := io.ReadAll(signer.NewChunkDecoder(bytes.NewReader(out), o))
		switch {
		case err == nil && !bytes.Equal(out, body):
			t.Fatalf("clean end after %d of %d bytes", len(out), len(body))
		case err == nil && whole != nil:
			t.Fatalf("forwarded a body the decoder refuses: %v", whole)
		case err != nil && whole == nil:
			t.Fatalf("failed (%v) after forwarding a complete well-formed body of %d bytes", err, len(out))
		}
	})
}

// TestClientAwsChunkedWithoutContentEncoding: an SDK that marks its
// aws-chunked upload only with X-Amz-Content-Sha256 (no Content-Encoding)
// is framed by that marker: passed through as it came, or re-signed with
// Content-Encoding: aws-chunked, which S3 documents as required.
func TestClientAwsChunkedWithoutContentEncoding(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	proxy := chunkedProxy(t, up.URL)
	payload := testPayload(30000)
	for _, tc := range []struct {
		so     signer.StreamingOptions
		wantCE string
	}{
		{signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32"}, ""},
		{signer.StreamingOptions{}, "aws-chunked"},
	} {
		c := newClientUpload(t, payload, tc.so)
		c.header.Del("Content-Encoding")
		resp, body := sendTo(t, c.request(t, proxy, c.body, true))
		got := up.uploads()[len(up.uploads())-1]
		if resp.StatusCode != http.StatusOK || got.err != nil || !bytes.Equal(got.decoded, payload) {
			t.Fatalf("%s: status %d %s; upstream %v", c.header.Get("X-Amz-Content-Sha256"), resp.StatusCode, body, got.err)
		}
		if ce := got.header.Get("Content-Encoding"); ce != tc.wantCE {
			t.Errorf("%s: Content-Encoding %q, want %q", c.header.Get("X-Amz-Content-Sha256"), ce, tc.wantCE)
		}
	}
}

// TestClientAwsChunkedOverMaxBodyNamesLimit: a client's unsigned aws-chunked
// upload of unknown length whose framed bytes pass --max-body (its decoded
// length does not) was answered 413 "--max-body (0)": the streamed body's
// limit was built without the limit to name.
func TestClientAwsChunkedOverMaxBodyNamesLimit(t *testing.T) {
	up := newStreamVerifyingUpstream(t)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	cfg.MaxBody = 1 << 10
	srv, _ := startProxy(t, cfg, newStaticSource())
	c := newClientUpload(t, testPayload(1<<10), signer.StreamingOptions{Unsigned: true, Trailer: "x-amz-checksum-crc32"})
	resp, body := sendTo(t, c.request(t, srv.URL, c.body, false))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "--max-body (1KiB)") {
		t.Errorf("status %d %s, want 413 naming --max-body (1KiB)", resp.StatusCode, body)
	}
}
