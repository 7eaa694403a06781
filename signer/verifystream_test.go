package signer

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// streamingServer verifies every upload with VerifyStreaming and reports
// the decoded body, or the error, through the returned channel.
type upload struct {
	body []byte
	err  error
}

func streamingServer(t *testing.T) (*httptest.Server, chan upload) {
	t.Helper()
	got := make(chan upload, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := New(nil).VerifyStreaming(r, lookupTest, VerifyOptions{Now: testTime, Service: "s3", Region: "us-east-1"})
		if err != nil {
			got <- upload{err: err}
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		body, err := io.ReadAll(r.Body)
		got <- upload{body: body, err: err}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestVerifyStreamingRoundTrip sends uploads signed by SignStreaming, in
// every mode, to a real server that decodes and checks them.
func TestVerifyStreamingRoundTrip(t *testing.T) {
	srv, got := streamingServer(t)
	payload := bytes.Repeat([]byte("sigv4 streaming "), 2500) // 40000 bytes: 4 full chunks and a short one
	for _, so := range []StreamingOptions{
		{},
		{Trailer: "x-amz-checksum-crc32c"},
		{Trailer: "x-amz-checksum-sha256", Unsigned: true},
	} {
		so.DecodedLength, so.ChunkSize = int64(len(payload)), MinChunkSize
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/bucket/key", bytes.NewReader(payload))
		if _, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime}, so); err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u := <-got
		if u.err != nil || !bytes.Equal(u.body, payload) {
			t.Fatalf("%+v: err %v, decoded %d bytes of %d", so, u.err, len(u.body), len(payload))
		}
	}
}

// TestVerifyStreamingTampering flips bytes of an encoded upload and checks
// the verifier names what broke.
func TestVerifyStreamingTampering(t *testing.T) {
	payload := bytes.Repeat([]byte{'q'}, 3*MinChunkSize)
	encode := func(so StreamingOptions) (*http.Request, []byte) {
		so.DecodedLength, so.ChunkSize = int64(len(payload)), MinChunkSize
		req, _ := http.NewRequest(http.MethodPut, "https://bucket.s3.amazonaws.com/key", bytes.NewReader(payload))
		if _, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime}, so); err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(req.Body)
		return req, body
	}
	for _, tc := range []struct {
		name   string
		so     StreamingOptions
		tamper func([]byte) []byte
		reason Reason
		detail string
	}{
		{"chunk data", StreamingOptions{}, func(b []byte) []byte {
			i := bytes.Index(b, []byte("qqqq")) + MinChunkSize + 200 // inside chunk 1
			b[i] = 'x'
			return b
		}, ReasonSignatureMismatch, "chunk 1"},
		{"signed trailer value", StreamingOptions{Trailer: "x-amz-checksum-crc32"}, func(b []byte) []byte {
			return bytes.Replace(b, []byte("x-amz-checksum-crc32:"), []byte("x-amz-checksum-crc32:A"), 1)
		}, ReasonSignatureMismatch, "trailer"},
		{"unsigned checksum", StreamingOptions{Trailer: "x-amz-checksum-crc32", Unsigned: true}, func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-checksum-crc32:")) + len("x-amz-checksum-crc32:")
			b[i] ^= 1
			return b
		}, ReasonPayloadMismatch, "x-amz-checksum-crc32"},
		{"truncated", StreamingOptions{}, func(b []byte) []byte { return b[:len(b)-100] }, ReasonMalformed, "ended"},
		{"trailing garbage", StreamingOptions{}, func(b []byte) []byte { return append(b, "junk"...) }, ReasonMalformed, "after the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, body := encode(tc.so)
			req.Body = io.NopCloser(bytes.NewReader(tc.tamper(body)))
			if _, err := New(nil).VerifyStreaming(req, lookupTest, VerifyOptions{Now: testTime}); err != nil {
				t.Fatalf("seed rejected: %v", err)
			}
			_, err := io.ReadAll(req.Body)
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Reason != tc.reason || !strings.Contains(ve.Detail, tc.detail) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.reason, tc.detail)
			}
		})
	}
}

func TestVerifyStreamingLeavesOtherBodiesAlone(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPut, "https://example.amazonaws.com/k", strings.NewReader("plain"))
	if _, err := New(nil).Sign(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime, PayloadHash: HashPayload([]byte("plain")), SetContentSHA256: true}); err != nil {
		t.Fatal(err)
	}
	body := req.Body
	if _, err := New(nil).VerifyStreaming(req, lookupTest, VerifyOptions{Now: testTime}); err != nil {
		t.Fatal(err)
	}
	if req.Body != body {
		t.Fatal("body replaced on a non-streaming request")
	}
}
