// Package resilience keeps the proxy's upstream calls healthy when AWS, the
// network or the clock misbehave: a circuit breaker per upstream host
// (Breakers, asked by the CircuitBreaker layer just above the network),
// retries with exponential backoff and full jitter (Retrier, an
// http.RoundTripper placed above the signer so every attempt is signed
// afresh), clock-skew correction from the upstream's Date header (Clock),
// what an upstream answer means (Classify, asked once per answer through the
// request's Exchange), and the TLS handshake and idle-connection timeouts of
// the base transport (Config; the dial and response-header timeouts are the
// proxy's own options).
//
// It knows nothing of signing, routing or telemetry: the proxy wires its
// layers into its outbound chain and reports what happens through the
// callbacks in Hooks and Breakers. Errors it returns are typed (*OpenError,
// *RetryError) so the proxy's single error-mapping function can turn them
// into a status code.
package resilience
