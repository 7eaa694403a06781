package creds

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of SessionOptions.
const (
	// DefaultSessionRefreshWindow: S3 Express sessions live five minutes
	// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-create-session.html);
	// aws-sdk-go-v2 refreshes them in their last minute too.
	DefaultSessionRefreshWindow = time.Minute
	DefaultSessionCapacity      = 1000
	DefaultSessionCreateTimeout = 30 * time.Second
	// DefaultSessionRetryHoldoff: after a failed refresh ahead of expiry,
	// no other starts for this long while the held session is still good.
	DefaultSessionRetryHoldoff = time.Second
)

// CreateSessionFunc makes a new session with the base credentials: for S3
// Express One Zone, a CreateSession call on the directory bucket signed
// with base. The session it returns must expire (CanExpire and Expires
// set). ctx is not the ctx of any one request: a session is shared, and
// its creation outlives a caller that gives up.
type CreateSessionFunc func(ctx context.Context, base Credentials) (Credentials, error)

// SessionOptions tunes a Sessions. Zero fields take the defaults above.
type SessionOptions struct {
	// Now is the clock sessions expire by; nil means time.Now. The proxy
	// passes its signing clock, which follows the upstream's when skewed.
	Now func() time.Time
	// RefreshWindow is how long before its expiry a session is replaced:
	// the first Get inside it starts a new one in the background and
	// returns the held one meanwhile.
	RefreshWindow time.Duration
	// Capacity bounds how many (resource, base credentials) pairs are held;
	// the one used least recently goes first.
	Capacity int
	// CreateTimeout bounds one CreateSessionFunc call.
	CreateTimeout time.Duration
	// RetryHoldoff: see DefaultSessionRetryHoldoff.
	RetryHoldoff time.Duration
	// Log receives failed refreshes (Warn). Never a secret. Nil discards.
	Log *slog.Logger
}

// Sessions holds short-lived session credentials that a service issues for
// one resource in exchange for a signed call with base credentials (S3
// Express One Zone: one session per directory bucket, five minutes long).
// Sessions are kept per resource and per base credentials, so that a
// rotation of the base credentials never reuses a session made with the old
// ones; the base secret is kept only as part of a SHA-256 digest.
//
// Get returns the held session without waiting while it is good; within
// RefreshWindow of its expiry it also starts a new one in the background.
// Only when there is no good session does a Get wait, and every Get that
// waits for one resource and base joins the same creation: there is at most
// one CreateSessionFunc call per pair at a time. A failed creation is not
// remembered: the next Get tries again. Safe for concurrent use.
type Sessions struct {
	opts SessionOptions

	mu      sync.Mutex
	entries map[sessionKey]*sessionEntry
	tick    uint64 // use counter, for least-recently-used eviction
}

// sessionKey names one session: the resource and a digest of the base
// credentials it was made with.
type sessionKey struct {
	resource string
	base     [sha256.Size]byte
}

type sessionEntry struct {
	cur    Credentials // zero until a creation succeeds, or once invalidated
	flight *sessionFlight
	used   uint64
	// holdUntil: no refresh ahead of expiry starts before it (the last one
	// failed).
	holdUntil time.Time
}

// sessionFlight is one creation; creds and err are set before done closes.
type sessionFlight struct {
	done  chan struct{}
	creds Credentials
	err   error
}

// NewSessions returns an empty Sessions.
func NewSessions(opts SessionOptions) *Sessions {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	setDefault(&opts.RefreshWindow, DefaultSessionRefreshWindow)
	setDefault(&opts.CreateTimeout, DefaultSessionCreateTimeout)
	setDefault(&opts.RetryHoldoff, DefaultSessionRetryHoldoff)
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultSessionCapacity
	}
	return &Sessions{opts: opts, entries: map[sessionKey]*sessionEntry{}}
}

// Get returns a session for resource made with base: the held one while it
// has not expired, else a new one made by create, for which it waits (or
// until ctx ends). A Get that joins a creation under way does not call its
// own create. The error is a CreateSessionFunc's, or ctx's.
func (s *Sessions) Get(ctx context.Context, resource string, base Credentials, create CreateSessionFunc) (Credentials, error) {
	key := sessionKey{resource: resource, base: baseDigest(base)}
	now := s.opts.Now()
	s.mu.Lock()
	e := s.entryLocked(key)
	if good(e.cur, now) {
		if e.flight == nil && e.cur.Expires.Sub(now) <= s.opts.RefreshWindow && !now.Before(e.holdUntil) {
			s.startLocked(ctx, key, e, base, create)
		}
		c := e.cur
		s.mu.Unlock()
		return c, nil
	}
	f := e.flight
	if f == nil {
		f = s.startLocked(ctx, key, e, base, create)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.creds, f.err
	case <-ctx.Done():
		return Credentials{}, ctx.Err()
	}
}

// Invalidate drops the session of resource whose access key id is
// accessKeyID, after the upstream rejected it (an expired or revoked
// session token): the next Get makes a new one. A session that has
// already been replaced is left alone, so that many requests rejected
// together make one new session, not one each.
func (s *Sessions) Invalidate(resource, accessKeyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.entries {
		if key.resource == resource && e.cur.AccessKeyID == accessKeyID {
			e.cur = Credentials{}
		}
	}
}

// good reports whether c is a session that can still sign at now.
func good(c Credentials, now time.Time) bool {
	return c.AccessKeyID != "" && !c.Expired(now)
}

// entryLocked returns key's entry, making room for it if need be. Called
// with mu held.
func (s *Sessions) entryLocked(key sessionKey) *sessionEntry {
	s.tick++
	if e, ok := s.entries[key]; ok {
		e.used = s.tick
		return e
	}
	if len(s.entries) >= s.opts.Capacity {
		s.evictLocked()
	}
	e := &sessionEntry{used: s.tick}
	s.entries[key] = e
	return e
}

// evictLocked removes the entry used least recently, skipping those with
// a creation under way (its callers hold the entry). Called with mu held.
func (s *Sessions) evictLocked() {
	var oldest sessionKey
	var found *sessionEntry
	for key, e := range s.entries {
		if e.flight == nil && (found == nil || e.used < found.used) {
			oldest, found = key, e
		}
	}
	if found != nil {
		delete(s.entries, oldest)
	}
}

// startLocked starts creating a session for key and returns its flight.
// The creation runs on a context of its own, with ctx's values but not its
// cancellation, bounded by CreateTimeout. Called with mu held.
func (s *Sessions) startLocked(ctx context.Context, key sessionKey, e *sessionEntry, base Credentials, create CreateSessionFunc) *sessionFlight {
	f := &sessionFlight{done: make(chan struct{})}
	e.flight = f
	go func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.CreateTimeout)
		c, err := create(cctx, base)
		cancel()
		now := s.opts.Now()
		if err == nil {
			err = checkSession(c, now)
		}
		s.mu.Lock()
		if err == nil {
			e.cur = c
		} else if good(e.cur, now) {
			// A refresh ahead of expiry failed: the held session stays in
			// use, and the next refresh waits a little.
			e.holdUntil = now.Add(s.opts.RetryHoldoff)
			s.opts.Log.Warn("session refresh failed; the current session stays in use",
				"resource", key.resource, "session", e.cur, "error", err)
		}
		e.flight = nil
		s.mu.Unlock()
		f.creds, f.err = c, err
		if err != nil {
			f.creds = Credentials{}
		}
		close(f.done)
	}()
	return f
}

// errSessionNoExpiry: a session that says nothing of its expiry cannot be
// refreshed ahead of it.
var errSessionNoExpiry = errors.New("the session has no expiry")

// checkSession rejects a session no upstream would accept.
func checkSession(c Credentials, now time.Time) error {
	switch {
	case c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "":
		return errors.New("the session lacks an access key id, secret key or session token")
	case !c.CanExpire || c.Expires.IsZero():
		return errSessionNoExpiry
	case c.Expired(now):
		return fmt.Errorf("the session expired at %s on arrival (is the clock right?)", c.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// baseDigest identifies base credentials without keeping their secret.
func baseDigest(c Credentials) [sha256.Size]byte {
	h := sha256.New()
	for _, part := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
