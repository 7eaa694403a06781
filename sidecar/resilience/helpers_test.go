package resilience

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// roundTripFunc is a fake RoundTripper for error paths.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeSigner stands in for the proxy's signing transport: it stamps each
// request it is given with the Clock's time and a signature over that time,
// the method, the path and the attempt, as the real signer would, and counts
// its calls.
type fakeSigner struct {
	next  http.RoundTripper
	clock *Clock
	calls atomic.Int32
}

func (s *fakeSigner) RoundTrip(r *http.Request) (*http.Response, error) {
	s.calls.Add(1)
	date := s.clock.Now().UTC().Format("20060102T150405Z")
	mac := hmac.New(sha256.New, []byte("test-secret"))
	io.WriteString(mac, date+"\n"+r.Method+"\n"+r.URL.Path)
	r.Header.Set("X-Amz-Date", date)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"+date[:8]+
		"/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+hex.EncodeToString(mac.Sum(nil)))
	return s.next.RoundTrip(r)
}

// tickingClock returns a local clock that advances one second per reading,
// so that two signatures never share a date.
func tickingClock(start time.Time) func() time.Time {
	var n atomic.Int64
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Second) }
}

// trackedBody records whether it was closed and how much was read.
type trackedBody struct {
	r      io.Reader
	read   atomic.Int64
	closed atomic.Bool
}

func newTrackedBody(s string) *trackedBody { return &trackedBody{r: strings.NewReader(s)} }

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *trackedBody) Close() error { b.closed.Store(true); return nil }

// recorder keeps the state changes a Breakers reports.
type recorder struct {
	mu      sync.Mutex
	changes []StateChange
}

func (r *recorder) record(c StateChange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *recorder) list() []StateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]StateChange(nil), r.changes...)
}

// waitFor polls cond until it holds or the test's patience runs out. It bounds
// a wait for something that must happen, not how long it takes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
