package sidecar

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAllowHostsNamesSpecialAddressExplicitly: host mode refuses loopback,
// link-local and private addresses (TestHostileInput) unless --allow-hosts
// names them explicitly: the address, a CIDR containing it, or the host
// name without a wildcard. Each such request is signed and forwarded; a
// wildcard that matches the name does not open the address.
func TestAllowHostsNamesSpecialAddressExplicitly(t *testing.T) {
	up, caFile := newTLSUpstream(t)
	_, port := splitHostPort(t, up.Listener.Addr().String())
	for _, tc := range []struct {
		name, allow, host string
		want              int
	}{
		{"Address", "127.0.0.1", "127.0.0.1:" + port, http.StatusOK},
		{"CIDR", "127.0.0.0/8", "127.0.0.1:" + port, http.StatusOK},
		{"NameWithoutWildcard", "localhost", "localhost:" + port, http.StatusOK},
		{"WildcardDoesNotOpenLoopback", "local*", "localhost:" + port, http.StatusForbidden},
		{"OtherCIDR", "10.0.0.0/8", "127.0.0.1:" + port, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.UpstreamCAFile = caFile
			cfg.AllowHosts = []string{tc.allow}
			cfg.Service, cfg.Region = "execute-api", "us-east-1" // an address names no service
			proxy, _ := startProxy(t, cfg, newStaticSource())
			before := up.count()
			resp := getViaHost(t, proxy.URL+"/prod/items", tc.host)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("--allow-hosts %s, Host %s: status %d (%s), want %d", tc.allow, tc.host, resp.StatusCode, body, tc.want)
			}
			if tc.want != http.StatusOK {
				if resp.Header.Get(ErrorHeader) != CodeAddressNotAllowed || !strings.Contains(string(body), "--allow-hosts") {
					t.Errorf("refusal %q (%s), want %s naming --allow-hosts", resp.Header.Get(ErrorHeader), body, CodeAddressNotAllowed)
				}
				if up.count() != before {
					t.Errorf("upstream got %d requests, want 0", up.count()-before)
				}
				return
			}
			got := up.last(t)
			if up.count() != before+1 || got.VerifyErr != nil || got.Host != tc.host || got.Service != "execute-api" {
				t.Errorf("upstream: %d requests, Host %q, service %q, %v", up.count()-before, got.Host, got.Service, got.VerifyErr)
			}
		})
	}
}
