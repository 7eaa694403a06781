package sidecar

import (
	"io"
	"net/http"
	"net/netip"
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

// TestAllowHostsBadCIDRIsRefused: --allow-hosts 10.0.0.0/33 was taken as a
// host name, which matches nothing, so the start succeeded and the VPC the
// operator meant to allow stayed refused with no word why. An entry that
// looks like a CIDR or an IP must parse as one.
func TestAllowHostsBadCIDRIsRefused(t *testing.T) {
	for _, entry := range []string{"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "300.1.2.3", "10.0.0.1.5", "fd00::1::2", "[::1", "fd00::/129"} {
		cfg := testConfig()
		cfg.AllowHosts = []string{"*.amazonaws.com", entry}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), `invalid --allow-hosts "`+entry+`"`) {
			t.Errorf("--allow-hosts %s: %v, want an error naming it", entry, err)
		}
	}
	for _, entry := range []string{"10.0.0.0/8", "10.1.2.3", "fd00::/8", "[::1]", "::1", "10.0.*", "my-host.internal", "s3.amazonaws.com"} {
		cfg := testConfig()
		cfg.AllowHosts = []string{entry}
		if err := cfg.Validate(); err != nil {
			t.Errorf("--allow-hosts %s: %v", entry, err)
		}
	}
}

// TestAllowListHostAndDialChecksAgree: the route's host check and the
// dialler's address check read the same --allow-hosts prefixes, so an
// address (IPv4-mapped forms included) opened for one is opened for the
// other, and one outside them is refused by both.
func TestAllowListHostAndDialChecksAgree(t *testing.T) {
	a, err := newAllowList([]string{"10.0.0.0/8", "fd00::1", "*.amazonaws.com"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "::ffff:10.1.2.3": true, "fd00::1": true,
		"192.168.1.1": false, "::ffff:192.168.1.1": false, "fd00::2": false, "169.254.169.254": false,
	} {
		ip := netip.MustParseAddr(addr)
		if got := a.addrAllowed("name.amazonaws.com", ip); got != want {
			t.Errorf("dial check of %s through a name: %v, want %v", addr, got, want)
		}
		if err := a.checkHost(addr); (err == nil) != want {
			t.Errorf("host check of %s: %v, want allowed %v", addr, err, want)
		}
	}
	if err := a.checkHost("s3.amazonaws.com"); err != nil {
		t.Errorf("host check of a name the glob matches: %v", err)
	}
	if _, ok := a.checkHost("example.com").(*HostNotAllowedError); !ok {
		t.Errorf("host check of example.com: %v, want *HostNotAllowedError", a.checkHost("example.com"))
	}
}
