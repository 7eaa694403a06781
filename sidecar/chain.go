package sidecar

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/resilience"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// layer is one step of the outbound chain: given the step below it, it
// returns the http.RoundTripper that does its part and passes the request on
// to that step.
type layer func(next http.RoundTripper) http.RoundTripper

// outbound builds the chain of http.RoundTrippers a request that
// httputil.ReverseProxy forwards goes down, one attempt at a time, and its
// answers come back up. Top to bottom:
//
//	retrier            resilience.Retrier: retries transport errors, 5xx and
//	                   throttling with backoff, and once a clock-skew
//	                   rejection; every attempt goes down afresh, so it is
//	                   signed afresh
//	attempt tracer     telemetry.AttemptTracer: a client span and the upstream
//	                   latency metric per attempt; traceparent set before
//	                   signing
//	signer             RequestSigner: body framing and SigV4, after every
//	                   header is final, with the bucket's session for S3
//	                   Express (express.go); once more with fresh credentials
//	                   when the upstream rejected the keys
//	signature watcher  signatureWatcher: diagnoses signature rejections
//	                   (diagnostics.go), --debug-signing
//	circuit breaker    resilience.CircuitBreaker: per upstream host; the first
//	                   to see an answer, it classifies it
//	status check       validStatus: refuses a status outside 100-999, on
//	                   which ReverseProxy would panic (validstatus.go)
//	network            http.Transport: pooled connections, TLS, HTTP/2; it
//	                   dials through the address checks (dial.go)
//
// Every layer finds the request's exchange in its context (withExchange):
// the route and the spool, the attempt number, and the outcome of the latest
// answer, classified once by the circuit breaker and read from there by the
// signer, the watcher and the retrier. The chain is built once and never
// changed; the layers the proxy talks to afterwards are kept in p.
//
// tap is nil but in tests, which watch there what the network answered and
// what the layers above do with it.
func (p *Proxy) outbound(cfg Config, network *http.Transport, tap layer) http.RoundTripper {
	return stack(network,
		p.retrier(cfg.Resilience),
		p.attemptTracer,
		p.requestSigner,
		p.signatureWatcher(cfg.DebugSigning),
		p.circuitBreaker,
		tap,
		p.statusCheck,
	)
}

// stack puts layers, given top first, over bottom and returns the top one.
// A nil layer is left out.
func stack(bottom http.RoundTripper, layers ...layer) http.RoundTripper {
	rt := bottom
	for i := len(layers) - 1; i >= 0; i-- {
		if layers[i] != nil {
			rt = layers[i](rt)
		}
	}
	return rt
}

func (p *Proxy) retrier(cfg resilience.Config) layer {
	return func(next http.RoundTripper) http.RoundTripper {
		return resilience.NewRetrier(next, cfg, p.breakers, p.clock, resilience.Hooks{
			Retry:         p.retrying,
			SkewCorrected: p.skewCorrected,
		})
	}
}

func (p *Proxy) attemptTracer(next http.RoundTripper) http.RoundTripper {
	return &telemetry.AttemptTracer{
		Next:      next,
		Telemetry: func() *telemetry.Telemetry { return p.tel },
		Describe:  p.describeAttempt,
	}
}

func (p *Proxy) requestSigner(next http.RoundTripper) http.RoundTripper {
	p.signer = &RequestSigner{
		Next:        next,
		Signer:      signer.New(p.keys),
		Credentials: p.src,
		Now:         p.clock.Now,
		OnSigned:    func(ctx context.Context, service string, d time.Duration) { p.tel.Signed(ctx, service, d) },
		c:           p.c,
		// S3 Express sessions (express.go), on the signing clock.
		sessions:      creds.NewSessions(creds.SessionOptions{Now: p.clock.Now, Log: p.log}),
		createSession: p.newSessionCreator(),
	}
	return p.signer
}

func (p *Proxy) signatureWatcher(debug bool) layer {
	return func(next http.RoundTripper) http.RoundTripper {
		p.watcher = newSignatureWatcher(next, debug, p.log)
		p.watcher.hidden = strings.ToLower(p.c.preservedAuthorization)
		return p.watcher
	}
}

func (p *Proxy) circuitBreaker(next http.RoundTripper) http.RoundTripper {
	return &resilience.CircuitBreaker{Next: next, Breakers: p.breakers}
}

func (p *Proxy) statusCheck(next http.RoundTripper) http.RoundTripper {
	return validStatus{next: next}
}
