package signer

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// clientCreds sign the "client's" bodies in these tests; testCreds are the
// re-signer's.
var clientCreds = Credentials{AccessKeyID: "AKIDCLIENT", SecretAccessKey: "client-secret-key"}

// encodeBody returns payload as SignStreaming encodes it under creds, with
// the headers it set.
func encodeBody(t testing.TB, creds Credentials, payload []byte, so StreamingOptions) ([]byte, http.Header) {
	t.Helper()
	so.DecodedLength = int64(len(payload))
	req, _ := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", bytes.NewReader(payload))
	if _, err := New(nil).SignStreaming(req, creds, Options{Service: "s3", Region: "us-east-1", Time: testTime}, so); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body, req.Header
}

// TestChunkDecoderRoundTrip decodes what SignStreaming encodes, in every
// form, at sizes around the chunk boundaries, and reads back the payload and
// the trailer value.
func TestChunkDecoderRoundTrip(t *testing.T) {
	for _, so := range []StreamingOptions{
		{ChunkSize: MinChunkSize},
		{ChunkSize: MinChunkSize, Trailer: "x-amz-checksum-crc32"},
		{ChunkSize: MinChunkSize, Trailer: "x-amz-checksum-sha256", Unsigned: true},
	} {
		for _, size := range []int{0, 1, MinChunkSize - 1, MinChunkSize, MinChunkSize + 1, 3*MinChunkSize + 17} {
			payload := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
			body, h := encodeBody(t, clientCreds, payload, so)
			d := NewChunkDecoder(bytes.NewReader(body), DecodeOptions{Signed: !so.Unsigned, DecodedLength: int64(size), Trailer: h.Get("X-Amz-Trailer")})
			got, err := io.ReadAll(d)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("%+v size %d: err %v, %d bytes decoded", so, size, err, len(got))
			}
			v, err := d.TrailerValue()
			if err != nil {
				t.Fatal(err)
			}
			if so.Trailer != "" && !bytes.Contains(body, []byte(so.Trailer+":"+v+"\r\n")) {
				t.Fatalf("%+v: trailer value %q is not the body's", so, v)
			}
		}
	}
}

// TestChunkDecoderResignsForVerifier is the proxy's use: a body signed with
// the client's keys is decoded and re-encoded with ours, chunk boundaries
// changed, and a verifier holding only our keys accepts it, with the
// client's payload and the client's trailer value, even a wrong one (the
// server, not the re-signer, judges it).
func TestChunkDecoderResignsForVerifier(t *testing.T) {
	srv, got := streamingServer(t)
	payload := bytes.Repeat([]byte("re-signed "), 7000) // 70000 bytes
	for _, tc := range []struct {
		name     string
		so       StreamingOptions
		tamper   func([]byte) []byte
		mismatch bool
	}{
		{name: "signed", so: StreamingOptions{ChunkSize: MinChunkSize}},
		{name: "signed-trailer", so: StreamingOptions{ChunkSize: 3 * MinChunkSize, Trailer: "x-amz-checksum-crc32c"}},
		{name: "wrong-client-checksum", so: StreamingOptions{ChunkSize: MinChunkSize, Trailer: "x-amz-checksum-crc32"},
			tamper: func(b []byte) []byte {
				i := bytes.Index(b, []byte("x-amz-checksum-crc32:")) + len("x-amz-checksum-crc32:")
				b[i] ^= 'A' ^ 'B'
				return b
			}, mismatch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, h := encodeBody(t, clientCreds, payload, tc.so)
			if tc.tamper != nil {
				body = tc.tamper(body)
			}
			d := NewChunkDecoder(bytes.NewReader(body), DecodeOptions{Signed: true, DecodedLength: int64(len(payload)), Trailer: h.Get("X-Amz-Trailer")})
			req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bucket/key", d)
			if _, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime},
				StreamingOptions{DecodedLength: int64(len(payload)), Trailer: tc.so.Trailer, TrailerValue: d.TrailerValue}); err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			u := <-got
			var ve *VerifyError
			switch {
			case tc.mismatch && !(errors.As(u.err, &ve) && ve.Reason == ReasonPayloadMismatch):
				t.Fatalf("the client's wrong checksum should reach the verifier as it was: err %v", u.err)
			case !tc.mismatch && (u.err != nil || !bytes.Equal(u.body, payload)):
				t.Fatalf("err %v, decoded %d bytes of %d", u.err, len(u.body), len(payload))
			}
		})
	}
}

// TestChunkDecoderRejectsBadFraming: each malformed body fails with a
// *FramingError, and never ends in a clean io.EOF.
func TestChunkDecoderRejectsBadFraming(t *testing.T) {
	sig := strings.Repeat("a", 64)
	unsigned := DecodeOptions{DecodedLength: 5, Trailer: "x-amz-checksum-crc32"}
	signed := DecodeOptions{Signed: true, DecodedLength: 5}
	signedTrailer := DecodeOptions{Signed: true, DecodedLength: 5, Trailer: "x-amz-checksum-crc32"}
	for _, tc := range []struct {
		name string
		o    DecodeOptions
		body string
	}{
		{"sizes short of the decoded length", unsigned, "4\r\nhell\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"sizes past the decoded length", unsigned, "6\r\nhello!\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"data longer than its size", unsigned, "5\r\nhello!\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"trailer of another name", unsigned, "5\r\nhello\r\n0\r\nx-amz-checksum-sha1:AAAAAA==\r\n\r\n"},
		{"trailer missing", unsigned, "5\r\nhello\r\n0\r\n\r\n"},
		{"trailer twice", unsigned, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"no final CRLF", unsigned, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n"},
		{"bytes after the end", unsigned, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\nX"},
		{"a second body after the end", unsigned, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n5\r\nworld\r\n"},
		{"ends inside data", unsigned, "5\r\nhel"},
		{"bare LF", unsigned, "5\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"size not hex", unsigned, "z\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"signature on an unsigned chunk", unsigned, "5;chunk-signature=" + sig + "\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"unsigned chunk in a signed body", signed, "5\r\nhello\r\n0;chunk-signature=" + sig + "\r\n\r\n"},
		{"short chunk signature", signed, "5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=" + sig + "\r\n\r\n"},
		{"trailer without X-Amz-Trailer", signed, "5;chunk-signature=" + sig + "\r\nhello\r\n0;chunk-signature=" + sig + "\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"signed trailer without its signature", signedTrailer, "5;chunk-signature=" + sig + "\r\nhello\r\n0;chunk-signature=" + sig + "\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{"huge size", unsigned, "ffffffffffffffff\r\nhello\r\n"},
		{"empty", unsigned, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewChunkDecoder(strings.NewReader(tc.body), tc.o)
			_, err := io.ReadAll(d)
			var fe *FramingError
			if !errors.As(err, &fe) {
				t.Fatalf("err %v, want a *FramingError", err)
			}
			if _, err := d.TrailerValue(); err == nil {
				t.Fatal("TrailerValue after a framing error returned no error")
			}
		})
	}
	// And the well-formed bodies these are bent from decode.
	for _, tc := range []struct {
		o    DecodeOptions
		body string
	}{
		{unsigned, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"},
		{signed, "5;chunk-signature=" + sig + "\r\nhello\r\n0;chunk-signature=" + sig + "\r\n\r\n"},
		{signedTrailer, "5;chunk-signature=" + sig + "\r\nhello\r\n0;chunk-signature=" + sig + "\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:" + sig + "\r\n\r\n"},
	} {
		if got, err := io.ReadAll(NewChunkDecoder(strings.NewReader(tc.body), tc.o)); err != nil || string(got) != "hello" {
			t.Errorf("%q: %q, %v", tc.body, got, err)
		}
	}
}

// TestChunkDecoderMemoryIsBounded: the decoder holds no chunk; a 64 MiB
// body in a single 64 MiB chunk decodes with a few KiB allocated.
func TestChunkDecoderMemoryIsBounded(t *testing.T) {
	const size = 64 << 20
	src := io.MultiReader(strings.NewReader("4000000\r\n"), &patternReader{n: size}, strings.NewReader("\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"))
	buf := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := NewChunkDecoder(src, DecodeOptions{DecodedLength: size, Trailer: "x-amz-checksum-crc32"})
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{d}, buf)
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("%d bytes, %v", n, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("decoding a 64 MiB chunk allocated %d KiB, want under 1 MiB (no chunk held)", alloc>>10)
	}
}

// streamingVectorBodies are the S3 streaming examples' bodies (the
// payload and chunk sizes of signer/testdata/s3-streaming), encoded with
// the examples' keys and time.
func streamingVectorBodies(t testing.TB) (bodies [][]byte, opts []DecodeOptions) {
	var v streamingVectors
	if err := json.Unmarshal([]byte(readFile(t, "testdata/s3-streaming/streaming-vectors.json")), &v); err != nil {
		t.Fatal(err)
	}
	ts, err := time.Parse("20060102T150405Z", v.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	creds := Credentials{AccessKeyID: v.Credentials.AccessKeyID, SecretAccessKey: v.Credentials.SecretAccessKey}
	payload := bytes.Repeat([]byte{'a'}, 66560)
	for _, c := range v.Cases {
		for _, unsigned := range []bool{false, true} {
			trailer := c.Headers["x-amz-trailer"]
			if unsigned && trailer == "" {
				continue
			}
			req, _ := http.NewRequest(c.Method, "https://"+c.Headers["host"]+c.Path, bytes.NewReader(payload))
			so := StreamingOptions{DecodedLength: int64(len(payload)), ChunkSize: 65536, Trailer: trailer, Unsigned: unsigned}
			if _, err := New(nil).SignStreaming(req, creds, Options{Service: v.Service, Region: v.Region, Time: ts}, so); err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(req.Body)
			bodies = append(bodies, body)
			opts = append(opts, DecodeOptions{Signed: !unsigned, DecodedLength: int64(len(payload)), Trailer: trailer})
		}
	}
	return bodies, opts
}

// FuzzChunkDecoder feeds arbitrary bodies and announced lengths to the
// decoder. It must never panic, must report every bad body as a
// *FramingError, and may only end cleanly with exactly the announced
// number of payload bytes and a trailer value that fits on its line.
func FuzzChunkDecoder(f *testing.F) {
	bodies, opts := streamingVectorBodies(f)
	for i, b := range bodies {
		f.Add(b, opts[i].Signed, opts[i].DecodedLength, opts[i].Trailer)
	}
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), false, int64(5), "x-amz-checksum-crc32")
	f.Add([]byte("0\r\n\r\n"), false, int64(0), "")
	f.Fuzz(func(t *testing.T, body []byte, signed bool, decoded int64, trailer string) {
		if decoded < 0 {
			return // the proxy refuses a negative length before decoding
		}
		d := NewChunkDecoder(bytes.NewReader(body), DecodeOptions{Signed: signed, DecodedLength: decoded, Trailer: trailer})
		got, err := io.ReadAll(d)
		if err != nil {
			if !errors.As(err, new(*FramingError)) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if int64(len(got)) != decoded {
			t.Fatalf("clean end after %d bytes, announced %d", len(got), decoded)
		}
		v, err := d.TrailerValue()
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(trailer) == "" && v != "" {
			t.Fatalf("trailer value %q without a trailer", v)
		}
		if strings.ContainsAny(v, "\r\n") {
			t.Fatalf("trailer value %q holds a line break", v)
		}
	})
}
