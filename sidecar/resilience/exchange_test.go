package resilience

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// readCounter counts the Reads made on a response body.
type readCounter struct {
	io.ReadCloser
	reads atomic.Int64
}

func (r *readCounter) Read(p []byte) (int, error) {
	r.reads.Add(1)
	return r.ReadCloser.Read(p)
}

// TestClassifyReadsEachAnswerOnce runs the proxy's layering over a real
// server: Retrier, a layer standing for the signer that asks for the
// answer's Outcome again, CircuitBreaker (which classifies first) and
// http.Transport. The error body is read once by CircuitBreaker; the
// signer's and the retry layer's questions are answered from the request's
// Exchange, and the client still receives the whole body.
func TestClassifyReadsEachAnswerOnce(t *testing.T) {
	const body = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)

	var counter *readCounter
	counting := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if err == nil {
			counter = &readCounter{ReadCloser: resp.Body}
			resp.Body = counter
		}
		return resp, err
	})
	breakers := NewBreakers(testConfig(), nil)
	var signerSaw Outcome
	var readsBySigner int64
	signer := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := (&CircuitBreaker{Next: counting, Breakers: breakers}).RoundTrip(r)
		if err != nil {
			return nil, err
		}
		before := counter.reads.Load()
		signerSaw = ExchangeFrom(r.Context()).Outcome(resp)
		readsBySigner = counter.reads.Load() - before
		return resp, nil
	})
	tr := &Retrier{Next: signer, Attempts: 1}

	// The proxy puts one Exchange in each request's context.
	x := &Exchange{}
	req, _ := http.NewRequestWithContext(WithExchange(context.Background(), x), http.MethodGet, srv.URL+"/bucket/key", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	readsBeforeClient := counter.reads.Load()
	again := x.Outcome(resp)
	got, _ := io.ReadAll(resp.Body)

	if signerSaw.Code != "ExpiredToken" || again.Code != "ExpiredToken" {
		t.Errorf("codes %q (signer), %q (after the retry layer), want ExpiredToken", signerSaw.Code, again.Code)
	}
	if readsBySigner != 0 {
		t.Errorf("the signer's Classify read the body %d time(s), want 0 (CircuitBreaker had classified it)", readsBySigner)
	}
	if readsBeforeClient == 0 {
		t.Errorf("nobody classified the error body before the client read it")
	}
	if string(got) != body {
		t.Errorf("client got %q, want the upstream's body untouched", got)
	}
}

// TestExchangeOutcomeIsPerResponse checks that an Exchange answers only for
// the response it classified: a retry's answer is classified afresh. A
// Retrier uses the Exchange its caller put in the context, not a second one.
func TestExchangeOutcomeIsPerResponse(t *testing.T) {
	x := &Exchange{}
	first := response(http.StatusForbidden, http.Header{}, `<Error><Code>ExpiredToken</Code></Error>`)
	if o := x.Outcome(first); o.Code != "ExpiredToken" {
		t.Fatalf("first: code %q", o.Code)
	}
	// The same response again: answered from the Exchange, without a read.
	first.Body = io.NopCloser(&failingReader{})
	if o := x.Outcome(first); o.Code != "ExpiredToken" {
		t.Errorf("first again: code %q, want the Exchange's ExpiredToken", o.Code)
	}
	second := response(http.StatusServiceUnavailable, http.Header{}, `<Error><Code>SlowDown</Code></Error>`)
	if o := x.Outcome(second); o.Code != "SlowDown" || !o.Throttled {
		t.Errorf("second: %+v, want SlowDown, throttled", o)
	}
	var below *Exchange
	tr := &Retrier{Attempts: 1, Next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		below = ExchangeFrom(r.Context())
		return response(http.StatusOK, http.Header{}, ""), nil
	})}
	req, _ := http.NewRequestWithContext(WithExchange(context.Background(), x), http.MethodGet, "http://example.com/", nil)
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if below != x {
		t.Errorf("the Retrier installed a second Exchange over the caller's")
	}
}
