package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func noEnv(string) string { return "" }

// scrape GETs /metrics from the handler over a real listener and parses the
// Prometheus text.
func scrape(t *testing.T, tel *Telemetry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// find returns the metric of family name whose labels include want.
func find(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Errorf("metric %s missing", name)
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		return m
	}
	t.Errorf("metric %s has no series with labels %v", name, want)
	return nil
}

func TestMetricsScrapedAndParsed(t *testing.T) {
	ctx := context.Background()
	expires := time.Now().Add(time.Hour)
	tel, err := New(ctx, Options{Getenv: noEnv, Observers: Observers{
		KeyCache: func() (uint64, uint64) { return 7, 2 },
		Credentials: func() CredentialStats {
			return CredentialStats{Refreshes: 4, Failures: 1, Expires: expires, CanExpire: true}
		},
		BreakerStates: func() []BreakerState {
			return []BreakerState{{Service: "sqs", Region: "eu-west-1", State: 2}, {Service: "sqs", Region: "eu-west-1", State: 1}}
		},
		ClockOffset: func() time.Duration { return -3500 * time.Millisecond },
		SignatureRejections: func() map[string]uint64 {
			return map[string]uint64{"wrong-secret": 3, "clock-skew": 1}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })

	tel.RequestDone(ctx, "s3", "us-east-1", 200, 30*time.Millisecond, 1000, 5000)
	tel.RequestDone(ctx, "s3", "us-east-1", 204, 10*time.Millisecond, 0, 0)
	tel.RequestDone(ctx, "sqs", "eu-west-1", 503, 2*time.Second, 10, 20)
	tel.UpstreamAttempt(ctx, "s3", "us-east-1", 503, 20*time.Millisecond)
	tel.UpstreamAttempt(ctx, "s3", "us-east-1", 200, 25*time.Millisecond)
	tel.Signed(ctx, "s3", 40*time.Microsecond)
	tel.Retried(ctx, "s3", "us-east-1", "throttled")
	tel.BreakerChanged(ctx, "sqs", "eu-west-1", "open")
	tel.SkewCorrected(ctx)

	fam := scrape(t, tel)
	counter := func(name string, labels map[string]string) float64 {
		if m := find(t, fam, name, labels); m != nil {
			return m.GetCounter().GetValue()
		}
		return -1
	}
	gauge := func(name string, labels map[string]string) float64 {
		if m := find(t, fam, name, labels); m != nil {
			return m.GetGauge().GetValue()
		}
		return -1
	}
	histCount := func(name string, labels map[string]string) uint64 {
		if m := find(t, fam, name, labels); m != nil {
			return m.GetHistogram().GetSampleCount()
		}
		return 0
	}
	s3 := map[string]string{"aws_service": "s3", "cloud_region": "us-east-1"}
	with := func(m map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range m {
			out[a] = b
		}
		return out
	}
	if v := counter(MetricRequests, with(s3, "status_class", "2xx")); v != 2 {
		t.Errorf("%s{s3,2xx} = %v, want 2", MetricRequests, v)
	}
	if v := counter(MetricRequests, map[string]string{"aws_service": "sqs", "status_class": "5xx"}); v != 1 {
		t.Errorf("%s{sqs,5xx} = %v, want 1", MetricRequests, v)
	}
	if n := histCount(MetricRequestDuration, with(s3, "status_class", "2xx")); n != 2 {
		t.Errorf("%s count = %d, want 2", MetricRequestDuration, n)
	}
	if n := histCount(MetricUpstreamDuration, with(s3, "status_class", "5xx")); n != 1 {
		t.Errorf("%s{5xx} count = %d, want 1", MetricUpstreamDuration, n)
	}
	if n := histCount(MetricSigningDuration, map[string]string{"aws_service": "s3"}); n != 1 {
		t.Errorf("%s count = %d, want 1", MetricSigningDuration, n)
	}
	if v := counter(MetricKeyCacheHits, nil); v != 7 {
		t.Errorf("%s = %v, want 7", MetricKeyCacheHits, v)
	}
	if v := counter(MetricKeyCacheMisses, nil); v != 2 {
		t.Errorf("%s = %v, want 2", MetricKeyCacheMisses, v)
	}
	if v := counter(MetricCredentialRefreshes, nil); v != 4 {
		t.Errorf("%s = %v, want 4", MetricCredentialRefreshes, v)
	}
	if v := counter(MetricCredentialFailures, nil); v != 1 {
		t.Errorf("%s = %v, want 1", MetricCredentialFailures, v)
	}
	if v := gauge(MetricCredentialExpiry, nil); v <= 3000 || v > 3600 {
		t.Errorf("%s = %v, want about 3600", MetricCredentialExpiry, v)
	}
	if v := gauge(MetricBreakerState, map[string]string{"aws_service": "sqs", "cloud_region": "eu-west-1"}); v != 2 {
		t.Errorf("%s = %v, want 2 (the worst of open and half-open)", MetricBreakerState, v)
	}
	if v := counter(MetricBreakerTransitions, map[string]string{"aws_service": "sqs", "cloud_region": "eu-west-1", "state": "open"}); v != 1 {
		t.Errorf("%s = %v, want 1", MetricBreakerTransitions, v)
	}
	if v := counter(MetricRetries, with(s3, "reason", "throttled")); v != 1 {
		t.Errorf("%s = %v, want 1", MetricRetries, v)
	}
	if v := gauge(MetricClockOffset, nil); v != -3.5 {
		t.Errorf("%s = %v, want -3.5", MetricClockOffset, v)
	}
	if v := counter(MetricClockSkewCorrections, nil); v != 1 {
		t.Errorf("%s = %v, want 1", MetricClockSkewCorrections, v)
	}
	if v := counter(MetricRequestBytes, s3); v != 1000 {
		t.Errorf("%s = %v, want 1000", MetricRequestBytes, v)
	}
	if v := counter(MetricResponseBytes, s3); v != 5000 {
		t.Errorf("%s = %v, want 5000", MetricResponseBytes, v)
	}
	if v := counter(MetricSignatureRejections, map[string]string{"cause": "wrong-secret"}); v != 3 {
		t.Errorf("%s{wrong-secret} = %v, want 3", MetricSignatureRejections, v)
	}
	if v := counter(MetricSignatureRejections, map[string]string{"cause": "clock-skew"}); v != 1 {
		t.Errorf("%s{clock-skew} = %v, want 1", MetricSignatureRejections, v)
	}
	if _, ok := fam["process_resident_memory_bytes"]; !ok {
		t.Error("process metrics missing")
	}
}

// Every name in the README list is a constant here; this guards the list.
func TestMetricNamesAreTheDocumentedOnes(t *testing.T) {
	ctx := context.Background()
	tel, err := New(ctx, Options{Getenv: noEnv, Observers: Observers{
		KeyCache:            func() (uint64, uint64) { return 0, 0 },
		Credentials:         func() CredentialStats { return CredentialStats{CanExpire: true, Expires: time.Now().Add(time.Minute)} },
		BreakerStates:       func() []BreakerState { return []BreakerState{{Service: "s3", Region: "r", State: 1}} },
		ClockOffset:         func() time.Duration { return 0 },
		SignatureRejections: func() map[string]uint64 { return map[string]uint64{"wrong-secret": 1} },
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })
	tel.RequestDone(ctx, "s3", "r", 200, 0, 1, 1)
	tel.UpstreamAttempt(ctx, "s3", "r", 200, 0)
	tel.Signed(ctx, "s3", 0)
	tel.Retried(ctx, "s3", "r", "5xx")
	tel.BreakerChanged(ctx, "s3", "r", "half-open")
	tel.SkewCorrected(ctx)
	fam := scrape(t, tel)
	for _, name := range []string{MetricRequests, MetricRequestDuration, MetricUpstreamDuration, MetricSigningDuration,
		MetricKeyCacheHits, MetricKeyCacheMisses, MetricCredentialRefreshes, MetricCredentialFailures,
		MetricCredentialExpiry, MetricBreakerState, MetricBreakerTransitions, MetricRetries, MetricClockOffset,
		MetricClockSkewCorrections, MetricRequestBytes, MetricResponseBytes, MetricSignatureRejections} {
		if _, ok := fam[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "error", 200: "2xx", 204: "2xx", 301: "3xx", 404: "4xx", 429: "4xx", 503: "5xx", 999: "error"} {
		if got := StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

// A nil *Telemetry records nothing and does not panic.
func TestNilTelemetry(t *testing.T) {
	var tel *Telemetry
	ctx := context.Background()
	tel.RequestDone(ctx, "s3", "r", 200, 0, 0, 0)
	tel.UpstreamAttempt(ctx, "s3", "r", 200, 0)
	tel.Signed(ctx, "s3", 0)
	tel.Retried(ctx, "s3", "r", "5xx")
	tel.BreakerChanged(ctx, "s3", "r", "open")
	tel.SkewCorrected(ctx)
	tel.Inject(ctx, http.Header{})
	req := httptest.NewRequest("GET", "/", nil)
	_, span := tel.StartRequest(req)
	EndRequest(span, RequestInfo{Status: 200})
	if err := tel.Shutdown(ctx); err != nil {
		t.Error(err)
	}
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, req)
	if rec.Code != 404 {
		t.Errorf("nil MetricsHandler answered %d", rec.Code)
	}
}

// The per-request measurements reuse attribute sets built once per service
// and region: recording them allocates nothing.
func TestRequestMetricsAllocateNothing(t *testing.T) {
	ctx := context.Background()
	tel, err := New(ctx, Options{Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })
	record := func() {
		tel.RequestDone(ctx, "s3", "us-east-1", 200, time.Millisecond, 1024, 2048)
		tel.UpstreamAttempt(ctx, "s3", "us-east-1", 200, time.Millisecond)
		tel.Signed(ctx, "s3", time.Microsecond)
	}
	record()
	if n := testing.AllocsPerRun(100, record); n != 0 {
		t.Errorf("%v allocations per request's metrics, want 0", n)
	}
}

// Past MaxLabelledRoutes service and region pairs, a new pair is counted
// under "other" for both, while the pairs already labelled keep their
// labels; a request without an answer is status class "error".
func TestRequestMetricsPastTheLabelledRoutes(t *testing.T) {
	ctx := context.Background()
	var regions []string
	for i := range MaxLabelledRoutes {
		regions = append(regions, "r"+strconv.Itoa(i))
	}
	tel, err := New(ctx, Options{Getenv: noEnv, Regions: regions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })
	for _, r := range regions {
		tel.RequestDone(ctx, "s3", r, 200, time.Millisecond, 1, 2)
	}
	tel.RequestDone(ctx, "sqs", "eu-north-1", 0, time.Millisecond, 1, 2)
	tel.RequestDone(ctx, "sqs", "eu-north-1", 0, time.Millisecond, 1, 2)
	fam := scrape(t, tel)
	if m := find(t, fam, MetricRequests, map[string]string{"aws_service": LabelOther, "cloud_region": LabelOther, "status_class": "error"}); m == nil || m.GetCounter().GetValue() != 2 {
		t.Errorf("%s{other,other,error} = %v, want 2", MetricRequests, m)
	}
	if m := find(t, fam, MetricRequests, map[string]string{"aws_service": "s3", "cloud_region": "r7", "status_class": "2xx"}); m == nil || m.GetCounter().GetValue() != 1 {
		t.Errorf("%s{s3,r7,2xx} = %v, want 1", MetricRequests, m)
	}
	if n := len(*tel.routes.m.Load()); n > MaxLabelledRoutes {
		t.Errorf("%d labelled pairs, want at most %d", n, MaxLabelledRoutes)
	}
}

// TestMetricLabelsFollowTheClient: a service or region the endpoint table
// does not know (the first label of an unknown host, a region its
// partition's pattern merely matches) is "other", never the client's
// string; the operator's own --service and --region stay themselves.
func TestMetricLabelsFollowTheClient(t *testing.T) {
	ctx := context.Background()
	tel, err := New(ctx, Options{Getenv: noEnv, Services: []string{"my-api"}, Regions: []string{"local"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })
	tel.RequestDone(ctx, "attacker-chosen-1", "us-east-1", 200, 0, 0, 0)
	tel.RequestDone(ctx, "sqs", "us-east-98765", 200, 0, 0, 0)
	tel.RequestDone(ctx, "my-api", "local", 200, 0, 0, 0)
	tel.Retried(ctx, "attacker-chosen-2", "us-east-98765", "5xx")
	tel.BreakerChanged(ctx, "attacker-chosen-3", "us-east-1", "open")
	fam := scrape(t, tel)
	for _, want := range []struct {
		name            string
		service, region string
	}{
		{MetricRequests, LabelOther, "us-east-1"}, {MetricRequests, "sqs", LabelOther}, {MetricRequests, "my-api", "local"},
		{MetricRetries, LabelOther, LabelOther}, {MetricBreakerTransitions, LabelOther, "us-east-1"},
	} {
		if find(t, fam, want.name, map[string]string{"aws_service": want.service, "cloud_region": want.region}) == nil {
			t.Errorf("%s{%s,%s} missing", want.name, want.service, want.region)
		}
	}
	for _, f := range fam {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "attacker") || strings.Contains(l.GetValue(), "98765") {
					t.Errorf("%s carries the client's %s=%q", f.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}
