package sidecar

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
