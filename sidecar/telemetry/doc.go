// Package telemetry shows an operator what the proxy does: OpenTelemetry
// metrics served as Prometheus text on the admin listener and, when the
// standard OTEL_EXPORTER_OTLP_* variables ask for it, exported over OTLP/HTTP;
// a server span per proxied request and a client span per upstream attempt,
// with W3C trace context propagated to the upstream; and log/slog loggers
// whose handler redacts secrets as a last line of defence.
//
// The proxy calls typed methods (RequestDone, UpstreamAttempt, Signed,
// Retried, ...) and hands over callbacks for the values it only has to
// observe (key-cache counts, credential refreshes and expiry, breaker states, clock
// offset). The package imports nothing of ours.
package telemetry
