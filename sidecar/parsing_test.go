package sidecar

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// TestUnsignedChunkedBodyOverMaxBodyNamesLimit: with --payload unsigned, a
// chunked body over --max-body was answered 413 "--max-body (0)" whenever
// the reads before the one that crossed the limit ended exactly on it: the
// message gave what that read had left, not the limit.
func TestUnsignedChunkedBodyOverMaxBodyNamesLimit(t *testing.T) {
	// TestLimitedBodyNamesLimit (sidecar/body) holds the read-by-read case.
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream, cfg.Service, cfg.Region = up.URL, "execute-api", "us-east-1"
	cfg.Payload, cfg.MaxBody = PayloadUnsigned, 1024
	proxy, _ := startProxy(t, cfg, newStaticSource())
	req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/prod/items", iotest.OneByteReader(strings.NewReader(strings.Repeat("x", 4096))))
	req.ContentLength = -1 // chunked
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(msg), "--max-body (1KiB)") {
		t.Errorf("status %d %s, want 413 naming --max-body (1KiB)", resp.StatusCode, msg)
	}
}
