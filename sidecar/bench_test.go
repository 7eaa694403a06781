package sidecar

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchmarkProxy measures one request through the whole proxy (routing,
// spooling, signing, the retry and telemetry layers, a loopback upstream
// that discards the body) with the given payload mode and body size.
func benchmarkProxy(b *testing.B, payload string, size int) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region, cfg.Payload = up.URL, "s3", "us-east-1", payload
	p, err := New(cfg, newStaticSource(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	proxy := httptest.NewServer(p)
	defer proxy.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	body := testBody(size)
	method := http.MethodPut
	if size == 0 {
		method = http.MethodGet
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(method, proxy.URL+"/bucket/key", bytes.NewReader(body))
		if size == 0 {
			req.Body = nil
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

func BenchmarkProxyGET(b *testing.B)             { benchmarkProxy(b, PayloadAuto, 0) }
func BenchmarkProxyPUT1MiBSigned(b *testing.B)   { benchmarkProxy(b, PayloadSigned, 1<<20) }
func BenchmarkProxyPUT1MiBUnsigned(b *testing.B) { benchmarkProxy(b, PayloadUnsigned, 1<<20) }
func BenchmarkProxyPUT1MiBChunked(b *testing.B)  { benchmarkProxy(b, PayloadChunked, 1<<20) }
