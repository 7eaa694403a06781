package signer

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSignRejectsBadInput(t *testing.T) {
	good := func() (*http.Request, Credentials, Options) {
		req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/x?a=b", nil)
		return req, testCreds, Options{Service: "service", Region: "us-east-1", Time: testTime, PayloadHash: EmptyPayloadHash}
	}
	for _, tc := range []struct {
		name, field string
		mutate      func(*http.Request, *Credentials, *Options)
	}{
		{"no access key", "credentials", func(_ *http.Request, c *Credentials, _ *Options) { c.AccessKeyID = "" }},
		{"no secret", "credentials", func(_ *http.Request, c *Credentials, _ *Options) { c.SecretAccessKey = "" }},
		{"access key with slash", "credentials", func(_ *http.Request, c *Credentials, _ *Options) { c.AccessKeyID = "AK/ID" }},
		{"token with newline", "credentials", func(_ *http.Request, c *Credentials, _ *Options) { c.SessionToken = "a\r\nX-Evil: 1" }},
		{"no service", "service", func(_ *http.Request, _ *Credentials, o *Options) { o.Service = "" }},
		{"service with slash", "service", func(_ *http.Request, _ *Credentials, o *Options) { o.Service = "s3/x" }},
		{"region with space", "region", func(_ *http.Request, _ *Credentials, o *Options) { o.Region = "us east" }},
		{"zero time", "time", func(_ *http.Request, _ *Credentials, o *Options) { o.Time = time.Time{} }},
		{"no payload hash", "payload hash", func(_ *http.Request, _ *Credentials, o *Options) { o.PayloadHash = "" }},
		{"uppercase payload hash", "payload hash", func(_ *http.Request, _ *Credentials, o *Options) { o.PayloadHash = strings.ToUpper(EmptyPayloadHash) }},
		{"no host", "host", func(r *http.Request, _ *Credentials, _ *Options) { r.Host, r.URL.Host = "", "" }},
		{"bad query escape", "query", func(r *http.Request, _ *Credentials, _ *Options) { r.URL.RawQuery = "a=%zz" }},
		{"bad opaque path escape", "path", func(r *http.Request, _ *Credentials, o *Options) {
			r.URL.Opaque, o.Service = "/a%2", "s3"
		}},
		{"invalid header name", "header", func(r *http.Request, _ *Credentials, _ *Options) { r.Header["Bad Name"] = []string{"v"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, creds, opts := good()
			tc.mutate(req, &creds, &opts)
			_, err := New(nil).Sign(req, creds, opts)
			var se *SigningError
			if !errors.As(err, &se) || se.Field != tc.field {
				t.Fatalf("err = %v, want a *SigningError on %q", err, tc.field)
			}
			if req.Header.Get("Authorization") != "" || req.Header.Get("X-Amz-Date") != "" {
				t.Fatal("request was signed despite the error")
			}
		})
	}
	for _, exp := range []time.Duration{0, -time.Second, 1500 * time.Millisecond, 8 * 24 * time.Hour} {
		req, creds, opts := good()
		_, err := New(nil).Presign(req, creds, opts, exp)
		var se *SigningError
		if !errors.As(err, &se) || se.Field != "expires" {
			t.Errorf("Presign(%v): err = %v, want a *SigningError on expires", exp, err)
		}
	}
}

func TestQueryErrorDoesNotEchoTokens(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	req.URL.RawQuery = "X-Amz-Security-Token=secret-token%zz"
	_, err := New(nil).Sign(req, testCreds, Options{Service: "s", Region: "r", Time: testTime, PayloadHash: EmptyPayloadHash})
	if err == nil || strings.Contains(err.Error(), "secret-token") {
		t.Fatalf("err = %v", err)
	}
}

// TestSessionTokenHeader: set and signed with a token; a stale one removed
// (whatever its key's case) without; unsigned with AddSessionTokenAfterSigning.
func TestSessionTokenHeader(t *testing.T) {
	opts := Options{Service: "service", Region: "us-east-1", Time: testTime, PayloadHash: EmptyPayloadHash}
	newReq := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
		req.Header.Set("X-Amz-Security-Token", "stale")
		req.Header["x-amz-security-token"] = []string{"stale too"}
		return req
	}
	req := newReq()
	if _, err := New(nil).Sign(req, testCreds, opts); err != nil {
		t.Fatal(err)
	}
	if len(req.Header["X-Amz-Security-Token"]) != 0 || len(req.Header["x-amz-security-token"]) != 0 {
		t.Fatalf("stale token kept: %v", req.Header)
	}
	if strings.Contains(req.Header.Get("Authorization"), "x-amz-security-token") {
		t.Fatal("signed a token the credentials do not have")
	}

	withToken := testCreds
	withToken.SessionToken = "fresh"
	req = newReq()
	res, err := New(nil).Sign(req, withToken, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header["X-Amz-Security-Token"]; len(got) != 1 || got[0] != "fresh" || len(req.Header["x-amz-security-token"]) != 0 {
		t.Fatalf("token header %v", req.Header)
	}
	if res.SignedHeaders != "host;x-amz-date;x-amz-security-token" {
		t.Fatalf("signed headers %q", res.SignedHeaders)
	}

	req = newReq()
	o := opts
	o.AddSessionTokenAfterSigning = true
	res, err = New(nil).Sign(req, withToken, o)
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("X-Amz-Security-Token") != "fresh" || res.SignedHeaders != "host;x-amz-date" {
		t.Fatalf("after-signing token: header %q, signed %q", req.Header.Get("X-Amz-Security-Token"), res.SignedHeaders)
	}
}

// TestCanonicalURIRules: per-service defaults and the overrides.
func TestCanonicalURIRules(t *testing.T) {
	for _, tc := range []struct {
		name, service, rawURL string
		double, normalize     Setting
		want                  string
	}{
		{"s3 keeps dots and slashes", "s3", "https://b.s3.amazonaws.com/b/a//c/../d/./e", Default, Default, "/b/a//c/../d/./e"},
		{"s3 encodes sub-delims once", "s3", "https://b.s3.amazonaws.com/b/a$b:c@d", Default, Default, "/b/a%24b%3Ac%40d"},
		{"s3 same key escaped", "s3express", "https://b.s3.amazonaws.com/b/a%24b%3Ac%40d", Default, Default, "/b/a%24b%3Ac%40d"},
		{"s3 space", "s3-object-lambda", "https://b.s3.amazonaws.com/my%20photo.jpg", Default, Default, "/my%20photo.jpg"},
		{"s3 unicode", "s3-outposts", "https://b.s3.amazonaws.com/caf%C3%A9", Default, Default, "/caf%C3%A9"},
		{"others double-encode", "execute-api", "https://x.execute-api.us-east-1.amazonaws.com/a%20b/c", Default, Default, "/a%2520b/c"},
		{"others normalize", "es", "https://x.es.amazonaws.com//a/./b/../c/", Default, Default, "/a/c/"},
		{"forced single, no normalize", "execute-api", "https://x/a%20b//c", Disabled, Disabled, "/a%20b//c"},
		{"forced double on s3", "s3", "https://x/a%20b", Enabled, Default, "/a%2520b"},
		{"empty path", "service", "https://x", Default, Default, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.rawURL)
			if err != nil {
				t.Fatal(err)
			}
			req := &http.Request{Method: "GET", URL: u, Host: u.Host, Header: http.Header{}}
			res, err := New(nil).Sign(req, testCreds, Options{Service: tc.service, Region: "us-east-1", Time: testTime,
				PayloadHash: UnsignedPayload, DoubleEncodePath: tc.double, NormalizePath: tc.normalize, Debug: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(res.CanonicalRequest, "\n")[1]; got != tc.want {
				t.Fatalf("canonical URI %q, want %q", got, tc.want)
			}
		})
	}
}

// TestResultHoldsNoSecrets: a Result, with Debug, names no secret, token or signature.
func TestResultHoldsNoSecrets(t *testing.T) {
	creds := Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRETKEY", SessionToken: "TOKEN"}
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	res, err := New(nil).Sign(req, creds, Options{Service: "s", Region: "r", Time: testTime, PayloadHash: EmptyPayloadHash, Debug: true, AddSessionTokenAfterSigning: true})
	if err != nil {
		t.Fatal(err)
	}
	sig := signatureOf(req.Header.Get("Authorization"))
	all := res.Scope + res.SignedHeaders + res.CanonicalRequest + res.StringToSign
	for _, s := range []string{"SECRETKEY", "TOKEN", sig} {
		if strings.Contains(all, s) {
			t.Errorf("Result contains %q", s)
		}
	}
}

// TestIsScopeName: the one rule for a region or signing name takes what AWS
// writes and what S3-compatible servers are configured with, and refuses
// what cannot stand between the credential scope's slashes or in a header.
func TestIsScopeName(t *testing.T) {
	for _, s := range []string{"us-east-1", "s3", "execute-api", "IoTSecuredTunneling", "foo_bar", "us-iso.x", "A"} {
		if !IsScopeName(s) {
			t.Errorf("IsScopeName(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "us/east-1", "us east", " us-east-1", "us-east-1\t", "a\x00b", "a\x7fb", "a\nb", "us-éast", "a,b", "a=b"} {
		if IsScopeName(s) {
			t.Errorf("IsScopeName(%q) = true, want false", s)
		}
	}
}
