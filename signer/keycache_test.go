package signer

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// signAuth signs a fixed GET with s and returns its Authorization header.
func signAuth(t testing.TB, s *Signer, creds Credentials, region, service string, when time.Time) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/k?x=1", nil)
	req.Header.Set("X-Amz-Meta-A", "b")
	if _, err := s.Sign(req, creds, Options{Service: service, Region: region, Time: when, PayloadHash: EmptyPayloadHash}); err != nil {
		t.Fatal(err)
	}
	return req.Header.Get("Authorization")
}

// TestKeyCacheConcurrentSigners has many goroutines sign for many access
// keys and scopes through one small cache (so entries are evicted while
// others read them); every signature must equal one made with a fresh cache.
func TestKeyCacheConcurrentSigners(t *testing.T) {
	type job struct {
		creds           Credentials
		region, service string
	}
	var jobs []job
	for k := 0; k < 6; k++ {
		for _, region := range []string{"us-east-1", "eu-west-1", "ap-south-1"} {
			for _, service := range []string{"s3", "sqs"} {
				jobs = append(jobs, job{Credentials{AccessKeyID: fmt.Sprintf("AKID%d", k), SecretAccessKey: fmt.Sprintf("secret%d", k)}, region, service})
			}
		}
	}
	want := make([]string, len(jobs))
	for i, j := range jobs {
		want[i] = signAuth(t, New(nil), j.creds, j.region, j.service, testTime)
	}
	cache := NewKeyCache(8)
	shared := New(cache)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 300; n++ {
				i := (g*7 + n*5) % len(jobs)
				if got := signAuth(t, shared, jobs[i].creds, jobs[i].region, jobs[i].service, testTime); got != want[i] {
					errs <- fmt.Sprintf("job %d: %s, want %s", i, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if cache.Len() > 8 {
		t.Errorf("cache holds %d keys, bound is 8", cache.Len())
	}
	st := cache.Stats()
	if st.Hits+st.Misses != 8*300 || st.Misses < uint64(len(jobs)) {
		t.Errorf("stats %+v: want %d lookups and at least %d misses", st, 8*300, len(jobs))
	}
}

// TestKeyCacheRotatedSecret: same access key id, new secret: the old
// derived key must not be reused.
func TestKeyCacheRotatedSecret(t *testing.T) {
	cache := NewKeyCache(0)
	s := New(cache)
	old := Credentials{AccessKeyID: "AKID", SecretAccessKey: "old-secret"}
	rotated := Credentials{AccessKeyID: "AKID", SecretAccessKey: "new-secret"}
	a := signAuth(t, s, old, "us-east-1", "s3", testTime)
	b := signAuth(t, s, rotated, "us-east-1", "s3", testTime)
	if a == b {
		t.Fatal("rotated secret produced the old signature")
	}
	if fresh := signAuth(t, New(nil), rotated, "us-east-1", "s3", testTime); b != fresh {
		t.Fatalf("rotated signature %s, fresh signer says %s", b, fresh)
	}
	if st := cache.Stats(); st.Misses != 2 || st.Hits != 0 {
		t.Fatalf("stats %+v, want 2 misses", st)
	}
	// Both live side by side: signing with either again is a hit.
	signAuth(t, s, old, "us-east-1", "s3", testTime)
	signAuth(t, s, rotated, "us-east-1", "s3", testTime)
	if st := cache.Stats(); st.Hits != 2 {
		t.Fatalf("stats %+v, want 2 hits", st)
	}
}

// TestKeyCacheDayRolloverUTC: the scope date is the UTC date of the signing
// time, whatever its zone, and a new UTC day derives a new key.
func TestKeyCacheDayRolloverUTC(t *testing.T) {
	cache := NewKeyCache(0)
	s := New(cache)
	tokyo := time.FixedZone("UTC+9", 9*3600)
	for _, tc := range []struct {
		when      time.Time
		wantScope string
	}{
		{time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC), "20240229/"},
		{time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), "20240301/"},
		// 08:30 on 1 March in Tokyo is still 29 February in UTC.
		{time.Date(2024, 3, 1, 8, 30, 0, 0, tokyo), "20240229/"},
		{time.Date(2024, 3, 1, 9, 0, 0, 0, tokyo), "20240301/"},
	} {
		auth := signAuth(t, s, testCreds, "us-east-1", "s3", tc.when)
		if !strings.Contains(auth, "Credential=AKIDEXAMPLE/"+tc.wantScope+"us-east-1/s3/aws4_request") {
			t.Errorf("%v: %s, want scope date %s", tc.when, auth, tc.wantScope)
		}
		if fresh := signAuth(t, New(nil), testCreds, "us-east-1", "s3", tc.when.UTC()); fresh != auth {
			t.Errorf("%v: cached %s, fresh %s", tc.when, auth, fresh)
		}
	}
	if st := cache.Stats(); st.Misses != 2 || st.Hits != 2 {
		t.Fatalf("stats %+v, want 2 misses (one per UTC day) and 2 hits", st)
	}
}

// TestKeyCacheSizeBound: the cache never holds more than its bound, and
// recently used keys survive a sweep.
func TestKeyCacheSizeBound(t *testing.T) {
	cache := NewKeyCache(16)
	s := New(cache)
	hot := Credentials{AccessKeyID: "HOT", SecretAccessKey: "hot"}
	for i := 0; i < 200; i++ {
		signAuth(t, s, Credentials{AccessKeyID: fmt.Sprintf("AKID%d", i), SecretAccessKey: "s"}, "us-east-1", "s3", testTime)
		signAuth(t, s, hot, "us-east-1", "s3", testTime)
		if n := cache.Len(); n > 16 {
			t.Fatalf("after %d keys the cache holds %d, bound 16", i+1, n)
		}
	}
	st := cache.Stats()
	if st.Misses != 201 || st.Hits != 199 {
		t.Fatalf("stats %+v: the hot key should have stayed cached (want 201 misses, 199 hits)", st)
	}
}
