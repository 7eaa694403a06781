package resilience

import (
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
// server: Transport, a layer standing for the signer that asks Classify
// again, Guard (which classifies first) and http.Transport. The error body is
// read once by Guard; the signer's and the retry layer's questions are
// answered from the memo, and the client still receives the whole body.
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
		resp, err := (&Guard{Next: counting, Breakers: breakers}).RoundTrip(r)
		if err != nil {
			return nil, err
		}
		before := counter.reads.Load()
		signerSaw = Classify(resp)
		readsBySigner = counter.reads.Load() - before
		return resp, nil
	})
	tr := &Transport{Next: signer, Attempts: 1}

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/bucket/key", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	readsBeforeClient := counter.reads.Load()
	again := Classify(resp)
	got, _ := io.ReadAll(resp.Body)

	if signerSaw.Code != "ExpiredToken" || again.Code != "ExpiredToken" {
		t.Errorf("codes %q (signer), %q (after the retry layer), want ExpiredToken", signerSaw.Code, again.Code)
	}
	if readsBySigner != 0 {
		t.Errorf("the signer's Classify read the body %d time(s), want 0 (Guard had classified it)", readsBySigner)
	}
	if readsBeforeClient == 0 {
		t.Errorf("nobody classified the error body before the client read it")
	}
	if string(got) != body {
		t.Errorf("client got %q, want the upstream's body untouched", got)
	}
}

// TestClassifyMemoIsPerResponse checks that a memo answers only for the
// response it was filled with: a retry's answer is classified afresh.
func TestClassifyMemoIsPerResponse(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	req = req.WithContext(WithOutcomeMemo(req.Context()))
	first := response(http.StatusForbidden, http.Header{}, `<Error><Code>ExpiredToken</Code></Error>`)
	first.Request = req
	if o := Classify(first); o.Code != "ExpiredToken" {
		t.Fatalf("first: code %q", o.Code)
	}
	// The same response again: answered from the memo, without a read.
	first.Body = io.NopCloser(&failingReader{})
	if o := Classify(first); o.Code != "ExpiredToken" {
		t.Errorf("first again: code %q, want the memo's ExpiredToken", o.Code)
	}
	second := response(http.StatusServiceUnavailable, http.Header{}, `<Error><Code>SlowDown</Code></Error>`)
	second.Request = req
	if o := Classify(second); o.Code != "SlowDown" || !o.Throttled {
		t.Errorf("second: %+v, want SlowDown, throttled", o)
	}
	if ctx := WithOutcomeMemo(req.Context()); ctx != req.Context() {
		t.Errorf("WithOutcomeMemo installed a second memo over the first")
	}
}
