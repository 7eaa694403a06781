package resilience

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkRetrierSuccess is the cost the retry layer and the breaker add to
// a request that succeeds at once (the common case).
func BenchmarkRetrierSuccess(b *testing.B) {
	cfg := DefaultConfig()
	breakers := NewBreakers(cfg, nil)
	ok := &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}
	next := &CircuitBreaker{Breakers: breakers, Next: roundTripFunc(func(*http.Request) (*http.Response, error) { return ok, nil })}
	tr := NewRetrier(next, cfg, breakers, NewClock(nil), Hooks{})
	req, _ := http.NewRequest("GET", "https://s3.us-east-1.amazonaws.com/bucket/key", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.RoundTrip(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClassifyError is the cost of reading an error's code and putting
// the body back.
func BenchmarkClassifyError(b *testing.B) {
	const body = `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`
	b.ReportAllocs()
	for b.Loop() {
		resp := &http.Response{StatusCode: 400, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
		if o := Classify(resp); !o.Throttled {
			b.Fatal("not throttled")
		}
	}
}
