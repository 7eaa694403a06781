package signer

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/crc64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

type streamingVectors struct {
	Credentials struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	} `json:"credentials"`
	Region, Service, Timestamp, Scope string
	Cases                             []struct {
		Name, Method, Path string
		Headers            map[string]string
		SignedHeaders      string `json:"signed_headers"`
		SeedSignature      string `json:"seed_signature"`
		Chunks             []struct {
			Size      int
			Signature string
		}
		EncodedBodyLength       int64  `json:"encoded_body_length"`
		TrailerHeadersCanonical string `json:"trailer_headers_canonical"`
		TrailerSignature        string `json:"trailer_signature"`
	}
}

// parsedChunk is one frame of an aws-chunked body.
type parsedChunk struct {
	size      int
	signature string
	data      []byte
}

// parseChunked decodes an aws-chunked body, strictly: every CRLF where the
// format puts one. It returns the chunks and the trailer lines.
func parseChunked(t *testing.T, body []byte) (chunks []parsedChunk, trailer []string) {
	t.Helper()
	rest := body
	line := func() string {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			t.Fatalf("missing CRLF in %q", rest)
		}
		l := string(rest[:i])
		rest = rest[i+2:]
		return l
	}
	for {
		head := line()
		sizeHex, sig, _ := strings.Cut(head, ";chunk-signature=")
		size, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			t.Fatalf("chunk head %q: %v", head, err)
		}
		c := parsedChunk{size: int(size), signature: sig, data: rest[:size]}
		rest = rest[size:]
		chunks = append(chunks, c)
		if size == 0 {
			break
		}
		if l := line(); l != "" {
			t.Fatalf("chunk data not followed by CRLF: %q", l)
		}
	}
	for {
		l := line()
		if l == "" {
			break
		}
		trailer = append(trailer, l)
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the final CRLF", len(rest))
	}
	return chunks, trailer
}

// TestStreamingVectors checks the seed, every chunk and the trailer
// signature of the S3 API Reference streaming examples.
func TestStreamingVectors(t *testing.T) {
	var v streamingVectors
	if err := json.Unmarshal([]byte(readFile(t, "testdata/s3-streaming/streaming-vectors.json")), &v); err != nil {
		t.Fatal(err)
	}
	ts, err := time.Parse("20060102T150405Z", v.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte{'a'}, 66560)
	creds := Credentials{AccessKeyID: v.Credentials.AccessKeyID, SecretAccessKey: v.Credentials.SecretAccessKey}
	if len(v.Cases) != 2 {
		t.Fatalf("want 2 cases, got %d", len(v.Cases))
	}
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			req := &http.Request{
				Method: c.Method, Host: c.Headers["host"],
				URL:    &url.URL{Scheme: "https", Host: c.Headers["host"], Path: c.Path},
				Header: http.Header{"X-Amz-Storage-Class": {c.Headers["x-amz-storage-class"]}},
				Body:   io.NopCloser(bytes.NewReader(payload)),
			}
			opts := Options{Service: v.Service, Region: v.Region, Time: ts, Debug: true}
			so := StreamingOptions{DecodedLength: int64(len(payload)), ChunkSize: 65536, Trailer: c.Headers["x-amz-trailer"]}
			if _, ok := c.Headers["content-length"]; !ok {
				// The trailer example does not sign Content-Length.
				opts.UnsignedHeaders = func(n string) bool { return n == "content-length" }
			}
			res, err := New(nil).SignStreaming(req, creds, opts, so)
			if err != nil {
				t.Fatal(err)
			}
			if res.SignedHeaders != c.SignedHeaders {
				t.Fatalf("signed headers %q, want %q", res.SignedHeaders, c.SignedHeaders)
			}
			if got := signatureOf(req.Header.Get("Authorization")); got != c.SeedSignature {
				t.Fatalf("seed signature %s, want %s\n%s", got, c.SeedSignature, res.CanonicalRequest)
			}
			for k, want := range c.Headers {
				if k == "host" || k == "x-amz-date" {
					continue
				}
				if k == "content-length" {
					if strconv.FormatInt(req.ContentLength, 10) != want {
						t.Errorf("ContentLength %d, want %s", req.ContentLength, want)
					}
					continue
				}
				if got := req.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(body)) != req.ContentLength {
				t.Fatalf("encoded body %d bytes, ContentLength says %d", len(body), req.ContentLength)
			}
			if c.EncodedBodyLength != 0 && int64(len(body)) != c.EncodedBodyLength {
				t.Fatalf("encoded body %d bytes, want %d", len(body), c.EncodedBodyLength)
			}
			chunks, trailer := parseChunked(t, body)
			if len(chunks) != len(c.Chunks) {
				t.Fatalf("%d chunks, want %d", len(chunks), len(c.Chunks))
			}
			var decoded []byte
			for i, ch := range chunks {
				if ch.size != c.Chunks[i].Size || ch.signature != c.Chunks[i].Signature {
					t.Errorf("chunk %d: size %d sig %s, want %d %s", i, ch.size, ch.signature, c.Chunks[i].Size, c.Chunks[i].Signature)
				}
				decoded = append(decoded, ch.data...)
			}
			if !bytes.Equal(decoded, payload) {
				t.Fatal("decoded chunks differ from the payload")
			}
			if c.TrailerSignature == "" {
				if len(trailer) != 0 {
					t.Fatalf("unexpected trailer %q", trailer)
				}
				return
			}
			want := []string{strings.TrimSuffix(c.TrailerHeadersCanonical, "\n"), "x-amz-trailer-signature:" + c.TrailerSignature}
			if strings.Join(trailer, "|") != strings.Join(want, "|") {
				t.Fatalf("trailer %q, want %q", trailer, want)
			}
		})
	}
}

func TestStreamingUnsignedTrailer(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 3000) // 30000 bytes: 3 full chunks and a short one
	req, _ := http.NewRequest(http.MethodPut, "https://bucket.s3.us-east-1.amazonaws.com/key", bytes.NewReader(payload))
	so := StreamingOptions{DecodedLength: int64(len(payload)), ChunkSize: 8192, Trailer: "x-amz-checksum-crc32", Unsigned: true}
	_, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime}, so)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("X-Amz-Content-Sha256"); got != StreamingUnsignedPayloadTrailer {
		t.Fatalf("X-Amz-Content-Sha256 = %q", got)
	}
	if !strings.Contains(req.Header.Get("Authorization"), "x-amz-trailer") {
		t.Fatal("X-Amz-Trailer not signed")
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(body)) != req.ContentLength || req.ContentLength != EncodedLength(int64(len(payload)), 8192, false, "x-amz-checksum-crc32") {
		t.Fatalf("body %d bytes, ContentLength %d", len(body), req.ContentLength)
	}
	chunks, trailer := parseChunked(t, body)
	if len(chunks) != 5 || chunks[0].signature != "" {
		t.Fatalf("chunks %d, first signature %q", len(chunks), chunks[0].signature)
	}
	// crc32 (IEEE) of the payload, base64 of its big-endian bytes.
	if len(trailer) != 1 || trailer[0] != "x-amz-checksum-crc32:"+crcBase64(payload) {
		t.Fatalf("trailer %q", trailer)
	}
}

func TestStreamingGetBodyReplaysIdenticalBytes(t *testing.T) {
	payload := bytes.Repeat([]byte{'z'}, 20000)
	req, _ := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", bytes.NewReader(payload))
	_, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime},
		StreamingOptions{DecodedLength: int64(len(payload)), ChunkSize: 8192, Trailer: "x-amz-checksum-sha256"})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(req.Body)
	again, err := req.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	second, _ := io.ReadAll(again)
	if !bytes.Equal(first, second) || int64(len(first)) != req.ContentLength {
		t.Fatalf("replay differs (%d vs %d bytes, ContentLength %d)", len(first), len(second), req.ContentLength)
	}
}

func TestStreamingLengthMismatch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		actual int
		reason string
	}{
		{"short", 9000, "shorter"},
		{"long", 11000, "longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", bytes.NewReader(make([]byte, tc.actual)))
			_, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime},
				StreamingOptions{DecodedLength: 10000, ChunkSize: 8192})
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(req.Body)
			var se *StreamError
			if !errors.As(err, &se) || !strings.Contains(se.Reason, tc.reason) {
				t.Fatalf("err = %v, want a StreamError saying %q", err, tc.reason)
			}
		})
	}
}

func TestStreamingRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		so    StreamingOptions
		field string
	}{
		{StreamingOptions{DecodedLength: -1}, "decoded length"},
		{StreamingOptions{DecodedLength: 1, ChunkSize: 100}, "chunk size"},
		{StreamingOptions{DecodedLength: 1, Trailer: "x-amz-checksum-md5"}, "trailer"},
		{StreamingOptions{DecodedLength: 1, Unsigned: true}, "trailer"},
	} {
		req, _ := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", strings.NewReader("x"))
		_, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime}, tc.so)
		var se *SigningError
		if !errors.As(err, &se) || se.Field != tc.field {
			t.Errorf("%+v: err = %v, want a SigningError on %q", tc.so, err, tc.field)
		}
		if req.Header.Get("Authorization") != "" {
			t.Errorf("%+v: request signed despite the error", tc.so)
		}
	}
}

func TestCRC64NVMECheckValue(t *testing.T) {
	// The CRC-64/NVME check value (CRC catalogue): crc("123456789").
	if got := crc64.Checksum([]byte("123456789"), crc64NVME); got != 0xae8b14860a799888 {
		t.Fatalf("crc64nvme check = %#x", got)
	}
}

// TestEncodedLengthMatchesBody: for every mode and awkward sizes (empty,
// exact multiples of the chunk, one byte over), EncodedLength is the
// number of bytes the reader produces.
func TestEncodedLengthMatchesBody(t *testing.T) {
	const cs = MinChunkSize
	for _, size := range []int{0, 1, cs - 1, cs, cs + 1, 3 * cs, 3*cs + 17} {
		for _, mode := range []StreamingOptions{
			{},
			{Trailer: "x-amz-checksum-crc32c"},
			{Trailer: "x-amz-checksum-crc64nvme"},
			{Trailer: "x-amz-checksum-sha1", Unsigned: true},
			{Trailer: "x-amz-checksum-sha256", Unsigned: true},
		} {
			mode.DecodedLength, mode.ChunkSize = int64(size), cs
			req, _ := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", bytes.NewReader(make([]byte, size)))
			if _, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime}, mode); err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatalf("%d %+v: %v", size, mode, err)
			}
			want := EncodedLength(int64(size), cs, !mode.Unsigned, mode.Trailer)
			if int64(len(body)) != want || req.ContentLength != want {
				t.Errorf("size %d %+v: body %d bytes, EncodedLength %d, ContentLength %d", size, mode, len(body), want, req.ContentLength)
			}
			chunks, _ := parseChunked(t, body)
			var decoded int
			for _, c := range chunks {
				decoded += c.size
			}
			if decoded != size {
				t.Errorf("size %d %+v: chunks carry %d bytes", size, mode, decoded)
			}
		}
	}
	if EncodedLength(-1, 0, true, "") != -1 || EncodedLength(1, 100, true, "") != -1 || EncodedLength(1, 0, true, "x-amz-checksum-md5") != -1 {
		t.Error("EncodedLength accepts invalid input")
	}
}

func TestSignStreamingErrorLeavesRequestAsItCame(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k?bad=%zz", strings.NewReader("abc"))
	req.Header.Set("Content-Encoding", "gzip")
	_, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime},
		StreamingOptions{DecodedLength: 3})
	if !errors.As(err, new(*SigningError)) {
		t.Fatalf("err = %v, want a *SigningError", err)
	}
	if req.Header.Get("Content-Encoding") != "gzip" || req.Header.Get("X-Amz-Decoded-Content-Length") != "" || req.ContentLength != 3 || req.Header.Get("Authorization") != "" {
		t.Fatalf("request changed: %v, ContentLength %d", req.Header, req.ContentLength)
	}
}
