package resilience

import (
	"context"
	"net/http"
)

// Exchange is what the layers of the proxy's outbound chain tell each other
// about one client request while its attempts go down and their answers come
// back up: which attempt is in flight, and what the latest answer means.
//
// Several layers ask what the same answer means: CircuitBreaker just above
// the network (did the upstream fail?), the signer (were the credentials
// rejected?), the signature watcher (was the signature?) and Retrier (retry?).
// The first to ask classifies the answer (Classify reads the start of an
// error body); the others get that Outcome back from the Exchange, so each
// answer is read once, whoever asks.
//
// The proxy makes one Exchange per client request and puts it in the
// request's context (WithExchange); Retrier makes one when the context has
// none. The layers run one after the other on the request's goroutine, so it
// needs no lock; it must not be shared between requests.
type Exchange struct {
	// Attempt is the number of the attempt in flight, 1 for the first, set
	// by Retrier before it passes each attempt down; 0 outside a Retrier.
	Attempt int

	// answer is the last answer classified, and outcome what it means.
	answer  *http.Response
	outcome Outcome
}

type exchangeKey struct{}

// WithExchange returns a copy of ctx that carries x for the layers of the
// outbound chain.
func WithExchange(ctx context.Context, x *Exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, x)
}

// ExchangeFrom returns the Exchange ctx carries, or nil.
func ExchangeFrom(ctx context.Context) *Exchange {
	x, _ := ctx.Value(exchangeKey{}).(*Exchange)
	return x
}

// Outcome returns what resp, an answer to this exchange's request, means.
// The first call for a resp classifies it (Classify, which replaces an error
// answer's body with one that yields the same bytes); later calls for the
// same resp return that Outcome without reading anything. An answer to a
// later attempt is classified afresh. A nil Exchange classifies every time.
func (x *Exchange) Outcome(resp *http.Response) Outcome {
	if x == nil {
		return Classify(resp)
	}
	if x.answer != resp {
		x.answer, x.outcome = resp, Classify(resp)
	}
	return x.outcome
}
