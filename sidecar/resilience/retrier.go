package resilience

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Retry reasons, as Hooks.Retry reports them and the retries metric labels them.
const (
	ReasonTransport = "transport" // connection refused, reset, timed out before any response byte
	ReasonStatus    = "5xx"       // a 5xx answer that is not throttling
	ReasonThrottled = "throttled" // 429 or a throttling error code
	ReasonSkew      = "clock-skew"
)

// Hooks are the callbacks through which Retrier reports what it does, for
// logs and metrics. Any of them may be nil. They run on the request's
// goroutine and must be quick.
type Hooks struct {
	// Retry is called before each retry with the attempt about to be made
	// (2 for the first retry), the reason and the backoff that precedes it.
	Retry func(req *http.Request, attempt int, reason string, wait time.Duration)
	// SkewCorrected is called when an upstream's Date has changed the clock
	// offset.
	SkewCorrected func(req *http.Request, offset time.Duration)
}

// RetryError is returned when the last attempt failed with a transport
// error: it says how many attempts were made and wraps that error.
type RetryError struct {
	Host     string
	Attempts int
	Err      error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("upstream %s: %d attempt(s) failed, last: %v", e.Host, e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *RetryError) Unwrap() error { return e.Err }

// Retrier retries the requests it passes to Next, which must lead to the
// signer: each attempt is a fresh call to Next with a fresh copy of the
// request, so each is signed afresh with the Clock's current time. The
// breaker sits below the signer (CircuitBreaker), so an *OpenError comes back
// from Next and ends the retries at once.
//
// A request is retried, up to Attempts in all, when
// its body can be replayed (none, or GetBody set, by the caller or by Next on
// the request it was given) and the attempt ended in a
// transport error before any response byte, a 5xx or a throttling answer.
// Between attempts it waits a random time in [0, min(Max, Base*2^n)) (full
// jitter), or the upstream's Retry-After when that is longer and at most Max;
// it stops when the request's context ends, and does not start a wait that
// would outlive the context's deadline. Discarded answers are drained and
// closed. When an upstream rejects the signing time as skewed, the Clock is
// set from its Date header and the request is retried once, at once, outside
// the Attempts budget.
//
// It numbers the attempts on the request's Exchange (made when the context
// carries none) and reads each answer's Outcome from it. Retrier does not
// modify the caller's request. Safe for concurrent use.
type Retrier struct {
	Next     http.RoundTripper
	Breakers *Breakers // nil: no breaker; read only to skip waits that end on an open breaker
	Clock    *Clock    // nil: no clock-skew correction
	Attempts int       // total attempts, the first included; <= 1: no retries
	Base     time.Duration
	Max      time.Duration
	Hooks    Hooks

	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewRetrier returns a Retrier over next configured by cfg: breakers and
// clock are shared with the rest of the proxy (the CircuitBreaker below the
// signer, the signer and the metrics use them); clock is ignored when
// cfg.ClockSkew is off.
func NewRetrier(next http.RoundTripper, cfg Config, breakers *Breakers, clock *Clock, hooks Hooks) *Retrier {
	if !cfg.ClockSkew {
		clock = nil
	}
	return &Retrier{
		Next:     next,
		Breakers: breakers,
		Clock:    clock,
		Attempts: cfg.RetryAttempts,
		Base:     cfg.RetryBase,
		Max:      cfg.RetryMax,
		Hooks:    hooks,
	}
}

// RoundTrip implements http.RoundTripper.
func (t *Retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	x := ExchangeFrom(ctx)
	if x == nil {
		x = &Exchange{}
		ctx = WithExchange(ctx, x)
	}
	host := req.URL.Host
	hasBody := req.Body != nil && req.Body != http.NoBody
	getBody := req.GetBody
	skewRetried := false
	budget := max(t.Attempts, 1)
	for attempt, counted := 1, 1; ; attempt++ {
		body := req.Body
		if attempt > 1 && hasBody {
			var err error
			if body, err = getBody(); err != nil {
				return nil, fmt.Errorf("replaying the request body for attempt %d: %w", attempt, err)
			}
		}
		x.Attempt = attempt
		out := req.Clone(ctx)
		out.Body, out.GetBody = body, getBody
		resp, err := t.Next.RoundTrip(out)
		// A layer below may have made the body replayable: the signer
		// spools a body it must hash and sets GetBody on the request it
		// was given.
		if out.GetBody != nil {
			getBody = out.GetBody
		}
		replayable := !hasBody || getBody != nil

		if err != nil {
			transport := isTransportError(err) && ctx.Err() == nil
			if !transport || !replayable || counted >= budget {
				if transport && attempt > 1 {
					return nil, &RetryError{Host: host, Attempts: attempt, Err: err}
				}
				return nil, err
			}
			wait := t.backoff(counted, nil)
			if !t.mayWait(ctx, host, wait) {
				return nil, &RetryError{Host: host, Attempts: attempt, Err: err}
			}
			t.retrying(out, attempt+1, ReasonTransport, wait)
			if err := t.wait(ctx, wait); err != nil {
				return nil, err
			}
			counted++
			continue
		}

		o := x.Outcome(resp)
		if o.Skewed && t.Clock != nil && !skewRetried && replayable {
			if serverTime, derr := upstreamDate(resp, o); derr == nil {
				offset := t.Clock.Correct(serverTime)
				if t.Hooks.SkewCorrected != nil {
					t.Hooks.SkewCorrected(out, offset)
				}
			}
			// Retried even without a Date: a signature that expired while a
			// slow body was spooled is valid again with a fresh date.
			skewRetried = true
			discard(resp)
			t.retrying(out, attempt+1, ReasonSkew, 0)
			continue
		}
		if !o.Failed() || !replayable || counted >= budget {
			return resp, nil
		}
		reason := ReasonStatus
		if o.Throttled {
			reason = ReasonThrottled
		}
		wait := t.backoff(counted, resp)
		if !t.mayWait(ctx, host, wait) {
			return resp, nil // AWS's own answer is more useful than ours
		}
		discard(resp)
		t.retrying(out, attempt+1, reason, wait)
		if err := t.wait(ctx, wait); err != nil {
			return nil, err
		}
		counted++
	}
}

func (t *Retrier) retrying(req *http.Request, attempt int, reason string, wait time.Duration) {
	if t.Hooks.Retry != nil {
		t.Hooks.Retry(req, attempt, reason, wait)
	}
}

// mayWait reports whether a retry after wait is worth starting: the client is
// still there, will still be there when the wait ends, and the breaker has
// not opened meanwhile.
func (t *Retrier) mayWait(ctx context.Context, host string, wait time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
		return false
	}
	return t.Breakers.State(host) != Open
}

// backoff returns the wait before retry number n (1 for the first retry):
// full jitter over an exponentially growing cap ("Exponential Backoff And
// Jitter", AWS Architecture Blog, 2015), or the upstream's Retry-After in
// seconds when longer and not above Max.
func (t *Retrier) backoff(n int, resp *http.Response) time.Duration {
	capped := t.Max
	if n < 32 {
		if c := t.Base << (n - 1); c > 0 && c < capped {
			capped = c
		}
	}
	var wait time.Duration
	if capped > 0 {
		wait = rand.N(capped)
	}
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			if ra := time.Duration(s) * time.Second; ra > wait && ra <= t.Max {
				wait = ra
			}
		}
	}
	return wait
}

func (t *Retrier) wait(ctx context.Context, d time.Duration) error {
	if t.sleep != nil {
		return t.sleep(ctx, d)
	}
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// discardLimit bounds how much of a discarded answer is read so that its
// connection can be reused; a longer body closes the connection instead.
const discardLimit = 64 << 10

func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, discardLimit)
	resp.Body.Close()
}

// isTransportError reports whether err is the network failing between the
// proxy and the upstream (refused, reset, timed out, cut short) rather than
// the proxy refusing to send (no credentials, a body too large: those errors
// come from the signing transport and are not retried) or a certificate the
// proxy does not trust, which retrying cannot fix.
func isTransportError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostnameErr) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

var _ http.RoundTripper = (*Retrier)(nil)
