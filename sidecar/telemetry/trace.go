package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Span attribute keys beyond the shared ones.
const (
	keyMethod       = attribute.Key("http.request.method")
	keyStatus       = attribute.Key("http.response.status_code")
	keyResendCount  = attribute.Key("http.request.resend_count")
	keyAttempt      = attribute.Key("sigv4.attempt")
	keyBreakerState = attribute.Key("sigv4.breaker.state")
	keyErrorCode    = attribute.Key("sigv4.error.code")
	keyRequestID    = attribute.Key("aws.request_id")
)

// StartRequest starts the server span of one proxied request, as the child of
// the trace context the client sent (W3C traceparent), if any. End it with
// EndRequest.
func (t *Telemetry) StartRequest(r *http.Request) (context.Context, trace.Span) {
	if t == nil {
		return r.Context(), noop.Span{}
	}
	ctx := r.Context()
	// The propagator reads traceparent, tracestate and baggage: without the
	// first and the last there is nothing to extract, and each lookup by a
	// lowercase name would cost an allocation.
	if _, ok := r.Header["Traceparent"]; ok {
		ctx = t.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	} else if _, ok := r.Header["Baggage"]; ok {
		ctx = t.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	if t.tracer == nil {
		return startLocal(ctx)
	}
	return t.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(keyMethod.String(r.Method), attribute.String("url.path", r.URL.Path)))
}

// startLocal starts a span that records nothing but has a span context of its
// own, as the SDK's default sampler (parent-based, always on) would give it:
// a new span id in the trace of ctx's span, with its flags and trace state,
// or a new sampled trace when ctx has none.
func startLocal(ctx context.Context) (context.Context, trace.Span) {
	parent := trace.SpanContextFromContext(ctx)
	cfg := trace.SpanContextConfig{TraceID: parent.TraceID(), TraceFlags: parent.TraceFlags(), TraceState: parent.TraceState()}
	if !parent.IsValid() {
		cfg = trace.SpanContextConfig{TraceFlags: trace.FlagsSampled}
		for !cfg.TraceID.IsValid() {
			binary.NativeEndian.PutUint64(cfg.TraceID[:8], rand.Uint64())
			binary.NativeEndian.PutUint64(cfg.TraceID[8:], rand.Uint64())
		}
	}
	for !cfg.SpanID.IsValid() {
		binary.NativeEndian.PutUint64(cfg.SpanID[:], rand.Uint64())
	}
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(cfg))
	return ctx, trace.SpanFromContext(ctx)
}

// RequestInfo is what EndRequest records on the server span.
type RequestInfo struct {
	Service, Region string
	// Upstream is the upstream host the request went to.
	Upstream string
	// Status is what the client received.
	Status int
	// ErrorCode is the proxy's own error code when it answered itself.
	ErrorCode string
	// RequestID is the AWS request id of the answer.
	RequestID string
	Err       error
}

// EndRequest records info on span and ends it. The span is marked as an
// error for 5xx answers and when Err is set.
func EndRequest(span trace.Span, info RequestInfo) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(keyService.String(info.Service), keyRegion.String(info.Region),
		keyHost.String(info.Upstream), keyStatus.Int(info.Status))
	if info.ErrorCode != "" {
		span.SetAttributes(keyErrorCode.String(info.ErrorCode))
	}
	if info.RequestID != "" {
		span.SetAttributes(keyRequestID.String(info.RequestID))
	}
	markStatus(span, info.Status, info.Err)
	span.End()
}

func markStatus(span trace.Span, status int, err error) {
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	case status >= 500:
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// AttemptInfo describes one upstream attempt for its client span.
type AttemptInfo struct {
	Service, Region string
	// Host is the upstream host; AttemptTracer defaults it to the URL's host.
	Host string
	// Attempt is 1 for the first attempt.
	Attempt int
	// BreakerState is the host's breaker state when the attempt starts.
	BreakerState string
}

// StartAttempt starts the client span of one upstream attempt under ctx's
// span. End it with EndAttempt.
func (t *Telemetry) StartAttempt(ctx context.Context, info AttemptInfo) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noop.Span{}
	}
	if t.tracer == nil {
		return startLocal(ctx)
	}
	attrs := []attribute.KeyValue{keyService.String(info.Service), keyRegion.String(info.Region),
		keyHost.String(info.Host), keyAttempt.Int(info.Attempt)}
	if info.Attempt > 1 {
		attrs = append(attrs, keyResendCount.Int(info.Attempt-1))
	}
	if info.BreakerState != "" {
		attrs = append(attrs, keyBreakerState.String(info.BreakerState))
	}
	return t.tracer.Start(ctx, "upstream "+info.Service, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// EndAttempt records the attempt's status (0: no answer) or error and ends
// span.
func EndAttempt(span trace.Span, status int, requestID string, err error) {
	if !span.IsRecording() {
		return
	}
	if status > 0 {
		span.SetAttributes(keyStatus.Int(status))
	}
	if requestID != "" {
		span.SetAttributes(keyRequestID.String(requestID))
	}
	markStatus(span, status, err)
	span.End()
}

// Inject writes ctx's trace context into h (traceparent, tracestate,
// baggage). It mutates h.
func (t *Telemetry) Inject(ctx context.Context, h http.Header) {
	if t == nil {
		return
	}
	t.propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// RequestID returns the AWS request id of an answer: x-amzn-RequestId (most
// services) or x-amz-request-id (S3).
func RequestID(h http.Header) string {
	if id := h.Get("X-Amzn-Requestid"); id != "" {
		return id
	}
	return h.Get("X-Amz-Request-Id")
}

// AttemptTracer is the layer of the outbound chain that makes a client span
// for each attempt it passes to Next, sets the W3C trace context of that span
// in the request's headers, and records the upstream latency metric. It sits
// above the signer (below the retries), so that each attempt has its own
// span and the trace headers are final when the request is signed.
//
// Like the signer, it takes ownership of the request it is given and
// modifies its headers in place (the retry layer hands each attempt its own
// clone): passing the same *http.Request on lets Next leave things on it for
// the layers above, such as the GetBody the signer sets after buffering a
// body, which is what makes that body replayable by a retry.
type AttemptTracer struct {
	Next http.RoundTripper
	// Telemetry returns what records the spans and the metric, asked at
	// each attempt, so that the proxy can be given its telemetry after its
	// chain is built; nil, or a nil result, records nothing.
	Telemetry func() *Telemetry
	// Describe returns the attempt's service, region, attempt number and
	// breaker state; nil records only the host.
	Describe func(*http.Request) AttemptInfo
}

// RoundTrip implements http.RoundTripper.
func (tr *AttemptTracer) RoundTrip(req *http.Request) (*http.Response, error) {
	var tel *Telemetry
	if tr.Telemetry != nil {
		tel = tr.Telemetry()
	}
	var info AttemptInfo
	if tr.Describe != nil {
		info = tr.Describe(req)
	}
	if info.Host == "" {
		info.Host = req.URL.Host
	}
	ctx, span := tel.StartAttempt(req.Context(), info)
	tel.Inject(ctx, req.Header)
	start := time.Now()
	resp, err := tr.Next.RoundTrip(req)
	status, requestID := 0, ""
	if resp != nil {
		status, requestID = resp.StatusCode, RequestID(resp.Header)
	}
	tel.UpstreamAttempt(ctx, info.Service, info.Region, status, time.Since(start))
	EndAttempt(span, status, requestID, err)
	return resp, err
}

var _ http.RoundTripper = (*AttemptTracer)(nil)
