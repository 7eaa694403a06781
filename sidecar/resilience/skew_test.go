package resilience

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
)

// skewedUpstream keeps a clock shift away from ours and, like AWS, refuses a
// request whose X-Amz-Date is more than five minutes from its own time,
// answering in the style of the given protocol with its own Date header.
func skewedUpstream(t *testing.T, shift time.Duration, protocol string) *upstream {
	return newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		now := time.Now().Add(shift).UTC()
		w.Header().Set("Date", now.Format(http.TimeFormat))
		signed, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			w.WriteHeader(400)
			return
		}
		skew := signed.Sub(now)
		if skew >= -5*time.Minute && skew <= 5*time.Minute {
			io.WriteString(w, "accepted")
			return
		}
		amz := func(t time.Time) string { return t.Format("20060102T150405Z") }
		switch {
		case protocol == "s3":
			w.WriteHeader(403)
			fmt.Fprintf(w, `<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><RequestTime>%s</RequestTime><ServerTime>%s</ServerTime></Error>`,
				amz(signed), now.Format(time.RFC3339))
		case skew < 0:
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"__type":"InvalidSignatureException","message":"Signature expired: %s is now earlier than %s (%s - 5 min.)"}`,
				amz(signed), amz(now.Add(-5*time.Minute)), amz(now))
		default:
			w.WriteHeader(403)
			fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>Signature not yet current: %s is still later than %s (%s + 5 min.)</Message></Error></ErrorResponse>`,
				amz(signed), amz(now.Add(5*time.Minute)), amz(now))
		}
	})
}

// Our clock is off by an hour or more: the first request is refused, the
// clock takes the upstream's Date, the retry passes, and later requests pass
// at the first attempt.
func TestSkewCorrectedAgainstShiftedUpstream(t *testing.T) {
	for _, tc := range []struct {
		protocol string
		shift    time.Duration
	}{
		{"s3", time.Hour},
		{"s3", -3 * time.Hour},
		{"json", 90 * time.Minute}, // upstream ahead: our dates are expired
		{"query", -time.Hour},      // upstream behind: our dates are not yet current
	} {
		t.Run(fmt.Sprintf("%s %v", tc.protocol, tc.shift), func(t *testing.T) {
			up := skewedUpstream(t, tc.shift, tc.protocol)
			clock := NewClock(nil)
			var corrected []time.Duration
			tr, signer, _ := stack(testConfig(), clock, Hooks{SkewCorrected: func(_ *http.Request, d time.Duration) {
				corrected = append(corrected, d)
			}})
			for i := range 3 {
				req, _ := http.NewRequest("GET", up.URL+"/", nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "accepted" {
					t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
				}
			}
			if n := signer.calls.Load(); n != 4 {
				t.Errorf("signing transport called %d times, want 4 (one refused, three accepted)", n)
			}
			if off := clock.Offset() - tc.shift; off < -5*time.Minute || off > 5*time.Minute || len(corrected) != 1 {
				t.Errorf("offset %v after corrections %v, want about %v once", clock.Offset(), corrected, tc.shift)
			}
		})
	}
}

// An upstream that keeps refusing gets one retry, not a loop, and its answer
// reaches the client.
func TestSkewRetriedOnce(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		io.WriteString(w, `<Error><Code>RequestTimeTooSkewed</Code></Error>`)
	})
	tr, signer, _ := stack(testConfig(), NewClock(nil), Hooks{})
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != 403 || signer.calls.Load() != 2 {
		t.Errorf("got %v %v after %d attempts, want the 403 after 2", resp, err, signer.calls.Load())
	}
}

// With correction off, the clock is left alone and nothing is retried.
func TestSkewCorrectionOff(t *testing.T) {
	up := skewedUpstream(t, time.Hour, "s3")
	cfg := testConfig()
	cfg.ClockSkew = false
	clock := NewClock(nil)
	tr, signer, _ := stack(cfg, clock, Hooks{})
	req, _ := http.NewRequest("GET", up.URL+"/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != 403 || signer.calls.Load() != 1 || clock.Offset() != 0 {
		t.Errorf("got %v %v, %d attempts, offset %v", resp, err, signer.calls.Load(), clock.Offset())
	}
}

func TestClockConcurrent(t *testing.T) {
	base := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	clock := NewClock(func() time.Time { return base })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 1000 {
				if i%2 == 0 {
					clock.Correct(base.Add(time.Duration(j) * time.Second))
				} else if d := clock.Now().Sub(base); d < 0 || d >= 1000*time.Second {
					t.Errorf("Now off by %v", d)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := clock.Correct(base.Add(-time.Minute)); got != -time.Minute || !clock.Now().Equal(base.Add(-time.Minute)) {
		t.Errorf("Correct = %v, Now = %v", got, clock.Now())
	}
}

// The envDefault tags and DefaultConfig say the same thing.
func TestDefaultConfigMatchesTags(t *testing.T) {
	var parsed Config
	if err := env.ParseWithOptions(&parsed, env.Options{Environment: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if parsed != DefaultConfig() {
		t.Errorf("env defaults %+v\n differ from DefaultConfig %+v", parsed, DefaultConfig())
	}
	if err := parsed.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestConfigValidateNamesTheOption(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.BreakerFailures = -1 }, `invalid --breaker-failures "-1": must be 0 (off) or more`},
		{func(c *Config) { c.BreakerOpen = 0 }, `invalid --breaker-open "0s": must be positive`},
		{func(c *Config) { c.BreakerProbes = 0 }, `invalid --breaker-probes "0": must be at least 1`},
		{func(c *Config) { c.RetryAttempts = -1 }, `invalid --retry-attempts "-1": must be 1 or more (1 disables retries)`},
		{func(c *Config) { c.RetryMax = time.Millisecond }, `invalid --retry-max "1ms": must be at least --retry-base`},
		{func(c *Config) { c.TLSHandshakeTimeout = -time.Second }, `invalid --tls-handshake-timeout "-1s": must not be negative`},
		{func(c *Config) { c.IdleConnTimeout = -1 }, `invalid --idle-conn-timeout "-1ns": must not be negative`},
	} {
		c := DefaultConfig()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("Validate = %v, want %q", err, tc.want)
		}
	}
}

// The zero Config is valid and does nothing: what a proxy built without
// resilience options gets.
func TestZeroConfigIsOff(t *testing.T) {
	var c Config
	if err := c.Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	if NewBreakers(c, nil) != nil {
		t.Error("zero Config made breakers")
	}
	var calls int
	tr := NewRetrier(roundTripFunc(func(*http.Request) (*http.Response, error) {
		calls++
		return response(503, nil, `<Error><Code>RequestTimeTooSkewed</Code></Error>`), nil
	}), c, nil, NewClock(nil), Hooks{})
	req, _ := http.NewRequest("GET", "https://h.amazonaws.com/", nil)
	if resp, err := tr.RoundTrip(req); err != nil || resp.StatusCode != 503 || calls != 1 || tr.Clock != nil {
		t.Errorf("zero Config retried or corrected: %d calls, %v", calls, err)
	}
	h := &http.Transport{TLSHandshakeTimeout: 3 * time.Second, IdleConnTimeout: 4 * time.Second}
	c.ApplyTimeouts(h)
	if h.TLSHandshakeTimeout != 3*time.Second || h.IdleConnTimeout != 4*time.Second {
		t.Error("zero Config changed the transport's timeouts")
	}
}

func TestApplyTimeouts(t *testing.T) {
	c := DefaultConfig()
	c.IdleConnTimeout = 0
	tr := &http.Transport{IdleConnTimeout: 7 * time.Second}
	c.ApplyTimeouts(tr)
	if tr.TLSHandshakeTimeout != 10*time.Second || tr.IdleConnTimeout != 7*time.Second {
		t.Errorf("ApplyTimeouts left TLS %v idle %v; want 10s and the transport's own 7s", tr.TLSHandshakeTimeout, tr.IdleConnTimeout)
	}
}
