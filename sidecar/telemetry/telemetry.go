package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName names the instrumentation scope of every metric and span.
const ScopeName = "github.com/sigv4-sidecar/sigv4-sidecar/sidecar"

// Observers are the callbacks through which the proxy lends values the
// metrics read at each collection. Any may be nil; each must be quick and
// safe for concurrent use.
type Observers struct {
	// KeyCache returns the signer's derived-key cache hits and misses since
	// start (signer.KeyCache.Stats).
	KeyCache func() (hits, misses uint64)
	// Credentials returns the credential source's counters and expiry
	// (creds.Cache.Status).
	Credentials func() CredentialStats
	// BreakerStates returns every upstream breaker that is not closed, each
	// with the service and region its host is signed for.
	BreakerStates func() []BreakerState
	// ClockOffset returns the offset added to the local clock for signing.
	ClockOffset func() time.Duration
	// SignatureRejections returns how many upstream answers rejected a
	// signature since start, by diagnosed cause (Proxy.SignatureRejections).
	SignatureRejections func() map[string]uint64
}

// BreakerState is one upstream host's breaker, as the breaker metric sees
// it: no host, which a client may choose, only the service and region it
// is signed for, and its state as a number (resilience.State: 1 half-open,
// 2 open).
type BreakerState struct {
	Service, Region string
	State           int
}

// CredentialStats is what the credential metrics observe.
type CredentialStats struct {
	// Refreshes and Failures count fetches from the source since start.
	Refreshes, Failures uint64
	// Expires is when the current credentials expire, if CanExpire.
	Expires   time.Time
	CanExpire bool
}

// Options configure New.
type Options struct {
	// ServiceName is the OpenTelemetry service.name, unless OTEL_SERVICE_NAME
	// or OTEL_RESOURCE_ATTRIBUTES set it. Default "sigv4-sidecar".
	ServiceName string
	// Version is the service.version resource attribute.
	Version   string
	Observers Observers
	// Services and Regions are label values allowed besides those the
	// endpoint table knows: the operator's --service and --region (see
	// routeAttrsCache).
	Services, Regions []string
	// SpanExporters receive every span synchronously, besides OTLP (tests use
	// tracetest.NewInMemoryExporter).
	SpanExporters []sdktrace.SpanExporter
	// MetricReaders read the metrics besides Prometheus and OTLP.
	MetricReaders []sdkmetric.Reader
	// Getenv reads the OTEL_* variables that decide whether to export over
	// OTLP; default os.Getenv. The OTLP exporters themselves read the process
	// environment for endpoints, headers and timeouts.
	Getenv func(string) string
}

// Telemetry holds the providers, the Prometheus handler and the instruments.
// Its methods are safe for concurrent use; a nil *Telemetry records nothing,
// so the proxy can run without it in tests.
type Telemetry struct {
	meterProvider *sdkmetric.MeterProvider
	// tracerProvider and tracer are nil when no span would reach an
	// exporter: spans are then local (startLocal).
	tracerProvider *sdktrace.TracerProvider
	tracer         trace.Tracer
	propagator     propagation.TextMapPropagator
	handler        http.Handler
	// Exporting lists the OTLP signals exported ("traces", "metrics").
	Exporting []string
	inst      instruments
	routes    routeAttrsCache
	clients   clientMetrics // clients.go
	routed    routeMetrics  // routed.go: by route name (--config)
}

// New sets up metrics (Prometheus always; OTLP/HTTP when asked), tracing
// (OTLP/HTTP when asked, otherwise spans are made and propagated but not
// exported) and the W3C trace-context and baggage propagator. It sets no
// OpenTelemetry globals. Shutdown flushes and stops the exporters.
//
// When no span can reach an exporter (no OTLP traces, no SpanExporters) and
// OTEL_TRACES_SAMPLER is not set, spans are local: each has its own span id
// in the trace the client sent (or a new sampled one), so the upstream gets a
// traceparent and the request log a trace_id exactly as with the SDK, but
// nothing is recorded. The SDK would build, fill and end a recording span
// for every request and every attempt only to drop it, and mark every
// measurement for an exemplar of a trace nobody receives.
//
// OTLP is asked for by OTEL_EXPORTER_OTLP_ENDPOINT, or per signal by
// OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT or OTEL_{TRACES,METRICS}_EXPORTER=otlp;
// OTEL_{TRACES,METRICS}_EXPORTER=none turns a signal off, and
// OTEL_SDK_DISABLED=true turns both off. Only the http/protobuf protocol is
// built in: another OTEL_EXPORTER_OTLP_PROTOCOL is an error naming it.
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	name := opts.ServiceName
	if name == "" {
		name = "sigv4-sidecar"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if opts.Version != "" {
		attrs = append(attrs, attribute.String("service.version", opts.Version))
	}
	res, err := resource.New(ctx, resource.WithAttributes(attrs...), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	traceOTLP, err := otlpWanted(getenv, "TRACES")
	if err != nil {
		return nil, err
	}
	metricOTLP, err := otlpWanted(getenv, "METRICS")
	if err != nil {
		return nil, err
	}

	t := &Telemetry{propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	t.handler = promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	metricOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	for _, r := range opts.MetricReaders {
		metricOpts = append(metricOpts, sdkmetric.WithReader(r))
	}
	if metricOTLP {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP metric exporter (OTEL_EXPORTER_OTLP_*): %w", err)
		}
		metricOpts = append(metricOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		t.Exporting = append(t.Exporting, "metrics")
	}
	recordSpans := traceOTLP || len(opts.SpanExporters) > 0 || getenv("OTEL_TRACES_SAMPLER") != ""
	if !recordSpans && getenv("OTEL_METRICS_EXEMPLAR_FILTER") == "" {
		// The default (trace_based) would keep exemplars pointing at
		// local spans, which no backend ever receives.
		metricOpts = append(metricOpts, sdkmetric.WithExemplarFilter(exemplar.AlwaysOffFilter))
	}
	t.meterProvider = sdkmetric.NewMeterProvider(metricOpts...)

	if recordSpans {
		traceOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
		for _, e := range opts.SpanExporters {
			traceOpts = append(traceOpts, sdktrace.WithSyncer(e))
		}
		if traceOTLP {
			exp, err := otlptracehttp.New(ctx)
			if err != nil {
				t.meterProvider.Shutdown(ctx)
				return nil, fmt.Errorf("OTLP trace exporter (OTEL_EXPORTER_OTLP_*): %w", err)
			}
			traceOpts = append(traceOpts, sdktrace.WithBatcher(exp))
			t.Exporting = append(t.Exporting, "traces")
		}
		t.tracerProvider = sdktrace.NewTracerProvider(traceOpts...)
		t.tracer = t.tracerProvider.Tracer(ScopeName)
	}

	t.routes.services, t.routes.regions = setOf(opts.Services), setOf(opts.Regions)
	if t.inst, err = newInstruments(t.meterProvider.Meter(ScopeName), opts.Observers, &t.routes); err != nil {
		t.Shutdown(ctx)
		return nil, err
	}
	if err = t.clients.init(t.meterProvider.Meter(ScopeName)); err != nil {
		t.Shutdown(ctx)
		return nil, err
	}
	if err = t.routed.init(t.meterProvider.Meter(ScopeName)); err != nil {
		t.Shutdown(ctx)
		return nil, err
	}
	return t, nil
}

func setOf(values []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range values {
		if v != "" {
			m[v] = true
		}
	}
	return m
}

// otlpWanted reads the standard variables for one signal (TRACES, METRICS).
// https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/
// https://opentelemetry.io/docs/specs/otel/protocol/exporter/
func otlpWanted(getenv func(string) string, signal string) (bool, error) {
	if getenv("OTEL_SDK_DISABLED") == "true" {
		return false, nil
	}
	exporterVar := "OTEL_" + signal + "_EXPORTER"
	switch exporter := getenv(exporterVar); exporter {
	case "none":
		return false, nil
	case "", "otlp":
		if exporter == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") == "" {
			return false, nil
		}
	case "prometheus":
		if signal == "METRICS" {
			return false, nil // served on /metrics anyway
		}
		fallthrough
	default:
		return false, fmt.Errorf("invalid %s %q: supported are otlp and none", exporterVar, exporter)
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := getenv(v); p != "" {
			if p != "http/protobuf" {
				return false, fmt.Errorf("invalid %s %q: only http/protobuf is supported", v, p)
			}
			break
		}
	}
	return true, nil
}

// MetricsHandler serves the metrics as Prometheus text, for the admin
// listener's GET /metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	if t == nil {
		return http.NotFoundHandler()
	}
	return t.handler
}

// Propagator is the W3C trace-context and baggage propagator.
func (t *Telemetry) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return propagation.NewCompositeTextMapPropagator()
	}
	return t.propagator
}

// TracerProvider returns the provider spans come from: a no-op one when
// spans are local (see New).
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if t == nil || t.tracerProvider == nil {
		return noop.NewTracerProvider()
	}
	return t.tracerProvider
}

// Shutdown flushes what is pending to the OTLP exporters and stops them,
// within ctx. Safe to call once, at the end.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	var errs []error
	if t.tracerProvider != nil {
		errs = append(errs, t.tracerProvider.Shutdown(ctx))
	}
	if t.meterProvider != nil {
		errs = append(errs, t.meterProvider.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
