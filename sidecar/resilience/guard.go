package resilience

import (
	"context"
	"errors"
	"net/http"
)

// Guard is the circuit breaker as an http.RoundTripper. It sits below the
// signing transport, just above the network (ReverseProxy -> Transport ->
// signer -> Guard -> http.Transport), so that only real upstream attempts
// count: a request the signer refuses (no credentials, body too large) never
// reaches it and says nothing about the upstream's health. The signer must
// return Guard's errors unchanged or wrapped, so that Transport and the
// proxy's error mapping find the *OpenError with errors.As.
//
// While the breaker of the request's URL host is open, RoundTrip returns an
// *OpenError without contacting the upstream. Otherwise it forwards the
// request and reports the result: a transport error, the client's deadline
// passing, a 5xx or a throttling answer is a failure; any other answer, and a
// client that went away, a success. Guard reads at most ErrorPrefixLimit bytes
// of an error body to classify it and restores them (Classify). Safe for
// concurrent use.
type Guard struct {
	Next     http.RoundTripper
	Breakers *Breakers // nil: every request goes
}

// RoundTrip implements http.RoundTripper.
func (g *Guard) RoundTrip(req *http.Request) (*http.Response, error) {
	done, err := g.Breakers.Allow(req.URL.Host)
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, even when it fails
		}
		return nil, err
	}
	resp, err := g.Next.RoundTrip(req)
	if err != nil {
		ctxErr := req.Context().Err()
		// An upstream that outlives the client's deadline is failing; a client
		// that cancels says nothing about the upstream.
		done(errors.Is(ctxErr, context.DeadlineExceeded) || (ctxErr == nil && isTransportError(err)))
		return nil, err
	}
	done(Classify(resp).Failed())
	return resp, nil
}

var _ http.RoundTripper = (*Guard)(nil)
