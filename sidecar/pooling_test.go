package sidecar

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestUpstreamConnectionsAreReused checks the proxy pools its upstream
// connections: sequential requests, in fixed mode over plain HTTP and in
// host mode over TLS (HTTP/2), all travel on one upstream connection
// instead of dialling (and handshaking) once per request.
func TestUpstreamConnectionsAreReused(t *testing.T) {
	const requests = 20
	for _, overTLS := range []bool{false, true} {
		name := map[bool]string{false: "FixedModeHTTP", true: "HostModeTLS"}[overTLS]
		t.Run(name, func(t *testing.T) {
			var conns atomic.Int64
			up := &verifyingUpstream{}
			up.Server = httptest.NewUnstartedServer(http.HandlerFunc(up.handle))
			up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			cfg := testConfig()
			if overTLS {
				caPEM, cert := testCertificates(t)
				up.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
				up.EnableHTTP2 = true
				up.StartTLS()
				caFile := filepath.Join(t.TempDir(), "ca.pem")
				if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
					t.Fatal(err)
				}
				cfg.UpstreamCAFile = caFile
				cfg.ConnectTo = []string{"*.amazonaws.com:443=" + up.Listener.Addr().String()}
			} else {
				up.Start()
				cfg.Upstream = up.URL
				cfg.Service, cfg.Region = "sqs", "us-east-1"
			}
			t.Cleanup(up.Close)
			proxy, _ := startProxy(t, cfg, newStaticSource())

			for i := range requests {
				resp := getViaHost(t, proxy.URL+"/123456789012/q", "sqs.us-east-1.amazonaws.com")
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: status %d", i, resp.StatusCode)
				}
			}
			got := up.last(t)
			if got.VerifyErr != nil {
				t.Fatalf("signature: %v", got.VerifyErr)
			}
			if overTLS && got.ProtoMajor != 2 {
				t.Errorf("upstream spoke HTTP/%d over TLS, want HTTP/2", got.ProtoMajor)
			}
			if up.count() != requests {
				t.Errorf("upstream got %d requests, want %d", up.count(), requests)
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d requests opened %d upstream connections, want 1 (pooled)", requests, n)
			}
		})
	}
}

// refusingTransport fails every request it is given, and counts them.
type refusingTransport struct{ calls atomic.Int64 }

func (r *refusingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.calls.Add(1)
	if req.Body != nil {
		req.Body.Close()
	}
	return nil, errors.New("refusingTransport: no connection")
}

// TestBodylessPlainHTTPSkipsNetHTTPTransport pins which requests take the
// proxy's own HTTP/1.1 path (package upstream) and which net/http's
// Transport: with the latter refusing everything, signed bodyless requests
// (GET, HEAD, DELETE, POST without a body) still reach a plain-HTTP upstream
// and verify there, and a request with a body is the one net/http is asked
// for.
func TestBodylessPlainHTTPSkipsNetHTTPTransport(t *testing.T) {
	up := &verifyingUpstream{}
	up.Server = httptest.NewServer(http.HandlerFunc(up.handle))
	t.Cleanup(up.Close)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.Resilience.RetryAttempts = 1
	p, err := New(cfg, newStaticSource(), nil)
	if err != nil {
		t.Fatal(err)
	}
	refusing := &refusingTransport{}
	p.upstreams.Fallback = refusing
	proxy := httptest.NewServer(p)
	t.Cleanup(func() { proxy.Close(); p.Close() })

	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodPost} {
		req, _ := http.NewRequest(method, proxy.URL+"/123456789012/q?Action=x", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, want 200 over the proxy's own path", method, resp.StatusCode)
		}
		if got := up.last(t); got.Method != method || got.VerifyErr != nil {
			t.Fatalf("%s: upstream got %s, signature %v", method, got.Method, got.VerifyErr)
		}
	}
	if n := refusing.calls.Load(); n != 0 {
		t.Fatalf("net/http's Transport was asked for %d bodyless requests", n)
	}
	resp, err := http.Post(proxy.URL+"/123456789012/q", "text/plain", strings.NewReader("Action=SendMessage"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || refusing.calls.Load() != 1 {
		t.Fatalf("POST with a body: status %d, net/http asked %d times; want 502 from the refusing fallback, asked once", resp.StatusCode, refusing.calls.Load())
	}
}
