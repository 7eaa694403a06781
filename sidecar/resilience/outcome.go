package resilience

import (
	"context"
	"net/http"
	"sync"
)

// Several layers ask what the same upstream answer means: Guard below the
// signer (for the breaker), the signer (did the upstream reject the
// credentials?) and Transport above it (retry?). Each asking Classify would
// read the error body's prefix once per layer. An outcome memo on the
// request's context makes the first Classify of a response the only one that
// reads: the others find its Outcome through resp.Request, which
// http.Transport sets to the request it sent.

type outcomeMemoKey struct{}

// outcomeMemo holds the Outcome of the last response classified for requests
// made with one context. Keyed by the response, so a retry's answer is
// classified afresh.
type outcomeMemo struct {
	mu   sync.Mutex
	resp *http.Response
	o    Outcome
}

// WithOutcomeMemo returns a copy of ctx in which Classify remembers the
// Outcome of a response to a request made with it, so that the layers that
// pass the same response on reuse it instead of reading the body again.
// Transport installs one for every request it is given; ctx is returned
// as is when it already carries one.
func WithOutcomeMemo(ctx context.Context) context.Context {
	if _, ok := ctx.Value(outcomeMemoKey{}).(*outcomeMemo); ok {
		return ctx
	}
	return context.WithValue(ctx, outcomeMemoKey{}, &outcomeMemo{})
}

// memoOf returns the memo of the context resp was requested with, or nil.
func memoOf(resp *http.Response) *outcomeMemo {
	if resp.Request == nil {
		return nil
	}
	m, _ := resp.Request.Context().Value(outcomeMemoKey{}).(*outcomeMemo)
	return m
}

func (m *outcomeMemo) lookup(resp *http.Response) (Outcome, bool) {
	if m == nil {
		return Outcome{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.o, m.resp == resp
}

func (m *outcomeMemo) store(resp *http.Response, o Outcome) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resp, m.o = resp, o
}
