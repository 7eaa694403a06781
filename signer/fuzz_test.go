package signer

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzSignVerify signs arbitrary requests and checks that signing either
// fails with a *SigningError or produces a signature that is stable and
// that Verify accepts. Seeded from the differential test's generator.
func FuzzSignVerify(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 64; i++ {
		g := generate(r)
		h := ""
		for _, kv := range g.headers {
			h += kv[0] + ":" + kv[1] + "\n"
		}
		f.Add(g.method, g.rawURL, h, g.creds.SessionToken, g.service, g.contentLength)
	}
	f.Add("GET", "https://example.amazonaws.com/example/../x//y/./z/", "My-Header1:value1\n", "", "service", int64(0))
	f.Fuzz(func(t *testing.T, method, rawURL, headers, token, service string, contentLength int64) {
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" {
			return // not a request net/http could send
		}
		req := &http.Request{Method: method, URL: u, Host: u.Host, Header: http.Header{}, ContentLength: contentLength}
		for _, line := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				req.Header[k] = append(req.Header[k], v)
			}
		}
		creds := Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: token}
		opts := Options{Service: service, Region: "us-east-1", Time: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
			PayloadHash: EmptyPayloadHash, SetContentSHA256: true, Debug: true}
		s := New(nil)
		res, err := s.Sign(req, creds, opts)
		if err != nil {
			var se *SigningError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SigningError", err)
			}
			return
		}
		first := req.Header.Get("Authorization")
		if _, err := s.Sign(req, creds, opts); err != nil || req.Header.Get("Authorization") != first {
			t.Fatalf("re-signing changed the signature (%v):\n%s\n%s", err, first, req.Header.Get("Authorization"))
		}
		lookup := func(id string) (Credentials, bool) { return creds, id == creds.AccessKeyID }
		vres, err := s.Verify(req, lookup, VerifyOptions{Now: opts.Time})
		if err != nil {
			t.Fatalf("Verify rejects our own signature: %v\nsigned:\n%s\nverified:\n%s", err, res.CanonicalRequest, vres.CanonicalRequest)
		}
	})
}

// FuzzVerifyParsers feeds arbitrary Authorization headers, dates, presign
// queries and aws-chunked bodies to the verifier: it must never panic and
// must report every rejection as a *VerifyError.
func FuzzVerifyParsers(f *testing.F) {
	payload := strings.Repeat("x", 9000)
	req, _ := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", strings.NewReader(payload))
	if _, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime},
		StreamingOptions{DecodedLength: int64(len(payload)), ChunkSize: MinChunkSize, Trailer: "x-amz-checksum-crc32"}); err != nil {
		f.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	f.Add(req.Header.Get("Authorization"), req.Header.Get("X-Amz-Date"), "", body)
	pre := signedGet(f, true)
	f.Add("", "", pre.URL.RawQuery, []byte(nil))
	f.Add("AWS4-HMAC-SHA256 Credential=/, SignedHeaders=, Signature=", "2015", "X-Amz-Expires=0", []byte("0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, auth, date, rawQuery string, chunked []byte) {
		r := req.Clone(req.Context())
		r.URL.RawQuery = rawQuery
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", date)
		r.Body = io.NopCloser(bytes.NewReader(chunked))
		_, err := New(nil).VerifyStreaming(r, lookupTest, VerifyOptions{Now: testTime})
		if err == nil {
			_, err = io.ReadAll(r.Body)
		}
		if err != nil && !errors.As(err, new(*VerifyError)) {
			t.Fatalf("untyped error %T: %v", err, err)
		}
	})
}
