package creds

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fastOptions shrink every delay of the Cache to test scale.
func fastOptions(t *testing.T) CacheOptions {
	return CacheOptions{
		Log:          testLogger(t),
		MinBackoff:   20 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
		PollInterval: 20 * time.Millisecond,
		FetchTimeout: 10 * time.Second,
	}
}

// ecsCache resolves the SDK chain against a local container credentials
// endpoint, as EKS Pod Identity and ECS set it up, and caches it.
func ecsCache(t *testing.T, period, lifetime time.Duration) (*ecsServer, *Cache) {
	t.Helper()
	isolateAWSEnv(t)
	ecs := newECSServer(t, period, lifetime)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs.URL)
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", ecs.TokenFile)
	p, err := Resolve(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(p, fastOptions(t))
	t.Cleanup(func() { c.Close() })
	return ecs, c
}

// TestCacheFollowsContainerEndpointRotation runs readers against a Cache
// whose endpoint hands out new keys every second, across several
// rotations (and one rotation of the endpoint's authorization token): every
// value is one whole, unexpired generation, each reader sees generations in
// order, the Cache reaches the last generation, and the endpoint never
// serves two fetches at once. Whether it caught every generation in between
// depends on when its refreshes ran, which a loaded machine changes: not
// asserted.
func TestCacheFollowsContainerEndpointRotation(t *testing.T) {
	const rotations = 6
	// Keys live two periods: a refresh planned halfway through the
	// remaining life then always lands at least half a period before the
	// next generation but one, so none can be skipped.
	ecs, c := ecsCache(t, time.Second, 2*time.Second)

	first, err := c.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if first.Source != "container-endpoint" {
		t.Errorf("Source = %q, want container-endpoint", first.Source)
	}
	startGen, err := genOf(first, "ASIAECS")
	if err != nil {
		t.Fatal(err)
	}

	var (
		stop     atomic.Bool
		calls    atomic.Int64
		seenMu   sync.Mutex
		seen     = map[int]bool{}
		wg       sync.WaitGroup
		failures = make(chan error, 16)
	)
	for range 8 {
		wg.Go(func() {
			last := 0
			for !stop.Load() {
				got, err := c.Retrieve(context.Background())
				calls.Add(1)
				if err != nil {
					failures <- err
					return
				}
				if got.Expired(time.Now()) {
					failures <- errors.New("Retrieve returned expired credentials " + got.String())
					return
				}
				gen, err := genOf(got, "ASIAECS")
				if err != nil {
					failures <- err
					return
				}
				if gen < last {
					failures <- errors.New("generation went backwards")
					return
				}
				if gen != last {
					seenMu.Lock()
					seen[gen] = true
					seenMu.Unlock()
				}
				last = gen
				time.Sleep(time.Millisecond)
			}
		})
	}
	tokenRotated := false
	for ecs.generation(time.Now()) < startGen+rotations && len(failures) == 0 {
		if !tokenRotated && ecs.generation(time.Now()) >= startGen+rotations/2 {
			ecs.SetToken(t, "pod-identity-token-2")
			tokenRotated = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let the Cache pick up the last generation (a generous deadline: a
	// loaded machine delays its refresh).
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && len(failures) == 0 {
		seenMu.Lock()
		done := seen[startGen+rotations]
		seenMu.Unlock()
		if done {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if !seen[startGen+rotations] {
		t.Errorf("readers never saw the last generation %d (saw %v)", startGen+rotations, seen)
	}
	if m := ecs.maxIn.Load(); m != 1 {
		t.Errorf("endpoint served %d fetches at once, want 1", m)
	}
	if n := ecs.badAuth.Load(); n != 0 {
		t.Errorf("%d fetches carried an unknown authorization token", n)
	}
	// The token file is read on every fetch: once the rotated token has
	// been sent, the old one never is again.
	used := ecs.Used()
	switched := false
	for i, tok := range used {
		switch {
		case tok == "pod-identity-token-2":
			switched = true
		case switched:
			t.Errorf("fetch %d carried %q after the rotated token had been sent", i, tok)
		}
	}
	if !switched {
		t.Errorf("no fetch carried the rotated token: %v", used)
	}
	fetches := ecs.fetches.Load()
	if limit := int64(4*rotations + 4); fetches > limit {
		t.Errorf("%d fetches for %d rotations, want at most %d: refreshes are not shared", fetches, rotations, limit)
	}
	if calls.Load() < fetches {
		t.Errorf("%d Retrieve calls for %d fetches: readers barely ran", calls.Load(), fetches)
	}
	st := c.Status()
	if !st.Ready || st.Refreshes == 0 || st.Source != "container-endpoint" || st.AccessKeyID == "" {
		t.Errorf("Status = %+v", st)
	}
}

// TestCacheConcurrentFirstRetrieveFetchesOnce: many callers arriving before
// any credentials are held share one fetch.
func TestCacheConcurrentFirstRetrieveFetchesOnce(t *testing.T) {
	var fetches, inflight, maxIn atomic.Int64
	release := make(chan struct{})
	p := providerFunc(func(ctx context.Context) (Credentials, error) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		if n > maxIn.Load() {
			maxIn.Store(n)
		}
		fetches.Add(1)
		<-release
		return Credentials{AccessKeyID: genKeyID("ASIAFAKE", 1), SecretAccessKey: genSecret(1), Source: "fake"}, nil
	})
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			got, err := c.Retrieve(context.Background())
			if err == nil {
				_, err = genOf(got, "ASIAFAKE")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	// Give the callers a chance to arrive while the fetch is held; one that
	// comes after it finds the credentials held and fetches nothing.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fetches.Load() != 1 || maxIn.Load() != 1 {
		t.Errorf("fetches = %d, most at once = %d; want 1 and 1", fetches.Load(), maxIn.Load())
	}
}

// TestCacheSurvivesEndpointOutage: the endpoint fails; Retrieve keeps
// returning the last keys while they are valid, then an *ExpiredError and
// not ready, then recovers by itself when the endpoint comes back.
func TestCacheSurvivesEndpointOutage(t *testing.T) {
	ecs, c := ecsCache(t, time.Second, 3*time.Second)
	ctx := context.Background()

	mustRetrieve(t, c)
	ecs.failing.Store(true)
	// A fetch the endpoint answered before the outage may still be on its
	// way to the Cache. Fetches run one at a time, so once one has failed,
	// any earlier one has landed: take what is held then.
	waitFor(t, "a fetch to fail after the outage began", func() bool { return c.Status().ConsecutiveFailures > 0 })
	held := mustRetrieve(t, c)
	if !held.CanExpire {
		t.Fatalf("container credentials without expiry: %v", held)
	}
	heldGen, err := genOf(held, "ASIAECS")
	if err != nil {
		t.Fatal(err)
	}

	// Until expiry: the held keys. A call counts as before expiry only when
	// it returned before it, however long the machine took to run it.
	for time.Now().Before(held.Expires) {
		got, err := c.Retrieve(ctx)
		ready := c.Ready()
		if !time.Now().Before(held.Expires) {
			break
		}
		if err != nil {
			t.Fatalf("Retrieve failed %s before the held keys expire: %v", time.Until(held.Expires), err)
		}
		if gen, err := genOf(got, "ASIAECS"); err != nil || gen != heldGen {
			t.Fatalf("Retrieve = generation %d (%v), want the held %d", gen, err, heldGen)
		}
		if !ready {
			t.Fatal("not ready while valid keys are held")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Until(held.Expires) + 10*time.Millisecond)

	_, err = c.Retrieve(ctx)
	var expired *ExpiredError
	if !errors.As(err, &expired) || !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("Retrieve after expiry = %v, want an *ExpiredError wrapping ErrNoCredentials", err)
	}
	if !expired.Expired.Equal(held.Expires) || expired.Source != "container-endpoint" || expired.Err == nil {
		t.Errorf("ExpiredError = %+v, want source container-endpoint, expiry %s and the fetch error", expired, held.Expires)
	}
	if c.Ready() {
		t.Error("Ready after expiry")
	}
	if st := c.Status(); st.Ready || st.ConsecutiveFailures == 0 || st.LastError == "" || st.Failures == 0 {
		t.Errorf("Status after expiry = %+v", st)
	}

	ecs.failing.Store(false)
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := c.Retrieve(ctx)
		if err == nil {
			if gen, err := genOf(got, "ASIAECS"); err != nil || gen <= heldGen {
				t.Fatalf("recovered with generation %d (%v), want newer than %d", gen, err, heldGen)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery a minute after the endpoint came back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !c.Ready() {
		t.Error("not ready after recovery")
	}
	if st := c.Status(); st.ConsecutiveFailures != 0 {
		t.Errorf("Status after recovery = %+v", st)
	}
}

func mustRetrieve(t *testing.T, c *Cache) Credentials {
	t.Helper()
	got, err := c.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

type providerFunc func(context.Context) (Credentials, error)

func (f providerFunc) Retrieve(ctx context.Context) (Credentials, error) { return f(ctx) }

// TestCacheInvalidate: only the current key id is dropped; the next
// Retrieve fetches; a source that hands the same key back is not asked again
// for it within the holdoff; while the source fails, the rejected but
// unexpired key is still served.
func TestCacheInvalidate(t *testing.T) {
	var gen atomic.Int64
	var fail atomic.Bool
	var fetches atomic.Int64
	p := providerFunc(func(context.Context) (Credentials, error) {
		fetches.Add(1)
		if fail.Load() {
			return Credentials{}, errors.New("source down")
		}
		g := int(gen.Load())
		return Credentials{AccessKeyID: genKeyID("AKIAFAKE", g), SecretAccessKey: genSecret(g), Source: "fake"}, nil
	})
	gen.Store(1)
	opts := fastOptions(t)
	opts.ReissueHoldoff = time.Hour
	c := NewCache(p, opts)
	defer c.Close()

	first := mustRetrieve(t, c)
	base := fetches.Load()
	c.Invalidate(genKeyID("AKIAFAKE", 99))
	if got := mustRetrieve(t, c); got.AccessKeyID != first.AccessKeyID || fetches.Load() != base {
		t.Fatalf("Invalidate of another key id refetched: %v, %d fetches", got, fetches.Load()-base)
	}

	gen.Store(2)
	c.Invalidate(first.AccessKeyID)
	if got := mustRetrieve(t, c); got.AccessKeyID != genKeyID("AKIAFAKE", 2) {
		t.Fatalf("after Invalidate: %v, want generation 2", got)
	}

	// The source insists on generation 2.
	c.Invalidate(genKeyID("AKIAFAKE", 2))
	mustRetrieve(t, c)
	n := fetches.Load()
	c.Invalidate(genKeyID("AKIAFAKE", 2))
	if got := mustRetrieve(t, c); got.AccessKeyID != genKeyID("AKIAFAKE", 2) || fetches.Load() != n {
		t.Fatalf("reissued key invalidated again within the holdoff: %v, %d more fetches", got, fetches.Load()-n)
	}
	if st := c.Status(); st.Invalidated {
		t.Errorf("Status = %+v, want the reissued key not marked invalidated", st)
	}

	// A source that fails: the rejected key, still valid, is served.
	c2 := NewCache(p, fastOptions(t))
	defer c2.Close()
	gen.Store(3)
	held := mustRetrieve(t, c2)
	fail.Store(true)
	c2.Invalidate(held.AccessKeyID)
	got, err := c2.Retrieve(context.Background())
	if err != nil || got.AccessKeyID != held.AccessKeyID {
		t.Fatalf("Retrieve with a failing source after Invalidate = %v, %v; want the held key", got, err)
	}
	if st := c2.Status(); !st.Invalidated || !st.Ready {
		t.Errorf("Status = %+v, want invalidated and ready", st)
	}
}

// TestCacheRejectsUnusableFetch: empty keys and credentials already expired
// are fetch failures, not values.
func TestCacheRejectsUnusableFetch(t *testing.T) {
	for name, v := range map[string]Credentials{
		"empty secret": {AccessKeyID: "AKIAIOSFODNN7EXAMPLE", Source: "fake"},
		"expired":      {AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s", CanExpire: true, Expires: time.Now().Add(-time.Minute), Source: "fake"},
	} {
		t.Run(name, func(t *testing.T) {
			c := NewCache(providerFunc(func(context.Context) (Credentials, error) { return v, nil }), fastOptions(t))
			defer c.Close()
			_, err := c.Retrieve(context.Background())
			var expired *ExpiredError
			if !errors.As(err, &expired) || !expired.Expired.IsZero() || expired.Err == nil {
				t.Fatalf("Retrieve = %v, want an *ExpiredError for a source that never produced usable keys", err)
			}
			if c.Ready() {
				t.Error("Ready with no usable keys")
			}
		})
	}
}

// TestCacheRetrieveHonoursContext: a caller waiting on a slow first fetch
// gives up with its context; the fetch carries on for the others.
func TestCacheRetrieveHonoursContext(t *testing.T) {
	release := make(chan struct{})
	p := providerFunc(func(context.Context) (Credentials, error) {
		<-release
		return Credentials{AccessKeyID: genKeyID("AKIAFAKE", 1), SecretAccessKey: genSecret(1), Source: "fake"}, nil
	})
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Retrieve(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Retrieve = %v, want the context's deadline", err)
	}
	close(release)
	if got := mustRetrieve(t, c); got.AccessKeyID != genKeyID("AKIAFAKE", 1) {
		t.Fatalf("Retrieve = %v", got)
	}
}

// TestCacheCloseStopsRefreshing: after Close the source is not called again
// by the background loop.
func TestCacheCloseStopsRefreshing(t *testing.T) {
	var fetches atomic.Int64
	p := providerFunc(func(context.Context) (Credentials, error) {
		fetches.Add(1)
		return Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s", CanExpire: true,
			Expires: time.Now().Add(100 * time.Millisecond), Source: "fake"}, nil
	})
	c := NewCache(p, fastOptions(t))
	mustRetrieve(t, c)
	c.Close()
	c.Close() // idempotent
	n := fetches.Load()
	time.Sleep(300 * time.Millisecond)
	if fetches.Load() != n {
		t.Errorf("%d fetches after Close", fetches.Load()-n)
	}
}
