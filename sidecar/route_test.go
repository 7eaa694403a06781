package sidecar

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEscapesRoot(t *testing.T) {
	for p, want := range map[string]bool{
		"/": false, "/a/b": false, "/a/../b": false, "/a/b/../..": false, "/..": true, "/../x": true,
		"/a/../../x": true, "/%2e%2e/x": true, "/a/%2E%2E/%2e%2e/x": true, "/a..b/c": false, "/./../x": true,
	} {
		if got := escapesRoot(p); got != want {
			t.Errorf("escapesRoot(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestStripPresignParams(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"a=1&b=2":                         "a=1&b=2",
		"X-Amz-Signature=x&a=1":           "a=1",
		"a=%2F&x-amz-credential=k&b":      "a=%2F&b",
		"X-Amz-Meta=keep&X-Amz-Date=1":    "X-Amz-Meta=keep",
		"X%2DAmz%2DSignature=x&versionId": "versionId",
	} {
		if got := stripPresignParams(in); got != want {
			t.Errorf("stripPresignParams(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEscapesRoot(f *testing.F) {
	for _, s := range []string{"/a/../b", "/../x", "/%2e%2e/", "//..//", "/a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		// Whatever escapesRoot says, a path it accepts resolves under root.
		if escapesRoot(p) {
			return
		}
		depth := 0
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." || strings.EqualFold(seg, "%2e%2e") || strings.EqualFold(seg, ".%2e") || strings.EqualFold(seg, "%2e.") {
				depth--
			} else if seg != "" && seg != "." && !strings.EqualFold(seg, "%2e") {
				depth++
			}
			if depth < 0 {
				t.Fatalf("escapesRoot(%q) = false but the path climbs out", p)
			}
		}
	})
}

// FuzzHostRoute feeds arbitrary Host headers to host-mode routing: it never
// panics, and a host it accepts is allowed and has a parseable URL host.
func FuzzHostRoute(f *testing.F) {
	for _, h := range []string{"sqs.us-east-1.amazonaws.com", "s3.amazonaws.com:443", "169.254.169.254", "[fd00:ec2::254]:80",
		"a..b", "x.amazonaws.com.", "UPPER.S3.US-WEST-2.AMAZONAWS.COM:8443", "[::1]", "10.0.0.1:99999", ""} {
		f.Add(h)
	}
	cfg := testConfig()
	cfg.Service, cfg.Region = "", ""
	p, err := New(cfg, newStaticSource(), slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		route, err := p.route(r)
		if err != nil {
			return
		}
		if route.Service == "" || route.Region == "" || route.Scheme != "https" {
			t.Fatalf("accepted %q with route %+v", host, route)
		}
		u, perr := http.NewRequest(http.MethodGet, "https://"+route.Host+"/", nil)
		if perr != nil {
			t.Fatalf("accepted %q with an unparseable URL host %q: %v", host, route.Host, perr)
		}
		if !p.c.allow.hostAllowed(u.URL.Hostname()) {
			t.Fatalf("accepted %q (URL host %q) outside the allow-list", host, route.Host)
		}
	})
}

// TestHostPortWithSignIsRefused: strconv.Atoi reads "+443" as 443, so
// "Host: sqs.us-east-1.amazonaws.com:+443" passed the allow check while the
// dialler looked up port "+443", which the rule for port 443 did not match:
// the catch-all rule's upstream got the signed request. A port is 1 to 5
// ASCII digits, 1-65535, read once for the allow check, the --connect-to
// match and the dialler.
func TestHostPortWithSignIsRefused(t *testing.T) {
	aws, other := newUpstream(t), newUpstream(t)
	cfg := testConfig()
	cfg.ConnectTo = []string{
		"*.amazonaws.com:443=http://" + aws.Listener.Addr().String(),
		":=http://" + other.Listener.Addr().String(),
	}
	proxy, _ := startProxy(t, cfg, newStaticSource())
	for _, host := range []string{"sqs.us-east-1.amazonaws.com:+443", "sqs.us-east-1.amazonaws.com:-443", "sqs.us-east-1.amazonaws.com:443 ", "sqs.us-east-1.amazonaws.com:004430", "sqs.us-east-1.amazonaws.com:0"} {
		resp := getViaHost(t, proxy.URL+"/123456789012/q", host)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(ErrorHeader) != CodeBadHost {
			t.Errorf("Host %q: status %d %q (%s), want 400 %s", host, resp.StatusCode, resp.Header.Get(ErrorHeader), body, CodeBadHost)
		}
	}
	if aws.count() != 0 || other.count() != 0 {
		t.Fatalf("refused hosts reached an upstream: %d + %d requests", aws.count(), other.count())
	}
	// Leading zeros are digits: 00443 is port 443 for every reader.
	for _, host := range []string{"sqs.us-east-1.amazonaws.com:443", "sqs.us-east-1.amazonaws.com:00443"} {
		resp := getViaHost(t, proxy.URL+"/123456789012/q", host)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || aws.count() == 0 {
			t.Fatalf("Host %q: status %d, want 200 from the *.amazonaws.com:443 rule's upstream", host, resp.StatusCode)
		}
		if got := aws.last(t); got.VerifyErr != nil || got.Host != "sqs.us-east-1.amazonaws.com" {
			t.Errorf("Host %q: upstream saw Host %q: %v", host, got.Host, got.VerifyErr)
		}
	}
	if other.count() != 0 {
		t.Errorf("the catch-all rule's upstream got %d requests", other.count())
	}
}

// TestSignHostAndOverrides checks --sign-host (dial an address, sign, send
// and verify TLS for another name, whose service and region are derived)
// and --region alone overriding its half of a host-mode answer.
func TestSignHostAndOverrides(t *testing.T) {
	up, caFile := newTLSUpstream(t)
	t.Run("SignHost", func(t *testing.T) {
		cfg := testConfig()
		cfg.Upstream = "https://" + up.Listener.Addr().String()
		cfg.SignHost = "sqs.us-east-1.amazonaws.com"
		cfg.UpstreamCAFile = caFile
		proxy, _ := startProxy(t, cfg, newStaticSource())
		resp, err := http.Get(proxy.URL + "/123456789012/q")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := up.last(t)
		if resp.StatusCode != 200 || got.VerifyErr != nil || got.Host != "sqs.us-east-1.amazonaws.com" || got.Service != "sqs" || got.Region != "us-east-1" {
			t.Errorf("status %d, Host %q, scope %s/%s, %v", resp.StatusCode, got.Host, got.Service, got.Region, got.VerifyErr)
		}
	})
	t.Run("RegionOverride", func(t *testing.T) {
		cfg := testConfig()
		cfg.ConnectTo = []string{"sqs.us-east-1.amazonaws.com:443=" + up.Listener.Addr().String()}
		cfg.UpstreamCAFile = caFile
		cfg.Region = "eu-west-1"
		proxy, _ := startProxy(t, cfg, newStaticSource())
		resp := getViaHost(t, proxy.URL+"/q", "sqs.us-east-1.amazonaws.com")
		resp.Body.Close()
		if got := up.last(t); got.VerifyErr != nil || got.Service != "sqs" || got.Region != "eu-west-1" {
			t.Errorf("scope %s/%s, %v", got.Service, got.Region, got.VerifyErr)
		}
	})
	t.Run("ServiceOverride", func(t *testing.T) {
		// --service alone: the region still comes from the host.
		cfg := testConfig()
		cfg.ConnectTo = []string{"sqs.us-east-1.amazonaws.com:443=" + up.Listener.Addr().String()}
		cfg.UpstreamCAFile = caFile
		cfg.Service = "execute-api"
		proxy, _ := startProxy(t, cfg, newStaticSource())
		resp := getViaHost(t, proxy.URL+"/q", "sqs.us-east-1.amazonaws.com")
		resp.Body.Close()
		if got := up.last(t); resp.StatusCode != 200 || got.VerifyErr != nil || got.Service != "execute-api" || got.Region != "us-east-1" {
			t.Errorf("status %d, scope %s/%s, %v", resp.StatusCode, got.Service, got.Region, got.VerifyErr)
		}
	})
	t.Run("UntrustedCertificate", func(t *testing.T) {
		cfg := testConfig()
		cfg.ConnectTo = []string{"sqs.us-east-1.amazonaws.com:443=" + up.Listener.Addr().String()}
		proxy, _ := startProxy(t, cfg, newStaticSource())
		before := up.count()
		resp := getViaHost(t, proxy.URL+"/q", "sqs.us-east-1.amazonaws.com")
		defer resp.Body.Close()
		if resp.StatusCode != 502 || resp.Header.Get(ErrorHeader) != CodeUpstreamFailed || up.count() != before {
			t.Errorf("status %d %q, upstream count +%d", resp.StatusCode, resp.Header.Get(ErrorHeader), up.count()-before)
		}
	})
}
