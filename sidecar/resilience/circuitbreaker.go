package resilience

import (
	"context"
	"errors"
	"net/http"
)

// CircuitBreaker is the layer of the outbound chain that asks Breakers
// whether a request may go to its upstream host, and tells them how the
// attempt went. It sits below the signer, just above the network (Retrier ->
// signer -> CircuitBreaker -> http.Transport), so that only real upstream
// attempts count: a request the signer refuses (no credentials, body too
// large) never reaches it and says nothing about the upstream's health. The
// signer must return CircuitBreaker's errors unchanged or wrapped, so that
// Retrier and the proxy's error mapping find the *OpenError with errors.As.
//
// While the breaker of the request's URL host is open, RoundTrip returns an
// *OpenError without contacting the upstream. Otherwise it forwards the
// request and reports the result: a transport error, the client's deadline
// passing, a 5xx or a throttling answer is a failure; any other answer, and a
// client that went away, a success. Being the first layer to see an answer,
// it classifies it, through the request's Exchange so that the layers above
// find the Outcome there (Exchange.Outcome; Classify reads at most
// ErrorPrefixLimit bytes of an error body and restores them). Safe for
// concurrent use.
type CircuitBreaker struct {
	Next     http.RoundTripper
	Breakers *Breakers // nil: every request goes
}

// RoundTrip implements http.RoundTripper.
func (g *CircuitBreaker) RoundTrip(req *http.Request) (*http.Response, error) {
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
	done(ExchangeFrom(req.Context()).Outcome(resp).Failed())
	return resp, nil
}

var _ http.RoundTripper = (*CircuitBreaker)(nil)
