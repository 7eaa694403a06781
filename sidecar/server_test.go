package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// TestListeningLogLine checks the one "listening" line that tests and the
// e2e suite parse: both real bound addresses.
func TestListeningLogLine(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	proxyAddr, adminAddr, logs, _ := runServer(t, cfg, newStaticSource())
	var line struct {
		Msg       string `json:"msg"`
		ProxyAddr string `json:"proxy_addr"`
		AdminAddr string `json:"admin_addr"`
	}
	found := false
	for _, l := range strings.Split(logs.String(), "\n") {
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == "listening" {
			found = true
			break
		}
	}
	if !found || line.ProxyAddr != proxyAddr || line.AdminAddr != adminAddr || strings.HasSuffix(proxyAddr, ":0") {
		t.Fatalf("listening line %+v, want proxy %s admin %s\n%s", line, proxyAddr, adminAddr, logs)
	}
}

// TestGracefulShutdownDrainsInFlight cancels the server's context (what
// SIGTERM does) while a request is in flight: new connections are refused,
// the in-flight request completes, and Run returns nil.
func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	up := newUpstream(t)
	up.respond = func(w http.ResponseWriter, r *http.Request, _ received) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	}
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	proxyAddr, _, _, stop := runServer(t, cfg, newStaticSource())

	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + proxyAddr + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{string(b), err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Wait until the listener is closed: new connections are refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", proxyAddr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("proxy still accepting connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) before the in-flight request finished", err)
	default:
	}
	close(release)
	if r := <-done; r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestShutdownTimeoutCutsLongRequests checks that a request outliving
// --shutdown-timeout is cut and Run still returns nil.
func TestShutdownTimeoutCutsLongRequests(t *testing.T) {
	started := make(chan struct{})
	up := newUpstream(t)
	up.respond = func(w http.ResponseWriter, r *http.Request, _ received) {
		close(started)
		<-r.Context().Done()
	}
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.ShutdownTimeout = 100 * time.Millisecond
	proxyAddr, _, logs, stop := runServer(t, cfg, newStaticSource())
	go func() {
		resp, err := http.Get("http://" + proxyAddr + "/forever")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(logs.String(), "shutdown-timeout") {
		t.Errorf("no log line about the cut requests:\n%s", logs)
	}
}

type readySource struct {
	*staticSource
	ready bool
}

func (r readySource) Ready() bool { return r.ready }

func TestAdmin(t *testing.T) {
	fresh := newStaticSource()
	expired := newStaticSource()
	expired.c.CanExpire, expired.c.Expires = true, time.Now().Add(-time.Second)
	failing := &staticSource{err: fmt.Errorf("%w: none", creds.ErrNoCredentials)}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "sigv4_requests_total 1\n") })
	cases := []struct {
		name   string
		admin  *Admin
		path   string
		status int
		body   string
	}{
		{"Healthz", &Admin{Credentials: failing}, "/healthz", 200, `"ok"`},
		{"ReadyWithCredentials", &Admin{Credentials: fresh}, "/readyz", 200, `"ready"`},
		{"NotReadyWhenRetrieveFails", &Admin{Credentials: failing}, "/readyz", 503, "no AWS credentials"},
		{"NotReadyWhenExpired", &Admin{Credentials: expired}, "/readyz", 503, "expired"},
		{"NotReadyWhenCacheNotReady", &Admin{Credentials: readySource{fresh, false}}, "/readyz", 503, "not ready"},
		{"MetricsPlaceholder", &Admin{Credentials: fresh}, "/metrics", 404, "not enabled"},
		{"MetricsSwapped", &Admin{Credentials: fresh, Metrics: metrics}, "/metrics", 200, "sigv4_requests_total"},
		{"Unknown", &Admin{Credentials: fresh}, "/bucket/key", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tc.admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("%s: %d %q, want %d containing %q", tc.path, rec.Code, rec.Body, tc.status, tc.body)
			}
			if strings.Contains(rec.Body.String(), testSecret) || strings.Contains(rec.Body.String(), testToken) {
				t.Error("secret in admin response")
			}
		})
	}
}

// TestAdminPathsAreNotShadowed checks /healthz on the proxy listener is
// proxied like any other path.
func TestAdminPathsAreNotShadowed(t *testing.T) {
	up := newUpstream(t)
	proxy, _, _ := fixedProxyTo(t, up, "execute-api", nil)
	resp, err := http.Get(proxy + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if up.count() != 1 || up.last(t).Path != "/healthz" {
		t.Errorf("/healthz on the proxy listener was not forwarded")
	}
}

// TestServerTelemetry checks Server wires telemetry: a proxied request shows
// in /metrics on the admin listener, with the proxy's own observers.
func TestServerTelemetry(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 1)
	srv := &Server{
		Config: cfg, Credentials: newStaticSource(),
		Log:       slog.New(slog.NewJSONHandler(logs, nil)),
		Telemetry: &telemetry.Options{Version: "test", Getenv: func(string) string { return "" }},
		Listening: func(p, a net.Addr) { addrs <- [2]string{p.String(), a.String()} },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	a := <-addrs
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	resp, err := http.Get("http://" + a[0] + "/q")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The request is recorded in ServeHTTP's deferred function, which may run
	// after the client already has its answer: poll until it shows.
	wants := []string{telemetry.MetricRequests, telemetry.MetricSigningDuration, telemetry.MetricKeyCacheMisses, telemetry.MetricUpstreamDuration}
	var body string
	waitFor(t, "/metrics to show the proxied request", func() bool {
		resp, err := http.Get("http://" + a[1] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if resp.StatusCode != 200 {
			return false
		}
		for _, want := range wants {
			if !strings.Contains(body, want) {
				return false
			}
		}
		return true
	})
}

// TestShutdownDelayKeepsServing cancels the server's context (what SIGTERM
// does) with a long --shutdown-delay: /readyz turns 503 while the proxy
// still answers requests, new connections included, and a closed CutDelay
// then lets it drain and return nil.
func TestShutdownDelayKeepsServing(t *testing.T) {
	up := newUpstream(t)
	cfg := testConfig()
	cfg.Upstream = up.URL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.ShutdownDelay = time.Hour
	logs := &logBuffer{}
	cut := make(chan struct{})
	cutDelay := sync.OnceFunc(func() { close(cut) })
	t.Cleanup(cutDelay) // a failed check does not leave Run waiting an hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan [2]string, 1)
	srv := &Server{
		Config: cfg, Credentials: newStaticSource(), CutDelay: cut,
		Log:       slog.New(slog.NewJSONHandler(logs, nil)),
		Listening: func(p, a net.Addr) { ready <- [2]string{p.String(), a.String()} },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var addrs [2]string
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	proxyAddr, adminAddr := addrs[0], addrs[1]
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + adminAddr + "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before the stop signal: %d %s", code, body)
	}

	cancel()
	// Poll until /readyz reports the stop, then check the proxy still serves.
	for {
		code, body := get("http://" + adminAddr + "/readyz")
		if code == http.StatusServiceUnavailable {
			if !strings.Contains(body, "shutting down") {
				t.Fatalf("/readyz during the delay: %d %s", code, body)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) during a one-hour --shutdown-delay", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	for i := range 3 {
		// http.Get on a fresh transport: a new connection each time, as a
		// client routed here by a stale endpoint list would open.
		c := &http.Client{Transport: &http.Transport{}}
		resp, err := c.Get("http://" + proxyAddr + "/during-delay")
		if err != nil {
			t.Fatalf("request %d during the delay: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !resp.Close {
			t.Fatalf("request %d during the delay: %d, Connection: close %v; want 200 and close (keep-alives off)", i, resp.StatusCode, resp.Close)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) during the delay", err)
	default:
	}

	cutDelay()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := net.Dial("tcp", proxyAddr); err == nil {
		t.Fatal("proxy still accepting connections after Run returned")
	}
	if !strings.Contains(logs.String(), `"shutdown_delay":"1h0m0s"`) {
		t.Errorf("no log line about the delay:\n%s", logs)
	}
}
