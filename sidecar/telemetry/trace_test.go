package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// A request that arrives with a W3C traceparent gets a server span in that
// trace; each upstream attempt gets a client span under it, carrying
// service, region, host, status, attempt and breaker state, and the upstream
// receives the attempt span's context.
func TestSpansPerRequestAndAttempt(t *testing.T) {
	ctx := context.Background()
	exporter := tracetest.NewInMemoryExporter()
	tel, err := New(ctx, Options{Getenv: noEnv, SpanExporters: []sdktrace.SpanExporter{exporter}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })

	var mu sync.Mutex
	var received []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received = append(received, r.Header.Get("Traceparent"))
		n := len(received)
		mu.Unlock()
		w.Header().Set("X-Amzn-Requestid", "req-"+string(rune('0'+n)))
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(upstream.Close)

	type attemptKey struct{}
	tr := &AttemptTracer{
		Telemetry: func() *Telemetry { return tel },
		Next:      http.DefaultTransport,
		Describe: func(r *http.Request) AttemptInfo {
			n := r.Context().Value(attemptKey{}).(int)
			state := "closed"
			if n == 2 {
				state = "half-open"
			}
			return AttemptInfo{Service: "sqs", Region: "eu-west-1", Attempt: n, BreakerState: state}
		},
	}

	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	in := httptest.NewRequest("POST", "http://127.0.0.1:8099/queue", nil)
	in.Header.Set("Traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	reqCtx, server := tel.StartRequest(in)
	for attempt := 1; attempt <= 2; attempt++ {
		out, _ := http.NewRequestWithContext(context.WithValue(reqCtx, attemptKey{}, attempt), "POST", upstream.URL+"/queue", nil)
		resp, err := tr.RoundTrip(out)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	EndRequest(server, RequestInfo{Service: "sqs", Region: "eu-west-1", Upstream: "sqs.eu-west-1.amazonaws.com", Status: 200, RequestID: "req-2"})

	spans := exporter.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3 (2 attempts, 1 server)", len(spans))
	}
	srv := spans[2]
	if srv.SpanKind != trace.SpanKindServer || srv.SpanContext.TraceID().String() != clientTrace ||
		srv.Parent.SpanID().String() != "00f067aa0ba902b7" || !srv.Parent.IsRemote() {
		t.Errorf("server span %s kind %v trace %s parent %s: want a server span under the client's traceparent",
			srv.Name, srv.SpanKind, srv.SpanContext.TraceID(), srv.Parent.SpanID())
	}
	if a := attrs(srv.Attributes); a["aws.service"] != "sqs" || a["cloud.region"] != "eu-west-1" ||
		a["http.response.status_code"] != "200" || a["aws.request_id"] != "req-2" {
		t.Errorf("server span attributes %v", a)
	}
	for i, sp := range spans[:2] {
		a := attrs(sp.Attributes)
		wantStatus := map[int]string{0: "503", 1: "200"}[i]
		wantState := map[int]string{0: "closed", 1: "half-open"}[i]
		if sp.SpanKind != trace.SpanKindClient || sp.Parent.SpanID() != srv.SpanContext.SpanID() {
			t.Errorf("attempt %d: kind %v parent %s, want a client span under the server span", i+1, sp.SpanKind, sp.Parent.SpanID())
		}
		if a["aws.service"] != "sqs" || a["cloud.region"] != "eu-west-1" || a["server.address"] != upstream.Listener.Addr().String() ||
			a["sigv4.attempt"] != string(rune('1'+i)) || a["http.response.status_code"] != wantStatus ||
			a["sigv4.breaker.state"] != wantState {
			t.Errorf("attempt %d attributes %v", i+1, a)
		}
		want := "00-" + clientTrace + "-" + sp.SpanContext.SpanID().String() + "-01"
		if received[i] != want {
			t.Errorf("upstream received traceparent %q on attempt %d, want %q", received[i], i+1, want)
		}
	}
	if spans[0].Status.Code != codes.Error || spans[1].Status.Code == codes.Error {
		t.Errorf("span status: 503 attempt %v, 200 attempt %v", spans[0].Status, spans[1].Status)
	}
}

// What the layer below leaves on the request (the signer's GetBody) reaches
// the layer above: AttemptTracer passes the very request on.
func TestAttemptTracerPassesTheRequestOn(t *testing.T) {
	tel, err := New(context.Background(), Options{Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	tr := &AttemptTracer{Telemetry: func() *Telemetry { return tel }, Next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	})}
	req, _ := http.NewRequest("POST", "https://sqs.us-east-1.amazonaws.com/", io.NopCloser(nil))
	req.GetBody = nil
	tr.RoundTrip(req)
	if req.GetBody == nil || req.Header.Get("Traceparent") == "" {
		t.Errorf("GetBody %v, traceparent %q: want both set on the request", req.GetBody != nil, req.Header.Get("Traceparent"))
	}
}

// An attempt that gets no answer records the error on its span.
func TestAttemptSpanRecordsTransportError(t *testing.T) {
	ctx := context.Background()
	exporter := tracetest.NewInMemoryExporter()
	tel, err := New(ctx, Options{Getenv: noEnv, SpanExporters: []sdktrace.SpanExporter{exporter}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })
	tr := &AttemptTracer{Telemetry: func() *Telemetry { return tel }, Next: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, io.ErrUnexpectedEOF
	})}
	req, _ := http.NewRequest("GET", "https://s3.amazonaws.com/", nil)
	if _, err := tr.RoundTrip(req); err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v", err)
	}
	spans := exporter.GetSpans()
	if len(spans) != 1 || spans[0].Status.Code != codes.Error || len(spans[0].Events) == 0 {
		t.Fatalf("spans = %+v, want one error span with the error event", spans)
	}
	if a := attrs(spans[0].Attributes); a["server.address"] != "s3.amazonaws.com" {
		t.Errorf("attributes %v", a)
	}
}

func TestRequestID(t *testing.T) {
	if got := RequestID(http.Header{"X-Amzn-Requestid": {"a"}, "X-Amz-Request-Id": {"b"}}); got != "a" {
		t.Errorf("got %q", got)
	}
	if got := RequestID(http.Header{"X-Amz-Request-Id": {"s3id"}}); got != "s3id" {
		t.Errorf("got %q", got)
	}
}

// With no exporter, spans are local but trace context works as with the SDK:
// the server span continues the client's trace (its flags and trace state),
// each attempt has a span id of its own that the upstream receives, and a
// request without a traceparent starts a new sampled trace. Nothing records.
func TestLocalSpansWithoutExporter(t *testing.T) {
	ctx := context.Background()
	tel, err := New(ctx, Options{Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })

	var received http.Header
	tr := &AttemptTracer{Telemetry: func() *Telemetry { return tel }, Next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		received = r.Header.Clone()
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})}
	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		name, traceparent, tracestate, wantFlags string
	}{
		{"sampled", "00-" + clientTrace + "-" + clientSpan + "-01", "congo=t61rcWkgMzE", "01"},
		{"not sampled", "00-" + clientTrace + "-" + clientSpan + "-00", "", "00"},
		{"none", "", "", "01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := httptest.NewRequest("GET", "http://127.0.0.1:8099/b/k", nil)
			if tc.traceparent != "" {
				in.Header.Set("Traceparent", tc.traceparent)
			}
			if tc.tracestate != "" {
				in.Header.Set("Tracestate", tc.tracestate)
			}
			reqCtx, server := tel.StartRequest(in)
			sc := server.SpanContext()
			if server.IsRecording() || !sc.IsValid() || sc.SpanID().String() == clientSpan {
				t.Fatalf("server span recording %v, context %v: want a local span with an id of its own", server.IsRecording(), sc)
			}
			if tc.traceparent != "" && sc.TraceID().String() != clientTrace {
				t.Errorf("server span in trace %s, want the client's %s", sc.TraceID(), clientTrace)
			}
			out, _ := http.NewRequestWithContext(reqCtx, "GET", "http://upstream.test/b/k", nil)
			resp, err := tr.RoundTrip(out)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			EndRequest(server, RequestInfo{Status: 200})
			parts := strings.Split(received.Get("Traceparent"), "-")
			if len(parts) != 4 || parts[1] != sc.TraceID().String() || parts[3] != tc.wantFlags {
				t.Fatalf("upstream traceparent %q, want trace %s flags %s", received.Get("Traceparent"), sc.TraceID(), tc.wantFlags)
			}
			if parts[2] == sc.SpanID().String() || parts[2] == clientSpan || parts[2] == "0000000000000000" {
				t.Errorf("upstream traceparent span %s: want the attempt's own (server %s, client %s)", parts[2], sc.SpanID(), clientSpan)
			}
			if got := received.Get("Tracestate"); got != tc.tracestate {
				t.Errorf("upstream tracestate %q, want %q", got, tc.tracestate)
			}
		})
	}
}

// A sampler or an exporter asked for makes real, recording spans.
func TestSpansRecordWhenSomethingReceivesThem(t *testing.T) {
	ctx := context.Background()
	tel, err := New(ctx, Options{Getenv: func(k string) string {
		return map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}[k]
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })
	_, span := tel.StartRequest(httptest.NewRequest("GET", "/", nil))
	defer span.End()
	if !span.IsRecording() {
		t.Error("OTEL_TRACES_SAMPLER set: span not recording")
	}
}
