package creds

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefreshAtAheadOfExpiryWithJitter pins the refresh plan the README
// documents: 5 minutes before expiry, halfway through the remaining life
// when that is shorter than 10 minutes, plus a random extra of up to a
// quarter of that lead (so many sidecars started together do not refresh
// together), never sooner than MinBackoff, and nothing planned for
// credentials that do not expire.
func TestRefreshAtAheadOfExpiryWithJitter(t *testing.T) {
	c := &Cache{opts: CacheOptions{}.withDefaults()}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

	if at := c.refreshAt(Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s"}, now); !at.IsZero() {
		t.Errorf("static credentials: refresh planned at %s, want none", at)
	}

	for _, tc := range []struct {
		life, lead time.Duration
	}{
		{time.Hour, DefaultRefreshWindow},
		{15 * time.Minute, DefaultRefreshWindow},
		{10 * time.Minute, DefaultRefreshWindow},
		{8 * time.Minute, 4 * time.Minute},
		{2 * time.Minute, time.Minute},
	} {
		expires := now.Add(tc.life)
		v := Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s", CanExpire: true, Expires: expires}
		earliest, latest := expires.Add(-tc.lead-tc.lead/4), expires.Add(-tc.lead)
		seen := map[time.Time]bool{}
		for range 200 {
			at := c.refreshAt(v, now)
			if at.Before(earliest) || at.After(latest) {
				t.Fatalf("life %s: refresh at %s before expiry, want between %s and %s",
					tc.life, expires.Sub(at), tc.lead, tc.lead+tc.lead/4)
			}
			seen[at] = true
		}
		if len(seen) < 2 {
			t.Errorf("life %s: 200 plans all gave the same time: no jitter", tc.life)
		}
	}

	// Credentials about to expire: not sooner than MinBackoff, so a source
	// handing out nearly expired keys cannot spin the refresh loop.
	v := Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s", CanExpire: true, Expires: now.Add(time.Second / 2)}
	if at := c.refreshAt(v, now); at.Before(now.Add(DefaultMinBackoff)) {
		t.Errorf("nearly expired: refresh at now+%s, want at least MinBackoff %s", at.Sub(now), DefaultMinBackoff)
	}
}

// TestCacheConcurrentRejectionsShareOneFetch: many requests rejected at
// once (each invalidating the key it was signed with, then asking again)
// cause one fetch, and all of them get the fresh key (README: "concurrent
// rejections share one fetch").
func TestCacheConcurrentRejectionsShareOneFetch(t *testing.T) {
	var fetches, inflight, maxIn atomic.Int64
	release := make(chan struct{})
	p := providerFunc(func(ctx context.Context) (Credentials, error) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		if n > maxIn.Load() {
			maxIn.Store(n)
		}
		g := int(fetches.Add(1))
		if g > 1 {
			<-release
		}
		return Credentials{AccessKeyID: genKeyID("AKIAFAKE", g), SecretAccessKey: genSecret(g), Source: "fake"}, nil
	})
	c := NewCache(p, fastOptions(t))
	defer c.Close()
	rejected := mustRetrieve(t, c).AccessKeyID

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			c.Invalidate(rejected)
			got, err := c.Retrieve(context.Background())
			if err == nil && got.AccessKeyID != genKeyID("AKIAFAKE", 2) {
				err = fmt.Errorf("got %s after the rejection, want generation 2", got.AccessKeyID)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	waitFor(t, "the refresh after the rejection to start", func() bool { return fetches.Load() == 2 })
	// Give the other callers a chance to join it; one that comes later finds
	// generation 2 held and fetches nothing, so the counts below do not
	// depend on how long this takes on a loaded machine.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if fetches.Load() != 2 || maxIn.Load() != 1 {
		t.Errorf("fetches = %d (1 before the rejections), most at once = %d; want 2 and 1", fetches.Load(), maxIn.Load())
	}
}
