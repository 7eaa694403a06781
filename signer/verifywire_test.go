package signer

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestVerifyReadsTheWirePathOfAServerRequest: a request a server parsed
// keeps the path bytes it received in URL.RawPath, but EscapedPath
// re-escapes them from the decoded path when they hold a byte net/url
// escapes itself (| { ^ " UTF-8), turning %2F into /. Verify canonicalizes
// the bytes received, as the signer did the bytes it sent.
func TestVerifyReadsTheWirePathOfAServerRequest(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, service := range []string{"execute-api", "s3"} {
		for _, path := range []string{"/prod/items/a%2Fb|c", "/prod/files/caf\xc3\xa9/%2e%2e/x{y}^\"z\"", "/prod/%41|%7c"} {
			req, _ := http.NewRequest(http.MethodGet, "http://api.example.com/", nil)
			req.URL.Opaque = path
			opts := Options{Service: service, Region: "us-east-1", Time: now, PayloadHash: EmptyPayloadHash, SetContentSHA256: true}
			if _, err := New(nil).Sign(req, testCreds, opts); err != nil {
				t.Fatal(err)
			}
			var wire bytes.Buffer
			if err := req.Write(&wire); err != nil {
				t.Fatal(err)
			}
			got, err := http.ReadRequest(bufio.NewReader(&wire))
			if err != nil {
				t.Fatal(err)
			}
			if got.RequestURI != path {
				t.Fatalf("sent %q, the server read %q", path, got.RequestURI)
			}
			before := *got.URL
			if _, err := New(nil).Verify(got, lookupTest, VerifyOptions{Now: now}); err != nil {
				t.Errorf("%s %q: %v", service, path, err)
			}
			if *got.URL != before {
				t.Errorf("Verify changed the request's URL to %+v", got.URL)
			}
		}
	}
	// A wire path that does not decode to URL.Path is not the server's:
	// Verify goes on with EscapedPath as before.
	u := &url.URL{Path: "/a/b", RawPath: "/x|y"}
	if p := receivedPath(u); p != nil {
		t.Errorf("receivedPath(%+v) = %+v, want nil", u, p)
	}
}
