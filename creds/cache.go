package creds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of CacheOptions.
const (
	DefaultRefreshWindow = 5 * time.Minute
	DefaultMinBackoff    = time.Second
	DefaultMaxBackoff    = 30 * time.Second
	DefaultPollInterval  = time.Second
	DefaultFetchTimeout  = 30 * time.Second
	// DefaultReissueHoldoff: see CacheOptions.ReissueHoldoff.
	DefaultReissueHoldoff = 5 * time.Second
	DefaultExpiredWait    = 2 * time.Second
)

// CacheOptions tunes a Cache. Zero fields take the defaults above.
type CacheOptions struct {
	// Log receives refresh failures (Warn), expiry (Error), recovery (Info)
	// and routine refreshes (Debug). Never a secret. Nil discards.
	Log *slog.Logger
	// RefreshWindow is how long before expiry the background refresh
	// starts, at most: credentials that live less than twice as long are
	// refreshed halfway through their remaining life. A random extra of up
	// to a quarter of the lead spreads the refreshes of many sidecars that
	// started together.
	RefreshWindow time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed refreshes; it
	// doubles from MinBackoff, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is how often a source that can tell it changed (the
	// credentials file) is asked.
	PollInterval time.Duration
	// FetchTimeout bounds one fetch from the source.
	FetchTimeout time.Duration
	// ExpiredWait bounds how long Retrieve waits for a fetch once the
	// held credentials have expired (the source has been failing, or the
	// machine slept through the planned refresh), or while none has ever
	// been fetched and the last fetch failed: long enough for a
	// healthy source to answer, short enough that requests fail fast
	// while it is down.
	ExpiredWait time.Duration
	// ReissueHoldoff: when a key was invalidated and the source handed the
	// same key back, further Invalidate calls for it are ignored for this
	// long, so a stream of rejected requests cannot turn into a stream of
	// fetches (IMDS and STS throttle).
	ReissueHoldoff time.Duration
}

func (o CacheOptions) withDefaults() CacheOptions {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	setDefault(&o.RefreshWindow, DefaultRefreshWindow)
	setDefault(&o.MinBackoff, DefaultMinBackoff)
	setDefault(&o.MaxBackoff, DefaultMaxBackoff)
	setDefault(&o.PollInterval, DefaultPollInterval)
	setDefault(&o.FetchTimeout, DefaultFetchTimeout)
	setDefault(&o.ReissueHoldoff, DefaultReissueHoldoff)
	setDefault(&o.ExpiredWait, DefaultExpiredWait)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	return o
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Cache holds the current credentials of a Provider and keeps them fresh.
//
// Retrieve reads an atomic pointer: in the normal case it never waits and
// never calls the provider. A background goroutine refreshes ahead of
// expiry (see CacheOptions.RefreshWindow), retries failures with
// exponential backoff while the old credentials stay in use, and polls
// sources that can tell they changed (the credentials file). At most one
// fetch runs at a time whoever asks for it: concurrent callers that need
// one wait for the same fetch. Once the credentials have expired with no
// successful refresh, Retrieve returns an *ExpiredError and Ready reports
// false, until a refresh succeeds.
//
// A Cache is safe for concurrent use. Close stops the background work.
// The model is aws-sdk-go-v2's aws.CredentialsCache, with the refresh moved
// off the request path.
type Cache struct {
	provider Provider
	opts     CacheOptions
	log      *slog.Logger

	// cur is the current entry, replaced whole, never modified: a reader
	// sees one complete key pair.
	cur atomic.Pointer[entry]

	mu          sync.Mutex
	flight      *flight   // the fetch under way, nil when none
	nextRefresh time.Time // scheduled refresh ahead of expiry; zero: none
	backoff     time.Duration
	nextAttempt time.Time // while failing: no fetch before this
	consecutive int       // failed fetches since the last success
	refreshes   uint64
	failures    uint64
	lastErr     error
	lastErrAt   time.Time
	lastRefresh time.Time
	expiredLog  bool // the expiry has been logged since the last success

	closed  bool           // set by Close: no new fetch starts
	fetches sync.WaitGroup // fetch goroutines, waited for by Close

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

var _ Source = (*Cache)(nil)

// entry is one value of the cache. Never modified once stored.
type entry struct {
	creds   Credentials
	fetched time.Time
	// invalidated: an upstream rejected these credentials; the next use
	// fetches new ones.
	invalidated bool
	// reissued: these credentials had been invalidated and the source
	// handed the same key id back.
	reissued bool
}

// flight is one fetch; err is set before done is closed.
type flight struct {
	done chan struct{}
	err  error
}

// NewCache wraps p, which must fetch afresh on every Retrieve, and starts
// fetching in the background at once. Close it when done.
func NewCache(p Provider, opts CacheOptions) *Cache {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{
		provider: p,
		opts:     opts,
		log:      opts.Log,
		wake:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
	}
	go c.run()
	return c
}

// Retrieve returns the current credentials. It waits only when there are no
// usable ones: none yet, expired (for ExpiredWait at most), or invalidated.
// It then joins (or starts, unless a failed fetch asked to back off) the one
// fetch under way. An invalidated key whose refresh failed is still
// returned while it has not expired: the upstream's own answer is more
// useful than a 503.
//
// Errors: *ExpiredError (wrapping ErrNoCredentials and the last fetch
// error) when nothing usable is held; ctx's error if ctx ends first.
func (c *Cache) Retrieve(ctx context.Context) (Credentials, error) {
	e := c.cur.Load()
	if e != nil && !e.invalidated && !e.creds.Expired(time.Now()) {
		return e.creds, nil
	}
	wait := ctx
	if e != nil && e.creds.Expired(time.Now()) || e == nil && c.failing() {
		// Expired, or nothing yet after a failed fetch, means the source
		// has been failing: answer soon rather than hold every request for
		// a fetch that is likely to fail too.
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, c.opts.ExpiredWait)
		defer cancel()
	}
	if err := c.refresh(wait, fetchForReader); err != nil && ctx.Err() != nil {
		return Credentials{}, fmt.Errorf("waiting for credentials: %w", ctx.Err())
	}
	e = c.cur.Load()
	if e != nil && !e.creds.Expired(time.Now()) {
		return e.creds, nil
	}
	return Credentials{}, c.unavailable(e)
}

// failing reports whether the last fetch failed.
func (c *Cache) failing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.consecutive > 0
}

// Invalidate drops the credentials with this access key id, when they are
// the current ones, and starts a refresh; the next Retrieve waits for it.
// Other key ids are ignored: the keys have rotated already. See
// CacheOptions.ReissueHoldoff for a source that keeps handing the rejected
// key back.
func (c *Cache) Invalidate(accessKeyID string) {
	e := c.cur.Load()
	if e == nil || e.invalidated || e.creds.AccessKeyID != accessKeyID {
		return
	}
	if e.reissued && time.Since(e.fetched) < c.opts.ReissueHoldoff {
		return
	}
	dropped := *e
	dropped.invalidated = true
	if c.cur.CompareAndSwap(e, &dropped) {
		c.log.Info("credentials invalidated: the upstream rejected them", "access_key_id", KeyIDSuffix(accessKeyID))
		c.poke()
	}
}

// Ready reports whether Retrieve can return credentials that have not
// expired without waiting on the source. Cheap: for /readyz.
func (c *Cache) Ready() bool {
	e := c.cur.Load()
	return e != nil && !e.creds.Expired(time.Now())
}

// NotReady returns why Ready is false, without fetching: the *ExpiredError
// a Retrieve would end with (the source, the expiry if any, the last fetch
// error). Nil when Ready. Cheap: for /readyz.
func (c *Cache) NotReady() error {
	e := c.cur.Load()
	if e != nil && !e.creds.Expired(time.Now()) {
		return nil
	}
	return c.unavailable(e)
}

// Status is a snapshot of a Cache for /readyz, metrics and diagnostics.
// It holds no secret.
type Status struct {
	// Source names the source of the current credentials (empty before the
	// first success).
	Source string
	// AccessKeyID is the current key id, masked to its last four characters.
	AccessKeyID string
	CanExpire   bool
	Expires     time.Time
	// Ready is Cache.Ready at the time of the snapshot.
	Ready bool
	// Invalidated: an upstream rejected the current key and no refresh has
	// replaced it yet.
	Invalidated bool
	LastRefresh time.Time
	// NextRefresh is when the background refresh will next run: ahead of
	// expiry, or the next retry while failing. Zero when nothing is planned
	// (static credentials are refreshed on change or Invalidate only).
	NextRefresh time.Time
	// LastError is the last fetch error, kept after a later success so a
	// flapping source can be diagnosed; ConsecutiveFailures says whether it
	// is current.
	LastError           string
	LastErrorAt         time.Time
	Refreshes           uint64 // successful fetches
	Failures            uint64 // failed fetches
	ConsecutiveFailures int
}

// Status returns a snapshot. Safe for concurrent use.
func (c *Cache) Status() Status {
	e := c.cur.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{
		LastRefresh:         c.lastRefresh,
		LastErrorAt:         c.lastErrAt,
		Refreshes:           c.refreshes,
		Failures:            c.failures,
		ConsecutiveFailures: c.consecutive,
		NextRefresh:         c.nextWakeLocked(e, time.Now()),
	}
	if c.lastErr != nil {
		s.LastError = c.lastErr.Error()
	}
	if e != nil {
		s.Source = e.creds.Source
		s.AccessKeyID = KeyIDSuffix(e.creds.AccessKeyID)
		s.CanExpire = e.creds.CanExpire
		s.Expires = e.creds.Expires
		s.Ready = !e.creds.Expired(time.Now())
		s.Invalidated = e.invalidated
	}
	return s
}

// Close stops the background refresh and waits for it and for any fetch
// under way. Retrieve keeps answering from what is held, without
// refreshing. Idempotent.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	<-c.done
	c.fetches.Wait()
	return nil
}

// errClosed is what a Retrieve that needs a fetch gets after Close (wrapped
// in an *ExpiredError).
var errClosed = errors.New("credentials cache closed")

// ExpiredError says that no usable credentials are held: the last ones
// expired (or none was ever retrieved) and no fetch has succeeded since.
// It wraps ErrNoCredentials and the last fetch error.
type ExpiredError struct {
	// Source names the source that failed.
	Source string
	// Expired is when the last credentials expired; zero if none was ever
	// retrieved.
	Expired time.Time
	// Err is the last fetch error, nil if none was attempted yet.
	Err error
}

func (e *ExpiredError) Error() string {
	msg := ErrNoCredentials.Error() + ": "
	if e.Expired.IsZero() {
		msg += "no credentials retrieved yet from " + e.Source
	} else {
		msg += "credentials from " + e.Source + " expired at " + e.Expired.UTC().Format(time.RFC3339)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ExpiredError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrNoCredentials}
	}
	return []error{ErrNoCredentials, e.Err}
}

func (c *Cache) unavailable(e *entry) error {
	c.mu.Lock()
	err := &ExpiredError{Source: providerName(c.provider), Err: c.lastErr}
	c.mu.Unlock()
	if e != nil {
		err.Source = e.creds.Source
		err.Expired = e.creds.Expires
	}
	return err
}

// fetchReason says why refresh is called.
type fetchReason int

const (
	// fetchForReader: Retrieve found nothing usable. When a fetch that
	// ended meanwhile left usable credentials, none starts: a caller that
	// was descheduled between its look and refresh must not fetch again.
	fetchForReader fetchReason = iota
	// fetchPlanned: the background loop's refresh ahead of expiry or retry.
	fetchPlanned
	// fetchChanged: the source says it changed; fetch even while backing off.
	fetchChanged
)

// refresh joins the fetch under way or starts one, and waits for it or for
// ctx. Unless why is fetchChanged, it starts none while a failed fetch
// asked to back off, and returns the last error instead. The fetch itself
// runs on the Cache's context: a caller that gives up does not abort it
// for the others.
func (c *Cache) refresh(ctx context.Context, why fetchReason) error {
	c.mu.Lock()
	f := c.flight
	if f == nil {
		if c.closed {
			c.mu.Unlock()
			return errClosed
		}
		if e := c.cur.Load(); why == fetchForReader && e != nil && !e.invalidated && !e.creds.Expired(time.Now()) {
			c.mu.Unlock()
			return nil
		}
		if why != fetchChanged && c.consecutive > 0 && time.Now().Before(c.nextAttempt) {
			err := c.lastErr
			c.mu.Unlock()
			return err
		}
		f = &flight{done: make(chan struct{})}
		c.flight = f
		c.fetches.Add(1)
		go c.fetch(f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch runs one Retrieve on the provider and records its outcome.
func (c *Cache) fetch(f *flight) {
	defer c.fetches.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.FetchTimeout)
	v, err := c.provider.Retrieve(ctx)
	cancel()
	now := time.Now()
	if err == nil {
		err = checkFetched(v, now)
	}

	prev := c.cur.Load()
	c.mu.Lock()
	if err != nil {
		c.failed(prev, err, now)
	} else {
		next := &entry{creds: v, fetched: now}
		if prev != nil && prev.invalidated && prev.creds.AccessKeyID == v.AccessKeyID {
			next.reissued = true
		}
		c.cur.Store(next)
		c.refreshes++
		c.lastRefresh = now
		c.consecutive, c.backoff, c.nextAttempt = 0, 0, time.Time{}
		c.nextRefresh = c.refreshAt(v, now)
		switch {
		case c.expiredLog:
			c.expiredLog = false
			c.log.Info("credentials recovered", "credentials", v)
		case prev == nil:
			// One line for the first value, whether it came at once or
			// after failures (Start: the proxy is serving 503 meanwhile).
			c.log.Info("credentials loaded", "credentials", v)
		default:
			c.log.Debug("credentials refreshed", "credentials", v, "next_refresh", c.nextRefresh)
		}
	}
	c.flight = nil
	c.mu.Unlock()

	f.err = err
	close(f.done)
	c.poke()
}

// failed records a failed fetch and when to try again. Called with mu held.
func (c *Cache) failed(prev *entry, err error, now time.Time) {
	c.failures++
	c.consecutive++
	c.lastErr, c.lastErrAt = err, now
	if c.backoff == 0 {
		c.backoff = c.opts.MinBackoff
	} else {
		c.backoff = min(2*c.backoff, c.opts.MaxBackoff)
	}
	wait := c.backoff/2 + rand.N(c.backoff/2+1)
	c.nextAttempt = now.Add(wait)
	// One more attempt at the moment of expiry rather than a long backoff
	// that would leave the proxy without credentials.
	if prev != nil && prev.creds.CanExpire && prev.creds.Expires.After(now) && prev.creds.Expires.Before(c.nextAttempt) {
		c.nextAttempt = prev.creds.Expires
	}
	switch {
	case prev != nil && prev.creds.Expired(now):
		if !c.expiredLog {
			c.expiredLog = true
			c.log.Error("credentials expired and refresh failing: requests fail until the source recovers",
				"source", prev.creds.Source, "expired", prev.creds.Expires, "error", err)
		}
	case prev != nil:
		c.log.Warn("credentials refresh failed; the current ones stay in use",
			"credentials", prev.creds, "retry_in", c.nextAttempt.Sub(now).Round(time.Millisecond), "error", err)
	default:
		c.log.Warn("credentials fetch failed", "source", providerName(c.provider),
			"retry_in", c.nextAttempt.Sub(now).Round(time.Millisecond), "error", err)
	}
}

// checkFetched rejects what no upstream would accept.
func checkFetched(v Credentials, now time.Time) error {
	switch {
	case v.AccessKeyID == "" || v.SecretAccessKey == "":
		return fmt.Errorf("%s returned an empty access key id or secret key", v.Source)
	case v.Expired(now):
		return fmt.Errorf("%s returned credentials that expired at %s (is the clock right?)",
			v.Source, v.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// refreshAt plans the refresh ahead of expiry; zero for credentials that do
// not expire.
func (c *Cache) refreshAt(v Credentials, now time.Time) time.Time {
	if !v.CanExpire {
		return time.Time{}
	}
	lead := min(c.opts.RefreshWindow, v.Expires.Sub(now)/2)
	lead += rand.N(lead/4 + 1)
	at := v.Expires.Add(-lead)
	// Never sooner than MinBackoff: a source that keeps handing out
	// nearly expired credentials must not spin the loop.
	return later(at, now.Add(c.opts.MinBackoff))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (c *Cache) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// nextWakeLocked is when the background loop should fetch next. Called
// with mu held.
func (c *Cache) nextWakeLocked(e *entry, now time.Time) time.Time {
	switch {
	case c.consecutive > 0:
		return c.nextAttempt
	case e == nil || e.invalidated:
		return now
	default:
		return c.nextRefresh
	}
}

// run is the background loop: refresh when planned, retry when failing,
// poll for changes, until Close.
func (c *Cache) run() {
	defer close(c.done)
	detector, _ := c.provider.(changeDetector)
	var poll <-chan time.Time
	if detector != nil {
		t := time.NewTicker(c.opts.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		c.mu.Lock()
		at := c.nextWakeLocked(c.cur.Load(), time.Now())
		busy := c.flight != nil
		c.mu.Unlock()
		// A fetch under way pokes the loop when it ends.
		if at.IsZero() || busy {
			timer.Stop()
		} else {
			timer.Reset(time.Until(at))
		}
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		case <-timer.C:
			c.refresh(c.ctx, fetchPlanned)
		case <-poll:
			if detector.Changed() {
				c.log.Debug("credentials source changed; re-reading", "source", providerName(c.provider))
				c.refresh(c.ctx, fetchChanged)
			}
		}
	}
}
