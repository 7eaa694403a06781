package sidecar

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestHeaderValueWithTabIsLeftUnsigned: a TAB (or U+00A0, U+3000) inside a
// header value was signed as it stood, while botocore, the JavaScript SDK,
// MinIO and SeaweedFS collapse such characters when they canonicalize: the
// same PUT that works straight to MinIO got SignatureDoesNotMatch through
// the proxy. A header that may go unsigned is now forwarded byte for byte
// and left out of SignedHeaders, which every verifier accepts; one that must
// be signed (x-amz-*, Content-Type, Content-MD5) is refused with 400 naming
// it, never changed.
func TestHeaderValueWithTabIsLeftUnsigned(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "s3", "us-east-1"
	proxy, _ := startProxy(t, cfg, newStaticSource())
	put := func(name, value string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPut, proxy.URL+"/bucket/key", strings.NewReader("body"))
		req.Header[name] = []string{value}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	for _, value := range []string{
		"attachment;\tfilename=\"a\tb.txt\"",
		"attachment; filename=\"a\u00a0b.txt\"",
		"attachment; filename=\"a\u3000b.txt\"",
		"attachment; filename=\"voil\u00e0.txt\"", // 0xC3 0xA0: NBSP to an ISO-8859-1 reader
	} {
		resp, body := put("Content-Disposition", value)
		got := up.last(t)
		if resp.StatusCode != http.StatusOK || got.VerifyErr != nil {
			t.Fatalf("Content-Disposition %q: status %d (%s): %v", value, resp.StatusCode, body, got.VerifyErr)
		}
		if v := got.Header["Content-Disposition"]; len(v) != 1 || v[0] != value {
			t.Errorf("Content-Disposition %q forwarded as %q", value, v)
		}
		a, _ := parseAuthorization(got.Header.Get("Authorization"))
		if slices.Contains(a.signedHeaders, "content-disposition") {
			t.Errorf("Content-Disposition %q signed (%v): verifiers that collapse white space reject it", value, a.signedHeaders)
		}
	}

	// Values every verifier reads alike stay signed, runs of spaces included.
	for _, value := range []string{"attachment; filename=\"a  b.txt\"", "attachment; filename=\"caf\u00e9.txt\""} {
		resp, _ := put("Content-Disposition", value)
		a, _ := parseAuthorization(up.last(t).Header.Get("Authorization"))
		if resp.StatusCode != http.StatusOK || !slices.Contains(a.signedHeaders, "content-disposition") {
			t.Errorf("Content-Disposition %q: status %d, signed headers %v, want it signed", value, resp.StatusCode, a.signedHeaders)
		}
	}

	// Headers S3 requires signed are refused, with nothing forwarded.
	before := up.count()
	for _, h := range [][2]string{
		{"X-Amz-Meta-Note", "a\tb"},
		{"X-Amz-Meta-Note", "a\u00a0b"},
		{"Content-Type", "text/plain;\tcharset=utf-8"},
		{"X-Amz-Tagging", "k=a\u3000b"},
	} {
		resp, body := put(h[0], h[1])
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeHeaderValue || !strings.Contains(body, strings.ToLower(h[0])) {
			t.Errorf("%s: %q: status %d %q (%s), want 400 %s naming the header", h[0], h[1], resp.StatusCode, resp.Header.Get(ErrorHeader), body, CodeHeaderValue)
		}
		if strings.Contains(body, h[1]) {
			t.Errorf("%s: the refusal echoes the value: %s", h[0], body)
		}
	}
	if up.count() != before {
		t.Errorf("refused requests reached the upstream: %d", up.count()-before)
	}
}
