package sidecar

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestUnknownEndpointMessageNamesHostAndOptions: in host mode, a host the
// endpoint rules cannot place (and no --service/--region) gets 400
// unknown_endpoint whose message names the host and the options to set,
// and nothing reaches the upstream.
func TestUnknownEndpointMessageNamesHostAndOptions(t *testing.T) {
	up, caFile := newTLSUpstream(t)
	cfg := testConfig()
	cfg.UpstreamCAFile = caFile
	cfg.ConnectTo = []string{"*.amazonaws.com:443=" + up.Listener.Addr().String()}
	proxy, _ := startProxy(t, cfg, newStaticSource())
	resp := getViaHost(t, proxy.URL+"/", "weird-thing.amazonaws.com")
	defer resp.Body.Close()
	var body struct{ Code, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || body.Code != CodeUnknownEndpoint || resp.Header.Get(ErrorHeader) != CodeUnknownEndpoint {
		t.Errorf("got %d %q (header %q), want 400 %s", resp.StatusCode, body.Code, resp.Header.Get(ErrorHeader), CodeUnknownEndpoint)
	}
	for _, want := range []string{`"weird-thing.amazonaws.com"`, "--service", "--region"} {
		if !strings.Contains(body.Message, want) {
			t.Errorf("message %q does not name %s", body.Message, want)
		}
	}
	if up.count() != 0 {
		t.Errorf("upstream got %d requests, want 0", up.count())
	}
}
