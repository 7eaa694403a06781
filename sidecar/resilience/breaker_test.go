package resilience

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// openLong is an open period no pause of a loaded machine outlasts between a
// test opening a breaker and checking that it refuses: with a few
// milliseconds the breaker could turn half-open in between. Tests wait for
// half-open by polling, so this is how long they wait, not a bound.
const openLong = time.Second

func breakerConfig(failures int, open time.Duration) Config {
	c := DefaultConfig()
	c.BreakerFailures = failures
	c.BreakerOpen = open
	return c
}

// The breaker opens after the configured consecutive failures, refuses
// without touching the upstream while open, lets one probe through once the
// open period ends, and closes when the probe succeeds.
func TestBreakerOpenHalfOpenClosed(t *testing.T) {
	var rec recorder
	breakers := NewBreakers(breakerConfig(3, openLong), rec.record)
	var hits atomic.Int32
	status := atomic.Int32{}
	status.Store(503)
	breaker := &CircuitBreaker{Breakers: breakers, Next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hits.Add(1)
		return response(int(status.Load()), nil, `<Error><Code>ServiceUnavailable</Code></Error>`), nil
	})}
	get := func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", "https://s3.us-east-1.amazonaws.com/b/k", nil)
		return breaker.RoundTrip(req)
	}
	for i := range 3 {
		if _, err := get(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if s := breakers.State("s3.us-east-1.amazonaws.com"); s != Open {
		t.Fatalf("after 3 failures state = %v, want open", s)
	}
	_, err := get()
	var open *OpenError
	if !errors.As(err, &open) || !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("while open: err = %v, want *OpenError wrapping ErrCircuitOpen", err)
	}
	if open.Host != "s3.us-east-1.amazonaws.com" || open.RetryAfterSeconds() < 1 {
		t.Errorf("OpenError = %+v, want the host and a Retry-After of at least 1s", open)
	}
	if hits.Load() != 3 {
		t.Errorf("upstream hit %d times, want 3: an open breaker must not touch it", hits.Load())
	}
	if got := breakers.States(); got["s3.us-east-1.amazonaws.com"] != Open {
		t.Errorf("States() = %v, want the host open", got)
	}

	waitFor(t, "half-open", func() bool { return breakers.State("s3.us-east-1.amazonaws.com") == HalfOpen })
	status.Store(200)
	if resp, err := get(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("probe: %v, %v", resp, err)
	}
	if s := breakers.State("s3.us-east-1.amazonaws.com"); s != Closed {
		t.Errorf("after a good probe state = %v, want closed", s)
	}
	want := []StateChange{
		{"s3.us-east-1.amazonaws.com", Closed, Open},
		{"s3.us-east-1.amazonaws.com", Open, HalfOpen},
		{"s3.us-east-1.amazonaws.com", HalfOpen, Closed},
	}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Errorf("state changes = %v, want %v", got, want)
	}
}

// A failed probe opens the breaker again; other hosts are not affected.
func TestBreakerFailedProbeReopens(t *testing.T) {
	breakers := NewBreakers(breakerConfig(1, openLong), nil)
	breaker := &CircuitBreaker{Breakers: breakers, Next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == "sqs.us-east-1.amazonaws.com" {
			return response(200, nil, ""), nil
		}
		return nil, &netError{syscall.ECONNRESET}
	})}
	do := func(host string) error {
		req, _ := http.NewRequest("GET", "https://"+host+"/", nil)
		_, err := breaker.RoundTrip(req)
		return err
	}
	do("sns.us-east-1.amazonaws.com")
	if s := breakers.State("sns.us-east-1.amazonaws.com"); s != Open {
		t.Fatalf("after a reset state = %v, want open", s)
	}
	if err := do("sqs.us-east-1.amazonaws.com"); err != nil {
		t.Errorf("another host: %v, want it untouched by sns's breaker", err)
	}
	waitFor(t, "half-open", func() bool { return breakers.State("sns.us-east-1.amazonaws.com") == HalfOpen })
	if err := do("sns.us-east-1.amazonaws.com"); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("probe err = %v, want the reset", err)
	}
	if s := breakers.State("sns.us-east-1.amazonaws.com"); s != Open {
		t.Errorf("after a failed probe state = %v, want open", s)
	}
}

type netError struct{ err error }

func (e *netError) Error() string   { return "read tcp: " + e.err.Error() }
func (e *netError) Unwrap() error   { return e.err }
func (e *netError) Timeout() bool   { return false }
func (e *netError) Temporary() bool { return false }

// What counts against an upstream: throttling even on a 400, transport errors
// and an expired client deadline; not a 404, not a skewed signature, not a
// client that cancelled.
func TestCircuitBreakerCountsWhatTheUpstreamIsBlamedFor(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		resp   *http.Response
		err    error
		failed bool
	}{
		{"throttling 400", context.Background(), response(400, nil, `{"__type":"ThrottlingException"}`), nil, true},
		{"429", context.Background(), response(429, nil, ""), nil, true},
		{"502", context.Background(), response(502, nil, ""), nil, true},
		{"connection refused", context.Background(), nil, &netError{syscall.ECONNREFUSED}, true},
		{"deadline passed", expired, nil, context.DeadlineExceeded, true},
		{"404", context.Background(), response(404, nil, `<Error><Code>NoSuchKey</Code></Error>`), nil, false},
		{"skew", context.Background(), response(403, nil, `<Error><Code>RequestTimeTooSkewed</Code></Error>`), nil, false},
		{"client cancelled", cancelled, nil, context.Canceled, false},
		{"signer-like error", context.Background(), nil, errors.New("no credentials"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			breakers := NewBreakers(breakerConfig(1, time.Hour), nil)
			breaker := &CircuitBreaker{Breakers: breakers, Next: roundTripFunc(func(*http.Request) (*http.Response, error) { return tc.resp, tc.err })}
			req, _ := http.NewRequestWithContext(tc.ctx, "GET", "https://h.amazonaws.com/", nil)
			breaker.RoundTrip(req)
			if got := breakers.State("h.amazonaws.com") == Open; got != tc.failed {
				t.Errorf("breaker open = %v, want %v", got, tc.failed)
			}
		})
	}
}

// A zero threshold turns the breaker off: nil Breakers let everything through.
func TestBreakersDisabled(t *testing.T) {
	breakers := NewBreakers(breakerConfig(0, time.Second), nil)
	if breakers != nil {
		t.Fatal("NewBreakers with 0 failures should return nil")
	}
	breaker := &CircuitBreaker{Breakers: breakers, Next: roundTripFunc(func(*http.Request) (*http.Response, error) { return response(503, nil, ""), nil })}
	for range 20 {
		req, _ := http.NewRequest("GET", "https://h.amazonaws.com/", nil)
		if _, err := breaker.RoundTrip(req); err != nil {
			t.Fatalf("disabled breaker refused: %v", err)
		}
	}
	if s := breakers.State("h.amazonaws.com"); s != Closed {
		t.Errorf("state = %v, want closed", s)
	}
}

// Many goroutines over many hosts: the race detector checks the locking, and
// the state-change callback (run under gobreaker's lock) must not deadlock
// with States.
func TestBreakersConcurrent(t *testing.T) {
	var changes atomic.Int32
	breakers := NewBreakers(breakerConfig(2, time.Millisecond), func(StateChange) { changes.Add(1) })
	breaker := &CircuitBreaker{Breakers: breakers, Next: roundTripFunc(func(*http.Request) (*http.Response, error) { return response(500, nil, ""), nil })}
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				req, _ := http.NewRequest("GET", "https://h"+string(rune('a'+(g+i)%5))+".amazonaws.com/", nil)
				breaker.RoundTrip(req)
				breakers.States()
			}
		}()
	}
	for range 8 {
		<-done
	}
	if changes.Load() == 0 {
		t.Error("no state change reported")
	}
}

// A burst of 5xx from a real upstream opens the breaker; while open the
// upstream sees nothing; once it recovers, the probe closes the breaker.
func TestFiveXXBurstOpensThenRecovers(t *testing.T) {
	var healthy atomic.Bool
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	cfg := breakerConfig(3, openLong)
	cfg.RetryAttempts = 1
	var rec recorder
	breakers := NewBreakers(cfg, rec.record)
	signer := &fakeSigner{clock: NewClock(nil), next: &CircuitBreaker{Next: &http.Transport{}, Breakers: breakers}}
	tr := NewRetrier(signer, cfg, breakers, nil, Hooks{})
	do := func() (int, error) {
		req, _ := http.NewRequest("GET", up.URL+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for range 3 {
		if status, err := do(); status != 500 || err != nil {
			t.Fatalf("burst: %d %v", status, err)
		}
	}
	for range 5 {
		if _, err := do(); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("while open: %v, want ErrCircuitOpen", err)
		}
	}
	if n := up.requests.Load(); n != 3 {
		t.Errorf("upstream saw %d requests, want 3", n)
	}
	healthy.Store(true)
	waitFor(t, "half-open", func() bool { return breakers.State(up.Listener.Addr().String()) == HalfOpen })
	if status, err := do(); status != 200 || err != nil {
		t.Fatalf("probe: %d %v", status, err)
	}
	if s := breakers.State(up.Listener.Addr().String()); s != Closed {
		t.Errorf("state after recovery = %v", s)
	}
	if got := rec.list(); len(got) != 3 {
		t.Errorf("state changes %v, want open, half-open, closed", got)
	}
}

// An upstream that hangs past the client's deadline: the client gets the
// deadline error, and the hang counts against the upstream.
func TestHangingUpstreamCountsAtDeadline(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	cfg := breakerConfig(1, time.Hour)
	breakers := NewBreakers(cfg, nil)
	tr := NewRetrier(&CircuitBreaker{Next: &http.Transport{}, Breakers: breakers}, cfg, breakers, nil, Hooks{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", up.URL+"/", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if s := breakers.State(up.Listener.Addr().String()); s != Open {
		t.Errorf("state = %v, want open", s)
	}
}
