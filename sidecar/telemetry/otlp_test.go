package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// With OTEL_EXPORTER_OTLP_ENDPOINT set, traces and metrics go to the
// collector over OTLP/HTTP protobuf; Shutdown flushes them.
func TestOTLPExportWhenAsked(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Header.Get("Content-Type")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")

	ctx := context.Background()
	tel, err := New(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tel.Exporting, ",") != "metrics,traces" {
		t.Errorf("Exporting = %v", tel.Exporting)
	}
	tel.RequestDone(ctx, "s3", "us-east-1", 200, time.Millisecond, 1, 1)
	_, span := tel.StartRequest(httptest.NewRequest("GET", "/", nil))
	EndRequest(span, RequestInfo{Status: 200})
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, path := range []string{"/v1/traces", "/v1/metrics"} {
		if ct, ok := got[path]; !ok || ct != "application/x-protobuf" {
			t.Errorf("collector got %v; want a protobuf POST to %s", got, path)
		}
	}
}

func TestOTLPChoiceFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env            map[string]string
		traces, metric bool
		err            string
	}{
		{env: nil},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, traces: true, metric: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, traces: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}, traces: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, traces: true},
		{env: map[string]string{"OTEL_METRICS_EXPORTER": "prometheus"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			err: `invalid OTEL_EXPORTER_OTLP_PROTOCOL "grpc": only http/protobuf is supported`},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: `invalid OTEL_TRACES_EXPORTER "zipkin": supported are otlp and none`},
	} {
		getenv := func(k string) string { return tc.env[k] }
		traces, err1 := otlpWanted(getenv, "TRACES")
		metric, err2 := otlpWanted(getenv, "METRICS")
		var errText string
		for _, e := range []error{err1, err2} {
			if e != nil {
				errText = e.Error()
			}
		}
		if traces != tc.traces || metric != tc.metric || errText != tc.err {
			t.Errorf("%v: traces %v metrics %v err %q; want %v %v %q", tc.env, traces, metric, errText, tc.traces, tc.metric, tc.err)
		}
	}
	if _, err := New(context.Background(), Options{Getenv: func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "x", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}[k]
	}}); err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Errorf("New with grpc: %v, want an error naming the variable", err)
	}
}
