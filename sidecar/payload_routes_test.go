package sidecar

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
)

// A route's content-sha256 and preserve-authorization-as apply to its own
// requests only: the route that sets them sends the body's hash and the
// client's Authorization under the new name, both signed; the other route
// neither.
func TestRoutesSetContentSHA256AndPreservedAuthorization(t *testing.T) {
	const basic = "Basic cm91dGUtdXNlcjpyb3V0ZS1wYXNz"
	up := newServiceUpstream(t, "lambda", true, func(*http.Request, []string) error { return nil })
	yaml := `
routes:
  - name: oac
    match: {path: /oac}
    upstream: ` + up.URL + `
    service: lambda
    region: us-east-1
    content-sha256: always
    preserve-authorization-as: X-Original-Authorization
  - name: plain
    upstream: ` + up.URL + `
    service: lambda
    region: us-east-1
`
	srv, _, _ := startRouter(t, testConfig(), yaml, map[string]creds.Source{})
	for _, tc := range []struct {
		path      string
		preserved bool
	}{{"/oac/orders", true}, {"/plain/orders", false}} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(`{"order":42}`))
		req.Header.Set("Authorization", basic)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", tc.path, resp.StatusCode)
		}
		got := up.last(t)
		hasHash := got.header.Get("X-Amz-Content-Sha256") == sha256Hex([]byte(`{"order":42}`)) && slices.Contains(got.signed, "x-amz-content-sha256")
		hasCopy := got.header.Get("X-Original-Authorization") == basic && slices.Contains(got.signed, "x-original-authorization")
		if hasHash != tc.preserved || hasCopy != tc.preserved {
			t.Errorf("%s: signed body hash %v, signed preserved Authorization %v; want %v", tc.path, hasHash, hasCopy, tc.preserved)
		}
	}
}
