//go:build linux

package sidecar

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// BenchmarkResignedGET compares a small GET the proxy signs (the app sends
// it unsigned) with one an SDK signed with a client key, which the proxy
// verifies and signs again. It reports the process's CPU per request
// (cpu-ns/op; the client and the upstream run in this process too, as in
// BenchmarkProxyGET). The client-key request is signed once, outside the
// loop (its date stays in the window), so the client's signing is not
// counted.
func BenchmarkResignedGET(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	keys := filepath.Join(b.TempDir(), "client-keys")
	if err := os.WriteFile(keys, []byte(clientKeyID+" "+clientKeySecret+" "+clientKeyName+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name       string
		clientKeys bool
	}{{"unsigned-by-app", false}, {"client-key", true}} {
		b.Run(bc.name, func(b *testing.B) {
			proxyURL := startBenchProxy(b, up.URL, PayloadAuto, func(c *Config) {
				if bc.clientKeys {
					c.Listener.ClientKeysFile = keys
				}
			})
			sent, _ := http.NewRequest(http.MethodGet, proxyURL+"/bucket/key", nil)
			if bc.clientKeys {
				sent.Header.Set("X-Amz-Content-Sha256", signer.EmptyPayloadHash)
				if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: clientKeyID, SecretAccessKey: clientKeySecret}, sent, signer.EmptyPayloadHash, "s3", "us-east-1", time.Now()); err != nil {
					b.Fatal(err)
				}
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			cpu := processCPU(b)
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, proxyURL+"/bucket/key", nil)
				req.Header = sent.Header.Clone()
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
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
