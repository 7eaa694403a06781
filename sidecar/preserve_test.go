package sidecar

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The client's own Authorization reaches the upstream under
// --preserve-authorization-as, signed, and its value stays out of the logs,
// even of --debug-signing's canonical requests and of a rejection's
// diagnosis that quotes the server's canonical request.
func TestPreservedAuthorizationReachesUpstreamSigned(t *testing.T) {
	const basic = "Basic c2lkZWNhci11c2VyOnMzY3IzdC1wYXNzd29yZA=="
	reject := false
	var mu sync.Mutex
	up := newServiceUpstream(t, "es", true, func(r *http.Request, signed []string) error {
		switch {
		case r.Header.Get("X-Original-Authorization") != basic:
			return fmt.Errorf("X-Original-Authorization %q", r.Header.Get("X-Original-Authorization"))
		case !slices.Contains(signed, "x-original-authorization"):
			return errors.New("X-Original-Authorization is not signed")
		case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "):
			return errors.New("Authorization is not the proxy's signature")
		}
		return nil
	})
	rejecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if reject {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message><CanonicalRequest>GET
/

host:%s
x-original-authorization:%s

host;x-original-authorization
UNSIGNED-PAYLOAD</CanonicalRequest></Error>`, r.Host, basic)
			return
		}
		up.handle(w, r)
	}))
	t.Cleanup(rejecting.Close)
	proxy, logs := hostModeProxy(t, rejecting, func(c *Config) {
		c.PreserveAuthorizationAs = "x-original-authorization"
		c.DebugSigning = true
	})
	const host = "search-movies-abc123.us-east-1.es.amazonaws.com"
	if status, body := sendVia(t, proxy, http.MethodGet, host, "/movies/_search", nil, http.Header{"Authorization": {basic}}); status != http.StatusOK {
		t.Fatalf("GET: %d %s", status, body)
	}
	mu.Lock()
	reject = true
	mu.Unlock()
	if status, _ := sendVia(t, proxy, http.MethodGet, host, "/", nil, http.Header{"Authorization": {basic}}); status != http.StatusForbidden {
		t.Fatalf("rejected GET: %d", status)
	}
	status, body := sendVia(t, proxy, http.MethodGet, host, "/", nil, http.Header{"Authorization": {basic}, "X-Original-Authorization": {"Basic b3RoZXI6b3RoZXI="}})
	if status != http.StatusBadRequest || !strings.Contains(body, "X-Original-Authorization") {
		t.Errorf("a request carrying both headers: %d %s, want 400 naming the header", status, body)
	}
	// Both log lines are written before their requests' answers reach
	// the client: the debug line as the request goes, the diagnosis as
	// the rejection's body is read.
	if !strings.Contains(logs.String(), "x-original-authorization:<hidden") && !strings.Contains(logs.String(), `x-original-authorization:\u003chidden`) {
		t.Errorf("no canonical request with the hidden header in the log:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "upstream rejected the signature") {
		t.Errorf("the rejection was not diagnosed in the log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "c2lkZWNhci11c2VyOnMzY3IzdC1wYXNzd29yZA") {
		t.Errorf("the preserved Authorization reached the log:\n%s", logs.String())
	}
}

func TestPreserveAuthorizationAsRefusesUnfitNames(t *testing.T) {
	for name, want := range map[string]string{
		"Authorization":        "the header the proxy replaces",
		"X-Amz-Original-Auth":  "X-Amz-* headers are AWS's",
		"Proxy-Authorization":  "hop-by-hop",
		"Connection":           "hop-by-hop",
		"Te":                   "hop-by-hop",
		"X-Original Auth":      "not a header name",
		"X-Auth:":              "not a header name",
		"Host":                 "the proxy sets it",
		"X-Forwarded-Auth":     "left out of the signature",
		"User-Agent":           "left out of the signature",
		"X-Unsigned-Auth":      "left out of the signature",
		"X-Stripped-Auth":      "--strip-headers would remove it",
		"X-Original-Authority": "",
	} {
		cfg := testConfig()
		cfg.UnsignedHeaders = []string{"x-unsigned-*"}
		cfg.StripHeaders = []string{"x-stripped-auth"}
		cfg.PreserveAuthorizationAs = name
		err := cfg.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "invalid --preserve-authorization-as")):
			t.Errorf("%q: %v, want an error saying %q", name, err, want)
		}
	}
}
