package signer

import (
	"errors"
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
