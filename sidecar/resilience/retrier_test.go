package resilience

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is an httptest server whose handler answers request n (from 1)
// with answer(n, w, r), and records what each request carried.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	dates    []string
	auths    []string
	bodies   []string
	requests atomic.Int32
}

func newUpstream(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(u.requests.Add(1))
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.dates = append(u.dates, r.Header.Get("X-Amz-Date"))
		u.auths = append(u.auths, r.Header.Get("Authorization"))
		u.bodies = append(u.bodies, string(body))
		u.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) seen() (dates, auths, bodies []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.dates...), append([]string(nil), u.auths...), append([]string(nil), u.bodies...)
}

// stack builds what the proxy will: Retrier -> signer -> CircuitBreaker -> http.Transport.
func stack(cfg Config, clock *Clock, hooks Hooks) (*Retrier, *fakeSigner, *Breakers) {
	return stackOver(&http.Transport{}, cfg, clock, hooks)
}

func stackOver(base *http.Transport, cfg Config, clock *Clock, hooks Hooks) (*Retrier, *fakeSigner, *Breakers) {
	cfg.ApplyTimeouts(base)
	breakers := NewBreakers(cfg, nil)
	signer := &fakeSigner{clock: clock, next: &CircuitBreaker{Next: base, Breakers: breakers}}
	tr := NewRetrier(signer, cfg, breakers, clock, hooks)
	tr.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return tr, signer, breakers
}

func testConfig() Config {
	c := DefaultConfig()
	c.BreakerFailures = 0
	return c
}

// Every attempt goes back through the signing transport and reaches the
// upstream with its own date and signature; the caller's request is left
// as it was.
func TestRetriesResignEachAttempt(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<Error><Code>SlowDown</Code></Error>`)
			return
		}
		io.WriteString(w, "done")
	})
	clock := NewClock(tickingClock(time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)))
	var retries []string
	tr, signer, _ := stack(testConfig(), clock, Hooks{Retry: func(_ *http.Request, attempt int, reason string, _ time.Duration) {
		retries = append(retries, fmt.Sprintf("%d:%s", attempt, reason))
	}})
	req, _ := http.NewRequest("PUT", up.URL+"/bucket/key", strings.NewReader("payload"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "done" {
		t.Fatalf("got %d %q, want 200 done", resp.StatusCode, body)
	}
	if n := signer.calls.Load(); n != 3 {
		t.Errorf("signing transport called %d times, want 3", n)
	}
	dates, auths, bodies := up.seen()
	if len(dates) != 3 {
		t.Fatalf("upstream saw %d requests, want 3", len(dates))
	}
	for i := range dates {
		for j := range i {
			if dates[i] == dates[j] || auths[i] == auths[j] {
				t.Errorf("attempts %d and %d share a date or signature: %q %q", j+1, i+1, dates[i], auths[i])
			}
		}
		if bodies[i] != "payload" {
			t.Errorf("attempt %d body = %q, want the replayed payload", i+1, bodies[i])
		}
	}
	if strings.Join(retries, ",") != "2:throttled,3:throttled" {
		t.Errorf("retry hooks = %v", retries)
	}
	if req.Header.Get("Authorization") != "" || req.Header.Get("X-Amz-Date") != "" {
		t.Error("the caller's request was modified")
	}
}

// hijackAndReset answers by closing the connection with a TCP reset before
// writing a single response byte.
func hijackAndReset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0) // RST instead of FIN
	}
	conn.Close()
}

// Connection resets before any response byte are retried, body replayed.
func TestRetriesConnectionReset(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			hijackAndReset(w)
			return
		}
		io.WriteString(w, "ok")
	})
	tr, signer, _ := stack(testConfig(), NewClock(nil), Hooks{})
	req, _ := http.NewRequest("POST", up.URL+"/", bytes.NewReader([]byte(`{"TableName":"t"}`)))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if n := signer.calls.Load(); n != 3 {
		t.Errorf("signing transport called %d times, want 3", n)
	}
	if _, _, bodies := up.seen(); bodies[len(bodies)-1] != `{"TableName":"t"}` {
		t.Errorf("last body = %q", bodies[len(bodies)-1])
	}
}

// When every attempt is reset, the error says how many were made and wraps
// the transport's error.
func TestRetriesExhaustedOnResets(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) { hijackAndReset(w) })
	tr, _, _ := stack(testConfig(), NewClock(nil), Hooks{})
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	_, err := tr.RoundTrip(req)
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 3 {
		t.Fatalf("err = %v, want a *RetryError after 3 attempts", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Errorf("err = %v does not unwrap to the network error", err)
	}
}

// A slow upstream trips the response-header timeout; the retry gets through.
func TestRetriesSlowResponseHeaders(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select { // hold the headers until the proxy gives up
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		}
		io.WriteString(w, "fast")
	})
	var reasons []string
	tr, _, _ := stackOver(&http.Transport{ResponseHeaderTimeout: 250 * time.Millisecond}, testConfig(), NewClock(nil), Hooks{Retry: func(_ *http.Request, _ int, reason string, _ time.Duration) {
		reasons = append(reasons, reason)
	}})
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "fast" || len(reasons) != 1 || reasons[0] != ReasonTransport {
		t.Errorf("body %q, retries %v; want fast after one transport retry", body, reasons)
	}
}

// A request whose body cannot be replayed is sent once, and AWS's answer
// passes through whole.
func TestNoRetryWithoutReplayableBody(t *testing.T) {
	errBody := `<Error><Code>InternalError</Code><Message>` + strings.Repeat("m", 2*ErrorPrefixLimit) + `</Message></Error>`
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		io.WriteString(w, errBody)
	})
	tr, signer, _ := stack(testConfig(), NewClock(nil), Hooks{})
	req, _ := http.NewRequest("POST", up.URL+"/", io.NopCloser(strings.NewReader("stream")))
	req.GetBody = nil
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || string(body) != errBody {
		t.Errorf("got %d and %d bytes, want 500 and the upstream's %d bytes", resp.StatusCode, len(body), len(errBody))
	}
	if n := signer.calls.Load(); n != 1 {
		t.Errorf("signing transport called %d times, want 1", n)
	}
}

// 4xx other than throttling and skew are the client's business: no retry.
func TestNoRetryOnClientErrors(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		io.WriteString(w, `{"__type":"AccessDeniedException"}`)
	})
	tr, signer, _ := stack(testConfig(), NewClock(nil), Hooks{})
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != 403 || signer.calls.Load() != 1 {
		t.Errorf("got %v %v after %d calls, want one 403", resp, err, signer.calls.Load())
	}
}

// Discarded answers are drained and closed; the one returned is not.
func TestDiscardedBodiesDrainedAndClosed(t *testing.T) {
	var bodies []*trackedBody
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		b := newTrackedBody(`<Error><Code>InternalError</Code></Error>` + strings.Repeat(" ", 100))
		bodies = append(bodies, b)
		return &http.Response{StatusCode: 500, Header: http.Header{}, Body: b}, nil
	})
	tr := NewRetrier(next, testConfig(), nil, nil, Hooks{})
	tr.sleep = func(context.Context, time.Duration) error { return nil }
	req, _ := http.NewRequest("GET", "https://h.amazonaws.com/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 {
		t.Fatalf("%d attempts, want 3", len(bodies))
	}
	for i, b := range bodies[:2] {
		if !b.closed.Load() || b.read.Load() != 141 {
			t.Errorf("discarded body %d: closed %v, read %d bytes; want closed and drained", i+1, b.closed.Load(), b.read.Load())
		}
	}
	if bodies[2].closed.Load() {
		t.Error("the returned body was closed")
	}
	resp.Body.Close()
}

// A cancelled client stops the retries during the backoff.
func TestRetriesStopWhenClientCancels(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return response(503, nil, ""), nil
	})
	cfg := testConfig()
	cfg.RetryAttempts = 10
	tr := NewRetrier(next, cfg, nil, nil, Hooks{})
	tr.sleep = func(ctx context.Context, d time.Duration) error {
		cancel() // the client goes away while we wait
		<-ctx.Done()
		return ctx.Err()
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://h.amazonaws.com/", nil)
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) || calls.Load() != 1 {
		t.Errorf("err %v after %d calls, want context.Canceled after 1", err, calls.Load())
	}
}

// A backoff that would outlive the client's deadline is not started: the
// client gets the upstream's answer at once.
func TestNoWaitPastDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		h := http.Header{"Retry-After": {"120"}}
		return response(503, h, "busy"), nil
	})
	cfg := testConfig()
	cfg.RetryBase, cfg.RetryMax = time.Hour, 2*time.Hour
	tr := NewRetrier(next, cfg, nil, nil, Hooks{})
	tr.sleep = func(context.Context, time.Duration) error {
		t.Error("waited although the deadline is sooner than the backoff")
		return nil
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://h.amazonaws.com/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("got %v, %v; want the 503", resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "busy" {
		t.Errorf("body = %q", b)
	}
}

// Full jitter: each wait lies in [0, min(max, base*2^(n-1))); a longer
// Retry-After from the upstream is honoured up to max.
func TestBackoff(t *testing.T) {
	tr := &Retrier{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	for n := 1; n <= 40; n++ {
		ceiling := min(tr.Max, tr.Base<<min(n-1, 20))
		for range 50 {
			if w := tr.backoff(n, nil); w < 0 || w >= ceiling {
				t.Fatalf("backoff(%d) = %v, want in [0, %v)", n, w, ceiling)
			}
		}
	}
	if w := tr.backoff(1, response(429, http.Header{"Retry-After": {"1"}}, "")); w != time.Second {
		t.Errorf("with Retry-After 1: %v, want 1s", w)
	}
	if w := tr.backoff(1, response(429, http.Header{"Retry-After": {"30"}}, "")); w >= 100*time.Millisecond {
		t.Errorf("with Retry-After above max: %v, want the jittered backoff", w)
	}
}

// The breaker below the signer ends the retries: once it opens, the retry
// loop gets the *OpenError and the upstream is not contacted again.
func TestOpenBreakerEndsRetries(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	cfg := DefaultConfig()
	cfg.BreakerFailures = 2
	cfg.RetryAttempts = 10
	var rec recorder
	base := &http.Transport{}
	breakers := NewBreakers(cfg, rec.record)
	signer := &fakeSigner{clock: NewClock(nil), next: &CircuitBreaker{Next: base, Breakers: breakers}}
	tr := NewRetrier(signer, cfg, nil, nil, Hooks{}) // no Breakers: mayWait does not peek
	tr.sleep = func(context.Context, time.Duration) error { return nil }
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	_, err := tr.RoundTrip(req)
	var open *OpenError
	if !errors.As(err, &open) {
		t.Fatalf("err = %v, want *OpenError", err)
	}
	if n := up.requests.Load(); n != 2 {
		t.Errorf("upstream hit %d times, want 2", n)
	}
	if got := rec.list(); len(got) != 1 || got[0].To != Open {
		t.Errorf("state changes = %v, want one to open", got)
	}
}

// A retry is not started when the breaker opened meanwhile: the client gets
// the upstream's own answer rather than ours.
func TestNoRetryIntoOpenBreaker(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(503)
		io.WriteString(w, "aws says no")
	})
	cfg := DefaultConfig()
	cfg.BreakerFailures = 1
	tr, _, _ := stack(cfg, NewClock(nil), Hooks{})
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("got %v %v, want the upstream's 503", resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "aws says no" {
		t.Errorf("body = %q", b)
	}
}

// Errors that are not the network (the signer refusing) are returned as they
// are, never retried.
func TestSignerErrorsNotRetried(t *testing.T) {
	errNoCreds := errors.New("no AWS credentials available")
	var calls atomic.Int32
	tr := NewRetrier(roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls.Add(1)
		return nil, errNoCreds
	}), testConfig(), nil, nil, Hooks{})
	req, _ := http.NewRequest("GET", "https://h.amazonaws.com/", nil)
	if _, err := tr.RoundTrip(req); err != errNoCreds || calls.Load() != 1 {
		t.Errorf("err %v after %d calls, want the signer's error after 1", err, calls.Load())
	}
}

// The attempt number travels on the Exchange in the context of the request
// given to Next; the caller's request is left without one.
func TestAttemptNumberedOnExchange(t *testing.T) {
	attemptOf := func(ctx context.Context) int {
		if x := ExchangeFrom(ctx); x != nil {
			return x.Attempt
		}
		return 0
	}
	var seen []int
	tr := NewRetrier(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, attemptOf(r.Context()))
		return response(500, nil, ""), nil
	}), testConfig(), nil, nil, Hooks{})
	tr.sleep = func(context.Context, time.Duration) error { return nil }
	req, _ := http.NewRequest("GET", "https://h.amazonaws.com/", nil)
	tr.RoundTrip(req)
	if fmt.Sprint(seen) != "[1 2 3]" || attemptOf(req.Context()) != 0 {
		t.Errorf("attempts seen = %v", seen)
	}
}

// spoolingSigner buffers the body it is given, as the proxy's signer does for
// a body it must hash, and makes it replayable on the request it was handed.
type spoolingSigner struct{ next http.RoundTripper }

func (s spoolingSigner) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		r.ContentLength = int64(len(b))
	}
	return s.next.RoundTrip(r)
}

// A body the caller could not replay but the signer spooled is retried: the
// ReverseProxy's outbound request has no GetBody, the signer's copy does.
func TestRetriesReplayWhatTheSignerSpooled(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, "ok")
	})
	tr := NewRetrier(spoolingSigner{next: http.DefaultTransport}, testConfig(), nil, nil, Hooks{})
	tr.sleep = func(context.Context, time.Duration) error { return nil }
	req, _ := http.NewRequest("POST", up.URL+"/", io.NopCloser(strings.NewReader(`Action=SendMessage&MessageBody=hi`)))
	req.GetBody, req.ContentLength = nil, -1
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("got %v %v, want 200 after a retry", resp, err)
	}
	resp.Body.Close()
	if _, _, bodies := up.seen(); len(bodies) != 2 || bodies[1] != `Action=SendMessage&MessageBody=hi` {
		t.Errorf("bodies seen %q, want the spooled body twice", bodies)
	}
}
