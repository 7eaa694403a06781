package creds

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// sessionMaker issues numbered five-minute sessions on the fake clock and
// remembers the base credentials each was made with.
type sessionMaker struct {
	clock *fakeClock
	mu    sync.Mutex
	bases []Credentials
	fail  error
	// gate, when set, is received from before each session is issued.
	gate chan struct{}
	// called, when set, is sent to as each creation starts.
	called chan int
}

func (m *sessionMaker) create(ctx context.Context, base Credentials) (Credentials, error) {
	m.mu.Lock()
	m.bases = append(m.bases, base)
	n := len(m.bases)
	fail := m.fail
	m.mu.Unlock()
	if m.called != nil {
		m.called <- n
	}
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return Credentials{}, ctx.Err()
		}
	}
	if fail != nil {
		return Credentials{}, fail
	}
	return Credentials{
		AccessKeyID:     fmt.Sprintf("SESSION%d", n),
		SecretAccessKey: fmt.Sprintf("session-secret-%d", n),
		SessionToken:    fmt.Sprintf("session-token-%d", n),
		CanExpire:       true,
		Expires:         m.clock.Now().Add(5 * time.Minute),
	}, nil
}

func (m *sessionMaker) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.bases)
}

var (
	baseA = Credentials{AccessKeyID: "AKIDBASEA", SecretAccessKey: "secret-a", SessionToken: "token-a"}
	baseB = Credentials{AccessKeyID: "AKIDBASEB", SecretAccessKey: "secret-b", SessionToken: "token-b"}
)

func mustGet(t *testing.T, s *Sessions, resource string, base Credentials, create CreateSessionFunc) Credentials {
	t.Helper()
	c, err := s.Get(context.Background(), resource, base, create)
	if err != nil {
		t.Fatalf("Get(%s): %v", resource, err)
	}
	return c
}

// waitCall waits for the next creation to start.
func waitCall(t *testing.T, called chan int) int {
	t.Helper()
	select {
	case n := <-called:
		return n
	case <-time.After(10 * time.Second):
		t.Fatal("no session creation started")
		return 0
	}
}

// TestSessionsSingleFlight: many callers that find no session make one
// creation between them. The creation is held until every caller has read
// the clock, which each does on entering Get, so that all of them find it
// under way.
func TestSessionsSingleFlight(t *testing.T) {
	const callers = 32
	clock := newFakeClock()
	m := &sessionMaker{clock: clock, gate: make(chan struct{})}
	var entered atomic.Int32
	s := NewSessions(SessionOptions{Now: func() time.Time {
		if entered.Add(1) == callers {
			close(m.gate)
		}
		return clock.Now()
	}})
	var wg sync.WaitGroup
	got := make([]Credentials, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = s.Get(context.Background(), "bucket--usw2-az1--x-s3", baseA, m.create)
		}()
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || got[i].AccessKeyID != "SESSION1" {
			t.Fatalf("caller %d: %v, %v", i, got[i].AccessKeyID, errs[i])
		}
	}
	if n := m.count(); n != 1 {
		t.Errorf("%d callers made %d sessions, want 1", callers, n)
	}
}

// TestSessionsRefreshAhead: inside the refresh window the held session is
// returned at once while one new session is made in the background; once
// the old one has expired, callers get the new one.
func TestSessionsRefreshAhead(t *testing.T) {
	clock := newFakeClock()
	m := &sessionMaker{clock: clock}
	s := NewSessions(SessionOptions{Now: clock.Now})
	const bucket = "b--usw2-az1--x-s3"
	if c := mustGet(t, s, bucket, baseA, m.create); c.AccessKeyID != "SESSION1" {
		t.Fatalf("first session %s", c.AccessKeyID)
	}
	clock.Advance(4*time.Minute + 30*time.Second) // 30s left: inside the window
	m.called, m.gate = make(chan int, 4), make(chan struct{})
	if c := mustGet(t, s, bucket, baseA, m.create); c.AccessKeyID != "SESSION1" {
		t.Errorf("inside the window: %s, want the held SESSION1 without waiting", c.AccessKeyID)
	}
	if n := waitCall(t, m.called); n != 2 {
		t.Fatalf("refresh is creation %d", n)
	}
	// While the refresh is under way, callers keep the held session and
	// start no other.
	if c := mustGet(t, s, bucket, baseA, m.create); c.AccessKeyID != "SESSION1" {
		t.Errorf("during the refresh: %s", c.AccessKeyID)
	}
	close(m.gate)
	clock.Advance(time.Minute) // SESSION1 has expired
	if c := mustGet(t, s, bucket, baseA, m.create); c.AccessKeyID != "SESSION2" {
		t.Errorf("after expiry: %s, want SESSION2", c.AccessKeyID)
	}
	if n := m.count(); n != 2 {
		t.Errorf("%d sessions made, want 2", n)
	}
}

// TestSessionsPerBaseCredentials: a rotation of the base credentials makes
// a new session with the new ones; the old session is never handed out
// for them.
func TestSessionsPerBaseCredentials(t *testing.T) {
	clock := newFakeClock()
	m := &sessionMaker{clock: clock}
	s := NewSessions(SessionOptions{Now: clock.Now})
	const bucket = "b--usw2-az1--x-s3"
	a := mustGet(t, s, bucket, baseA, m.create)
	b := mustGet(t, s, bucket, baseB, m.create)
	if a.AccessKeyID == b.AccessKeyID {
		t.Fatalf("base B got base A's session %s", b.AccessKeyID)
	}
	if m.bases[1] != baseB {
		t.Errorf("the second session was made with %v, want base B", m.bases[1].AccessKeyID)
	}
	// The same key id with a new secret (a rewritten credentials file) is
	// a rotation too.
	rotated := baseA
	rotated.SecretAccessKey = "secret-a-2"
	if c := mustGet(t, s, bucket, rotated, m.create); c.AccessKeyID == a.AccessKeyID {
		t.Errorf("a new secret for the same key id reused session %s", c.AccessKeyID)
	}
	// Another bucket, another session.
	if c := mustGet(t, s, "other--usw2-az1--x-s3", baseA, m.create); c.AccessKeyID == a.AccessKeyID {
		t.Errorf("another bucket reused session %s", c.AccessKeyID)
	}
	if c := mustGet(t, s, bucket, baseA, m.create); c.AccessKeyID != a.AccessKeyID {
		t.Errorf("base A again: %s, want its held %s", c.AccessKeyID, a.AccessKeyID)
	}
}

// TestSessionsInvalidate: a rejected session is replaced once, however
// many requests report it.
func TestSessionsInvalidate(t *testing.T) {
	clock := newFakeClock()
	m := &sessionMaker{clock: clock}
	s := NewSessions(SessionOptions{Now: clock.Now})
	const bucket = "b--usw2-az1--x-s3"
	first := mustGet(t, s, bucket, baseA, m.create)
	s.Invalidate(bucket, first.AccessKeyID)
	second := mustGet(t, s, bucket, baseA, m.create)
	if second.AccessKeyID == first.AccessKeyID {
		t.Fatalf("invalidated session %s handed out again", first.AccessKeyID)
	}
	s.Invalidate(bucket, first.AccessKeyID) // a late report of the old one
	s.Invalidate("other--usw2-az1--x-s3", second.AccessKeyID)
	if c := mustGet(t, s, bucket, baseA, m.create); c.AccessKeyID != second.AccessKeyID {
		t.Errorf("a stale invalidation replaced %s with %s", second.AccessKeyID, c.AccessKeyID)
	}
}

// TestSessionsFailures: a failed creation is returned and not remembered;
// a failed refresh ahead of expiry keeps the held session in use.
func TestSessionsFailures(t *testing.T) {
	clock := newFakeClock()
	refused := errors.New("AccessDenied")
	m := &sessionMaker{clock: clock, fail: refused}
	s := NewSessions(SessionOptions{Now: clock.Now})
	const bucket = "b--usw2-az1--x-s3"
	if _, err := s.Get(context.Background(), bucket, baseA, m.create); !errors.Is(err, refused) {
		t.Fatalf("Get: %v, want the creation's error", err)
	}
	m.fail = nil
	first := mustGet(t, s, bucket, baseA, m.create)
	if n := m.count(); n != 2 {
		t.Errorf("the failure was remembered: %d creations, want 2", n)
	}
	m.mu.Lock()
	m.fail = refused
	m.mu.Unlock()
	m.called = make(chan int, 4)
	clock.Advance(4*time.Minute + 30*time.Second)
	if c := mustGet(t, s, bucket, baseA, m.create); c != first {
		t.Errorf("inside the window: %s, want the held session", c.AccessKeyID)
	}
	waitCall(t, m.called)
	// The failed refresh has ended once a Get that must wait returns its
	// error; until then the held session is still good.
	clock.Advance(31 * time.Second)
	if _, err := s.Get(context.Background(), bucket, baseA, m.create); !errors.Is(err, refused) {
		t.Errorf("after expiry with the source failing: %v, want the creation's error", err)
	}
}

// TestSessionsCallerGivesUp: a caller whose context ends stops waiting,
// but the creation goes on for the others and is kept.
func TestSessionsCallerGivesUp(t *testing.T) {
	clock := newFakeClock()
	m := &sessionMaker{clock: clock, gate: make(chan struct{}), called: make(chan int, 4)}
	s := NewSessions(SessionOptions{Now: clock.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Get(ctx, "b--usw2-az1--x-s3", baseA, m.create)
		done <- err
	}()
	waitCall(t, m.called)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get after cancel: %v", err)
	}
	close(m.gate)
	if c := mustGet(t, s, "b--usw2-az1--x-s3", baseA, m.create); c.AccessKeyID != "SESSION1" {
		t.Errorf("got %s, want the session the abandoned creation made", c.AccessKeyID)
	}
	if n := m.count(); n != 1 {
		t.Errorf("%d creations, want 1", n)
	}
}

// TestSessionsCapacity: past Capacity the pair used least recently is
// dropped.
func TestSessionsCapacity(t *testing.T) {
	clock := newFakeClock()
	m := &sessionMaker{clock: clock}
	s := NewSessions(SessionOptions{Now: clock.Now, Capacity: 2})
	a := mustGet(t, s, "a--usw2-az1--x-s3", baseA, m.create)
	mustGet(t, s, "b--usw2-az1--x-s3", baseA, m.create)
	mustGet(t, s, "a--usw2-az1--x-s3", baseA, m.create) // a is now the most recent
	mustGet(t, s, "c--usw2-az1--x-s3", baseA, m.create) // drops b
	if c := mustGet(t, s, "a--usw2-az1--x-s3", baseA, m.create); c != a {
		t.Errorf("a was dropped: %s", c.AccessKeyID)
	}
	if n := len(s.entries); n != 2 {
		t.Errorf("%d pairs held, want 2", n)
	}
	before := m.count()
	mustGet(t, s, "b--usw2-az1--x-s3", baseA, m.create)
	if m.count() != before+1 {
		t.Errorf("b was kept past capacity")
	}
}

// TestSessionsRejectsUnusable: a session without a token or an expiry is
// an error, not a session.
func TestSessionsRejectsUnusable(t *testing.T) {
	clock := newFakeClock()
	s := NewSessions(SessionOptions{Now: clock.Now})
	for name, c := range map[string]Credentials{
		"no token":   {AccessKeyID: "S", SecretAccessKey: "x", CanExpire: true, Expires: clock.Now().Add(time.Minute)},
		"no expiry":  {AccessKeyID: "S", SecretAccessKey: "x", SessionToken: "t"},
		"expired":    {AccessKeyID: "S", SecretAccessKey: "x", SessionToken: "t", CanExpire: true, Expires: clock.Now().Add(-time.Second)},
		"no key id":  {SecretAccessKey: "x", SessionToken: "t", CanExpire: true, Expires: clock.Now().Add(time.Minute)},
		"no secret.": {AccessKeyID: "S", SessionToken: "t", CanExpire: true, Expires: clock.Now().Add(time.Minute)},
	} {
		create := func(context.Context, Credentials) (Credentials, error) { return c, nil }
		if _, err := s.Get(context.Background(), name, baseA, create); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkSessionsGet is the cost a request on a directory bucket pays to
// find its held session: the digest of the base credentials and one lock.
func BenchmarkSessionsGet(b *testing.B) {
	clock := newFakeClock()
	m := &sessionMaker{clock: clock}
	s := NewSessions(SessionOptions{Now: clock.Now})
	ctx := context.Background()
	if _, err := s.Get(ctx, "b--usw2-az1--x-s3", baseA, m.create); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, "b--usw2-az1--x-s3", baseA, m.create); err != nil {
				b.Error(err)
			}
		}
	})
}
