package telemetry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
)

// The metric names as Prometheus shows them (the OpenTelemetry instrument
// names are the same without the unit and _total suffixes).
const (
	MetricRequests             = "sigv4_sidecar_requests_total"
	MetricRequestDuration      = "sigv4_sidecar_request_duration_seconds"
	MetricUpstreamDuration     = "sigv4_sidecar_upstream_duration_seconds"
	MetricSigningDuration      = "sigv4_sidecar_signing_duration_seconds"
	MetricKeyCacheHits         = "sigv4_sidecar_signing_key_cache_hits_total"
	MetricKeyCacheMisses       = "sigv4_sidecar_signing_key_cache_misses_total"
	MetricCredentialRefreshes  = "sigv4_sidecar_credential_refreshes_total"
	MetricCredentialFailures   = "sigv4_sidecar_credential_refresh_failures_total"
	MetricCredentialExpiry     = "sigv4_sidecar_credential_expiry_seconds"
	MetricBreakerState         = "sigv4_sidecar_breaker_state"
	MetricBreakerTransitions   = "sigv4_sidecar_breaker_transitions_total"
	MetricRetries              = "sigv4_sidecar_retries_total"
	MetricClockOffset          = "sigv4_sidecar_clock_offset_seconds"
	MetricClockSkewCorrections = "sigv4_sidecar_clock_skew_corrections_total"
	MetricRequestBytes         = "sigv4_sidecar_request_body_bytes_total"
	MetricResponseBytes        = "sigv4_sidecar_response_body_bytes_total"
	MetricSignatureRejections  = "sigv4_sidecar_signature_rejections_total"
)

// Attribute keys shared by metrics and spans.
const (
	keyService     = attribute.Key("aws.service")
	keyRegion      = attribute.Key("cloud.region")
	keyStatusClass = attribute.Key("status_class")
	keyHost        = attribute.Key("server.address")
	keyReason      = attribute.Key("reason")
	keyState       = attribute.Key("state")
	keyCause       = attribute.Key("cause")
)

// Latency buckets: from a cached-connection round trip to a Lambda invoke.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}

// Signing is microseconds with a cached key, milliseconds without.
var signingBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .1}

type instruments struct {
	requests, breakerTransitions, retries, skewCorrections,
	requestBytes, responseBytes metric.Int64Counter
	requestDuration, upstreamDuration, signingDuration metric.Float64Histogram
}

func newInstruments(m metric.Meter, obs Observers, routes *routeAttrsCache) (instruments, error) {
	var in instruments
	var errs []error
	counter := func(dst *metric.Int64Counter, name, unit, desc string) {
		var err error
		*dst, err = m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
	}
	histogram := func(dst *metric.Float64Histogram, name, desc string, buckets []float64) {
		var err error
		*dst, err = m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
	}
	counter(&in.requests, "sigv4_sidecar_requests", "{request}", "Proxied requests, by AWS service, region and the status class answered to the client.")
	counter(&in.breakerTransitions, "sigv4_sidecar_breaker_transitions", "{transition}", "Circuit breaker state changes, by the upstream host's service and region and the new state.")
	counter(&in.retries, "sigv4_sidecar_retries", "{retry}", "Upstream attempts after the first, by service, region and reason (transport, 5xx, throttled, clock-skew).")
	counter(&in.skewCorrections, "sigv4_sidecar_clock_skew_corrections", "{correction}", "Times an upstream's Date reset the signing clock offset.")
	counter(&in.requestBytes, "sigv4_sidecar_request_body", "By", "Request body bytes received from clients and forwarded.")
	counter(&in.responseBytes, "sigv4_sidecar_response_body", "By", "Response body bytes received from upstreams and returned.")
	histogram(&in.requestDuration, "sigv4_sidecar_request_duration", "End-to-end time of proxied requests, to the last response byte.", durationBuckets)
	histogram(&in.upstreamDuration, "sigv4_sidecar_upstream_duration", "Time of each upstream attempt to its response headers.", durationBuckets)
	histogram(&in.signingDuration, "sigv4_sidecar_signing_duration", "Time to sign a request (body hashing excluded).", signingBuckets)

	if obs.KeyCache != nil {
		hits, err := m.Int64ObservableCounter("sigv4_sidecar_signing_key_cache_hits", metric.WithUnit("{lookup}"),
			metric.WithDescription("Signing-key cache lookups that found the derived key."))
		errs = append(errs, err)
		misses, err := m.Int64ObservableCounter("sigv4_sidecar_signing_key_cache_misses", metric.WithUnit("{lookup}"),
			metric.WithDescription("Signing-key cache lookups that derived a new key."))
		errs = append(errs, err)
		if err == nil {
			_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
				h, mi := obs.KeyCache()
				o.ObserveInt64(hits, int64(h))
				o.ObserveInt64(misses, int64(mi))
				return nil
			}, hits, misses)
			errs = append(errs, err)
		}
	}
	if obs.Credentials != nil {
		refreshes, err := m.Int64ObservableCounter("sigv4_sidecar_credential_refreshes", metric.WithUnit("{refresh}"),
			metric.WithDescription("Successful credential fetches from the source since start."))
		errs = append(errs, err)
		failures, err := m.Int64ObservableCounter("sigv4_sidecar_credential_refresh_failures", metric.WithUnit("{refresh}"),
			metric.WithDescription("Failed credential fetches since start; the last good credentials stay in use."))
		errs = append(errs, err)
		expiry, err := m.Float64ObservableGauge("sigv4_sidecar_credential_expiry", metric.WithUnit("s"),
			metric.WithDescription("Seconds until the current credentials expire (absent when they do not)."))
		errs = append(errs, err)
		if err == nil {
			_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
				s := obs.Credentials()
				o.ObserveInt64(refreshes, int64(s.Refreshes))
				o.ObserveInt64(failures, int64(s.Failures))
				if s.CanExpire {
					o.ObserveFloat64(expiry, time.Until(s.Expires).Seconds())
				}
				return nil
			}, refreshes, failures, expiry)
			errs = append(errs, err)
		}
	}
	if obs.BreakerStates != nil {
		_, err := m.Int64ObservableGauge("sigv4_sidecar_breaker_state", metric.WithUnit("{state}"),
			metric.WithDescription("Worst circuit breaker state among the upstream hosts of a service and region: 1 half-open, 2 open; absent while all are closed."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				// By service and region, never by host: in host mode the
				// hosts are the client's choice (every S3 bucket is one).
				worst := map[*routeAttrs]int{}
				for _, b := range obs.BreakerStates() {
					r := routes.get(b.Service, b.Region)
					worst[r] = max(worst[r], b.State)
				}
				for r, state := range worst {
					o.Observe(int64(state), r.sr)
				}
				return nil
			}))
		errs = append(errs, err)
	}
	if obs.ClockOffset != nil {
		_, err := m.Float64ObservableGauge("sigv4_sidecar_clock_offset", metric.WithUnit("s"),
			metric.WithDescription("Offset added to the local clock for signing, learnt from upstreams that reported skew."),
			metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
				o.Observe(obs.ClockOffset().Seconds())
				return nil
			}))
		errs = append(errs, err)
	}
	if obs.SignatureRejections != nil {
		_, err := m.Int64ObservableCounter("sigv4_sidecar_signature_rejections", metric.WithUnit("{answer}"),
			metric.WithDescription("Upstream answers that rejected a signature (SignatureDoesNotMatch, InvalidSignatureException, IncompleteSignature, AuthorizationHeaderMalformed), by diagnosed cause."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				for cause, n := range obs.SignatureRejections() {
					o.Observe(int64(n), metric.WithAttributes(keyCause.String(cause)))
				}
				return nil
			}))
		errs = append(errs, err)
	}
	return in, errors.Join(errs...)
}

// StatusClass names a status code's class for a low-cardinality label:
// "2xx" ... "5xx", or "error" when there was no answer (0).
func StatusClass(status int) string { return statusClasses[classIndex(status)] }

// statusClasses are StatusClass's answers, by classIndex.
var statusClasses = [6]string{"error", "1xx", "2xx", "3xx", "4xx", "5xx"}

// classIndex is status's index in statusClasses.
func classIndex(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// routeAttrs are the measurement options of one service and region, built
// once: building an attribute set sorts and hashes it, and each option
// passed to an instrument would escape, so per request they cost several
// allocations and most of the time a measurement takes.
type routeAttrs struct {
	// The label values.
	service, region string
	// sr is service and region; byClass adds each status class; srvc is
	// the service alone.
	sr, srvc metric.MeasurementOption
	byClass  [len(statusClasses)]metric.MeasurementOption
	// The same as the variadic slices the instruments take.
	srAdd         []metric.AddOption
	byClassAdd    [len(statusClasses)][]metric.AddOption
	byClassRecord [len(statusClasses)][]metric.RecordOption
	serviceRecord []metric.RecordOption
}

func newRouteAttrs(service, region string) *routeAttrs {
	r := &routeAttrs{
		service: service, region: region,
		sr:   metric.WithAttributeSet(attribute.NewSet(keyService.String(service), keyRegion.String(region))),
		srvc: metric.WithAttributeSet(attribute.NewSet(keyService.String(service))),
	}
	r.srAdd = []metric.AddOption{r.sr}
	r.serviceRecord = []metric.RecordOption{r.srvc}
	for i, class := range statusClasses {
		r.byClass[i] = metric.WithAttributeSet(attribute.NewSet(keyService.String(service), keyRegion.String(region), keyStatusClass.String(class)))
		r.byClassAdd[i] = []metric.AddOption{r.byClass[i]}
		r.byClassRecord[i] = []metric.RecordOption{r.byClass[i]}
	}
	return r
}

type routeKey struct{ service, region string }

// LabelOther is the label value of a service or region outside the bounded
// sets (see routeAttrsCache).
const LabelOther = "other"

// MaxLabelledRoutes bounds the service and region pairs that get labels of
// their own; the pairs seen after them are counted under LabelOther for
// both. A sidecar talks to a handful; a gateway in host mode to more, and a
// client that picks its hosts to as many as the table allows.
const MaxLabelledRoutes = 64

// routeAttrsCache maps service and region to their routeAttrs, and is the
// one place that bounds those labels: the set of values a client can make
// appear is fixed, whatever hosts it sends. A service is its own label when
// the endpoint table knows it as a signing name or the operator named it
// (--service), a region when a partition lists it or the operator named it
// (--region); anything else, such as the first label of an unknown host the
// generic rule signs with, or a region its partition's pattern merely
// matches, is LabelOther. Empty stays empty (a request refused before it
// was routed). The first MaxLabelledRoutes pairs get their own entry.
//
// Reads take no lock: the map is replaced, never changed, when a pair is
// added. Safe for concurrent use.
type routeAttrsCache struct {
	m  atomic.Pointer[map[routeKey]*routeAttrs]
	mu sync.Mutex // serializes additions
	// services and regions are the operator's own values, known besides
	// the endpoint table's; set before first use.
	services, regions map[string]bool
	overflow          *routeAttrs // LabelOther for both, built on first need
	// overflowed holds the pairs that found the map full, so that they too
	// are answered without the lock.
	overflowed sync.Map // routeKey -> struct{}
}

func (c *routeAttrsCache) serviceLabel(s string) string {
	if s == "" || c.services[s] || endpoint.IsSigningName(s) {
		return s
	}
	return LabelOther
}

func (c *routeAttrsCache) regionLabel(r string) string {
	if r == "" || c.regions[r] || endpoint.IsRegion(r) {
		return r
	}
	return LabelOther
}

func (c *routeAttrsCache) get(service, region string) *routeAttrs {
	k := routeKey{c.serviceLabel(service), c.regionLabel(region)}
	service, region = k.service, k.region
	if m := c.m.Load(); m != nil {
		if r, ok := (*m)[k]; ok {
			return r
		}
	}
	if _, ok := c.overflowed.Load(k); ok {
		return c.overflow
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[routeKey]*routeAttrs
	if m := c.m.Load(); m != nil {
		old = *m
	}
	if r, ok := old[k]; ok {
		return r
	}
	if len(old) >= MaxLabelledRoutes {
		if c.overflow == nil {
			c.overflow = newRouteAttrs(LabelOther, LabelOther)
		}
		c.overflowed.Store(k, struct{}{})
		return c.overflow
	}
	r := newRouteAttrs(service, region)
	next := make(map[routeKey]*routeAttrs, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[k] = r
	c.m.Store(&next)
	return r
}

// RequestDone records one proxied request: its count by service, region and
// status class, its end-to-end duration, and the body bytes it moved each
// way. status is what the client received (the proxy's own error status
// included).
func (t *Telemetry) RequestDone(ctx context.Context, service, region string, status int, d time.Duration, bytesIn, bytesOut int64) {
	if t == nil {
		return
	}
	r, class := t.routes.get(service, region), classIndex(status)
	t.inst.requests.Add(ctx, 1, r.byClassAdd[class]...)
	t.inst.requestDuration.Record(ctx, d.Seconds(), r.byClassRecord[class]...)
	t.inst.requestBytes.Add(ctx, bytesIn, r.srAdd...)
	t.inst.responseBytes.Add(ctx, bytesOut, r.srAdd...)
}

// UpstreamAttempt records one upstream attempt's time to response headers;
// status 0 means it got no answer.
func (t *Telemetry) UpstreamAttempt(ctx context.Context, service, region string, status int, d time.Duration) {
	if t == nil {
		return
	}
	t.inst.upstreamDuration.Record(ctx, d.Seconds(), t.routes.get(service, region).byClassRecord[classIndex(status)]...)
}

// Signed records the time one signature took.
func (t *Telemetry) Signed(ctx context.Context, service string, d time.Duration) {
	if t == nil {
		return
	}
	// By service alone: any region's entry holds the same option.
	t.inst.signingDuration.Record(ctx, d.Seconds(), t.routes.get(service, "").serviceRecord...)
}

// Retried counts one retry and its reason (resilience.Reason*).
func (t *Telemetry) Retried(ctx context.Context, service, region, reason string) {
	if t == nil {
		return
	}
	r := t.routes.get(service, region)
	t.inst.retries.Add(ctx, 1, metric.WithAttributes(keyService.String(r.service), keyRegion.String(r.region), keyReason.String(reason)))
}

// BreakerChanged counts one breaker state change to state ("closed",
// "half-open", "open") of a host signed for service and region.
func (t *Telemetry) BreakerChanged(ctx context.Context, service, region, state string) {
	if t == nil {
		return
	}
	r := t.routes.get(service, region)
	t.inst.breakerTransitions.Add(ctx, 1, metric.WithAttributes(keyService.String(r.service), keyRegion.String(r.region), keyState.String(state)))
}

// SkewCorrected counts one clock correction; the offset itself is observed
// through Observers.ClockOffset.
func (t *Telemetry) SkewCorrected(ctx context.Context) {
	if t == nil {
		return
	}
	t.inst.skewCorrections.Add(ctx, 1)
}
