//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

var flagLargeSize = flag.Int64("large-size", 1<<30, "bytes of the large upload and download")

// rssLimit is the bound on the proxy's peak RSS in a 1 GiB transfer.
const rssLimit = 64 << 20

var payloadModes = []string{"auto", "signed", "unsigned", "chunked"}

// deterministicStream is size bytes that depend only on seed, generated as
// they are read, so no test ever holds a large body in memory.
func deterministicStream(seed uint64, size int64) io.Reader {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	return io.LimitReader(rand.NewChaCha8(key), size)
}

// TestLargeTransfer uploads and downloads 1 GiB through the proxy in each
// --payload mode against each server, checks the content by hash, and bounds
// the proxy's peak RSS.
func TestLargeTransfer(t *testing.T) {
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			bucket := newBucketName("e2e-large")
			admin := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...), sidecarArgs(s, fixedMode)...)
			adminApp := newApp(admin, fixedMode)
			adminApp.expect(t, adminApp.request(t, http.MethodPut, bucket, "", "", nil), http.StatusOK)
			t.Cleanup(func() {
				adminApp.do(t, adminApp.request(t, http.MethodDelete, bucket, "", "", nil))
			})
			for i, payload := range payloadModes {
				t.Run(payload, func(t *testing.T) {
					sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...),
						append(sidecarArgs(s, fixedMode), "--payload", payload)...)
					a := newApp(sc, fixedMode)
					key := "large/" + payload + ".bin"
					up, down, took := transferLarge(t, a, bucket, key, uint64(i+1), *flagLargeSize)
					if !bytes.Equal(up, down) {
						t.Errorf("downloaded content differs from uploaded: sha256 %x, want %x", down, up)
					}
					rss, err := sc.peakRSS()
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("%s --payload %s: %d MiB up and down in %s, proxy peak RSS (VmHWM) %.1f MiB",
						s.name, payload, *flagLargeSize>>20, took.Round(time.Millisecond), float64(rss)/(1<<20))
					if rss >= rssLimit {
						t.Errorf("proxy peak RSS %.1f MiB, want under %d MiB", float64(rss)/(1<<20), rssLimit>>20)
					}
					a.expect(t, a.request(t, http.MethodDelete, bucket, key, "", nil), http.StatusNoContent)
				})
			}
		})
	}
}

// transferLarge PUTs size deterministic bytes to key and GETs them back,
// returning the SHA-256 of what was sent and of what came back.
func transferLarge(t testing.TB, a *app, bucket, key string, seed uint64, size int64) (up, down []byte, took time.Duration) {
	t.Helper()
	start := time.Now()
	h := sha256.New()
	req := a.request(t, http.MethodPut, bucket, key, "", io.TeeReader(deterministicStream(seed, size), h))
	req.ContentLength = size
	a.expect(t, req, http.StatusOK)
	up = h.Sum(nil)

	down, n := downloadSum(t, a, bucket, key)
	if n != size {
		t.Fatalf("GET %s: %d bytes, want %d", key, n, size)
	}
	return up, down, time.Since(start)
}
