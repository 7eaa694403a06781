package sidecar

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// TestRoutesFileRotationUnderLoad: the routes file is replaced five times
// (each version a new file renamed over the old, as a ConfigMap update
// lands) while clients keep sending requests on kept-alive connections:
// not one request fails, every one that reaches the upstream is signed and
// verifies, and each version is taken (the upstream sees the header that
// version adds) before the next is written. The file is picked up by the
// watcher's own polling, not by SIGHUP.
func TestRoutesFileRotationUnderLoad(t *testing.T) {
	up := newUpstream(t)
	var seen atomic.Int64 // the highest version the upstream has seen
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		if v, err := strconv.ParseInt(r.Header.Get("X-Routes-Version"), 10, 64); err == nil {
			for old := seen.Load(); v > old && !seen.CompareAndSwap(old, v); old = seen.Load() {
			}
		}
		if rec.VerifyErr != nil {
			http.Error(w, rec.VerifyErr.Error(), http.StatusForbidden)
			return
		}
		io.WriteString(w, "ok")
	}
	cfg := testConfig()
	cfg.Service, cfg.Region = "s3", "us-east-1"
	cfg.ConfigFile = filepath.Join(t.TempDir(), "gateway.yaml")
	write := func(version int) {
		t.Helper()
		content := fmt.Sprintf("routes:\n  - name: team-a\n    match: {path: /team-a}\n    upstream: %s\n    add-headers: {X-Routes-Version: %q}\n", up.URL, strconv.Itoa(version))
		if err := os.WriteFile(cfg.ConfigFile+".tmp", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(cfg.ConfigFile+".tmp", cfg.ConfigFile); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	logs := &logBuffer{}
	addrs := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Config: cfg, Credentials: newStaticSource(), Log: slog.New(slog.NewJSONHandler(logs, nil)),
		RoutesInterval: 20 * time.Millisecond,
		Telemetry:      &telemetry.Options{Version: "test", Getenv: func(string) string { return "" }},
		Listening:      func(p, _ net.Addr) { addrs <- p.String() }}
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var proxyAddr string
	select {
	case proxyAddr = <-addrs:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}

	// The steady load: two clients, each on its own kept-alive connection.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get("http://" + proxyAddr + "/team-a/object")
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get(ErrorHeader), body))
				}
			}
		}()
	}
	for version := 1; version <= 5; version++ {
		write(version)
		waitUntil(t, "version "+strconv.Itoa(version)+" of the routes at the upstream", func() bool { return seen.Load() >= int64(version) })
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed while the routes file was replaced; the first: %v", n, sent.Load(), firstFailure.Load())
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("an ERROR was logged while good files replaced each other:\n%s", logs.String())
	}
}
