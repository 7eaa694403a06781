package sidecar

import (
	"fmt"
	"net/http"
)

// validStatus refuses an answer whose status is outside 100-999, as an
// error from next: net/http's Transport parses any three digits and passes
// "HTTP/1.1 000" on, and ReverseProxy's WriteHeader would panic on it
// (net/http recovers, and the client would see its connection dropped).
// Below the breaker, so that such an upstream counts as failing. Safe for
// concurrent use if next is.
type validStatus struct{ next http.RoundTripper }

var _ http.RoundTripper = validStatus{}

func (v validStatus) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 100 || resp.StatusCode > 999 {
		resp.Body.Close()
		return nil, fmt.Errorf("upstream answered with invalid status code %d", resp.StatusCode)
	}
	return resp, nil
}
