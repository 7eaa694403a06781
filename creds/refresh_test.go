package creds

import (
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
