package sidecar

// Tests of the resilience and telemetry layers as the proxy wires them
// (issue 5): clock skew against an upstream with a shifted clock, spans and
// trace context, /metrics parsed, and no secret in the log at any level.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// observedConfig is testConfig for a fixed SQS upstream with millisecond
// backoffs.
func observedConfig(upstreamURL string) Config {
	cfg := testConfig()
	cfg.Upstream = upstreamURL
	cfg.Service, cfg.Region = "sqs", "us-east-1"
	cfg.Resilience.RetryBase, cfg.Resilience.RetryMax = time.Millisecond, 5*time.Millisecond
	return cfg
}

const sendMessageBody = "Action=SendMessage&MessageBody=hello"

func sendMessage(t *testing.T, proxyURL string) *http.Response {
	t.Helper()
	resp, err := http.Post(proxyURL+"/", "application/x-www-form-urlencoded", strings.NewReader(sendMessageBody))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func requestLogLines(logs string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "request" {
			out = append(out, line)
		}
	}
	return out
}

// skewedUpstream verifies signatures like the others, but keeps a clock
// shift ahead of ours and, like AWS, refuses an X-Amz-Date more than five
// minutes from its own time, with its own time in the Date header.
func skewedUpstream(t *testing.T, shift time.Duration) *verifyingUpstream {
	up := newUpstream(t)
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		now := time.Now().Add(shift).UTC()
		w.Header().Set("Date", now.Format(http.TimeFormat))
		signed, _ := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if d := signed.Sub(now); d < -5*time.Minute || d > 5*time.Minute {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"InvalidSignatureException","message":"Signature expired: %s is now earlier than %s (%s - 5 min.)"}`,
				signed.Format("20060102T150405Z"), now.Add(-5*time.Minute).Format("20060102T150405Z"), now.Format("20060102T150405Z"))
			return
		}
		if rec.VerifyErr != nil {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintln(w, "SignatureDoesNotMatch:", rec.VerifyErr)
			return
		}
		io.WriteString(w, string(rec.Body))
	}
	return up
}

// TestObserveClockSkewCorrected: the proxy's clock is an hour behind the
// upstream's. The first request is refused as expired, the proxy takes the
// upstream's Date, re-signs and retries it with the same body; later
// requests pass at the first attempt, and the offset shows in /metrics.
func TestObserveClockSkewCorrected(t *testing.T) {
	up := skewedUpstream(t, time.Hour)
	cfg := observedConfig(up.URL)
	cfg.Resilience.RetryAttempts = 1 // the skew retry is outside the budget
	p, err := New(cfg, newStaticSource(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, tel := serveObserved(t, p, telemetry.Options{Observers: p.Observers()})

	for i := range 3 {
		if resp := sendMessage(t, srv.URL); resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d, want 200", i, resp.StatusCode)
		}
	}
	if up.count() != 4 {
		t.Errorf("upstream saw %d requests, want 4 (one refused, three accepted)", up.count())
	}
	if got := up.last(t); got.VerifyErr != nil || string(got.Body) != sendMessageBody {
		t.Errorf("last request: %v, body %q", got.VerifyErr, got.Body)
	}
	metrics := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(metrics.Close)
	fam := scrapeMetrics(t, metrics.URL)
	if off := gaugeValue(t, fam, telemetry.MetricClockOffset); off < 3300 || off > 3900 {
		t.Errorf("%s = %v, want about 3600", telemetry.MetricClockOffset, off)
	}
	if n := counterValue(t, fam, telemetry.MetricRetries, map[string]string{"reason": "clock-skew"}); n != 1 {
		t.Errorf("clock-skew retries = %v, want 1", n)
	}
}

func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fam, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fam
}

// metricWith returns the series of family name whose labels include want.
func metricWith(t *testing.T, fam map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
next:
	for _, m := range fam[name].GetMetric() {
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
	t.Errorf("no %s series with labels %v", name, want)
	return nil
}

func counterValue(t *testing.T, fam map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	if m := metricWith(t, fam, name, labels); m != nil {
		return m.GetCounter().GetValue()
	}
	return -1
}

func gaugeValue(t *testing.T, fam map[string]*dto.MetricFamily, name string) float64 {
	t.Helper()
	if m := metricWith(t, fam, name, nil); m != nil {
		return m.GetGauge().GetValue()
	}
	return -1
}

// TestObserveMetricsParsed runs the Server with telemetry on, sends a
// request that is retried once, and parses the admin listener's /metrics:
// each family the issue lists is there, with the request's labels and counts.
func TestObserveMetricsParsed(t *testing.T) {
	up := newUpstream(t)
	var n atomic.Int32
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<Error><Code>ServiceUnavailable</Code></Error>`)
			return
		}
		io.WriteString(w, "ok")
	}
	cfg := observedConfig(up.URL)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]string, 1)
	srv := &Server{
		Config: cfg, Credentials: newStaticSource(), Log: slog.New(slog.DiscardHandler),
		Telemetry: &telemetry.Options{Getenv: func(string) string { return "" }},
		Listening: func(p, a net.Addr) { addrs <- [2]string{p.String(), a.String()} },
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var a [2]string
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if resp := sendMessage(t, "http://"+a[0]); resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200 after one retry", resp.StatusCode)
	}
	var fam map[string]*dto.MetricFamily
	waitFor(t, "the request in /metrics", func() bool {
		fam = scrapeMetrics(t, "http://"+a[1]+"/metrics")
		return fam[telemetry.MetricRequests] != nil
	})
	sqs := map[string]string{"aws_service": "sqs", "cloud_region": "us-east-1"}
	with := func(k, v string) map[string]string {
		out := map[string]string{k: v}
		for a, b := range sqs {
			out[a] = b
		}
		return out
	}
	if v := counterValue(t, fam, telemetry.MetricRequests, with("status_class", "2xx")); v != 1 {
		t.Errorf("%s = %v, want 1", telemetry.MetricRequests, v)
	}
	if v := counterValue(t, fam, telemetry.MetricRetries, with("reason", "5xx")); v != 1 {
		t.Errorf("%s{reason=5xx} = %v, want 1", telemetry.MetricRetries, v)
	}
	if m := metricWith(t, fam, telemetry.MetricUpstreamDuration, with("status_class", "5xx")); m.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("upstream 5xx attempts = %d, want 1", m.GetHistogram().GetSampleCount())
	}
	if m := metricWith(t, fam, telemetry.MetricRequestDuration, with("status_class", "2xx")); m.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("request durations = %d, want 1", m.GetHistogram().GetSampleCount())
	}
	if m := metricWith(t, fam, telemetry.MetricSigningDuration, map[string]string{"aws_service": "sqs"}); m.GetHistogram().GetSampleCount() != 2 {
		t.Errorf("signatures = %d, want 2 (one per attempt)", m.GetHistogram().GetSampleCount())
	}
	if v := counterValue(t, fam, telemetry.MetricRequestBytes, sqs); v != float64(len(sendMessageBody)) {
		t.Errorf("%s = %v, want %d", telemetry.MetricRequestBytes, v, len(sendMessageBody))
	}
	if v := counterValue(t, fam, telemetry.MetricResponseBytes, sqs); v != 2 {
		t.Errorf("%s = %v, want 2", telemetry.MetricResponseBytes, v)
	}
	hits := counterValue(t, fam, telemetry.MetricKeyCacheHits, nil)
	misses := counterValue(t, fam, telemetry.MetricKeyCacheMisses, nil)
	if hits+misses != 2 || misses < 1 {
		t.Errorf("key cache hits %v misses %v, want 2 lookups, at least 1 miss", hits, misses)
	}
	if v := gaugeValue(t, fam, telemetry.MetricClockOffset); v != 0 {
		t.Errorf("%s = %v, want 0", telemetry.MetricClockOffset, v)
	}
}

// TestObserveSpansAndTraceContext: the app's traceparent continues into a
// server span, each upstream attempt gets a client span under it with the
// issue's attributes, and the upstream receives the attempt's context while
// the signature still verifies.
func TestObserveSpansAndTraceContext(t *testing.T) {
	up := newUpstream(t)
	var n atomic.Int32
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		if rec.VerifyErr != nil {
			t.Errorf("signature: %v", rec.VerifyErr)
		}
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Amzn-Requestid", "RID-2")
	}
	p, err := New(observedConfig(up.URL), newStaticSource(), nil)
	if err != nil {
		t.Fatal(err)
	}
	exporter := tracetest.NewInMemoryExporter()
	srv, _ := serveObserved(t, p, telemetry.Options{SpanExporters: []sdktrace.SpanExporter{exporter}})

	const appTrace = "0af7651916cd43dd8448eb211c80319c"
	req, _ := http.NewRequest("POST", srv.URL+"/", bytes.NewReader([]byte("Action=ListQueues")))
	req.Header.Set("Traceparent", "00-"+appTrace+"-b7ad6b7169203331-01")
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitFor(t, "the server span", func() bool { return len(exporter.GetSpans()) == 3 })
	spans := exporter.GetSpans()
	server := spans[2]
	if server.SpanContext.TraceID().String() != appTrace || server.Parent.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("server span trace %s parent %s, want under the app's traceparent", server.SpanContext.TraceID(), server.Parent.SpanID())
	}
	for i, sp := range spans[:2] {
		if sp.Parent.SpanID() != server.SpanContext.SpanID() {
			t.Errorf("attempt span %d is not under the server span", i+1)
		}
		if _, signedHeaders, _ := strings.Cut(up.got[i].Header.Get("Authorization"), "SignedHeaders="); strings.Contains(signedHeaders, "traceparent") || strings.Contains(signedHeaders, "x-amzn-trace-id") {
			t.Errorf("traceparent or X-Amzn-Trace-Id is signed (%s): a mesh that rewrites it would break the signature", signedHeaders)
		}
		got := up.got[i].Header.Get("Traceparent")
		if want := "00-" + appTrace + "-" + sp.SpanContext.SpanID().String() + "-01"; got != want {
			t.Errorf("upstream attempt %d got traceparent %q, want %q", i+1, got, want)
		}
		if got := up.got[i].Header.Get("X-Amzn-Trace-Id"); got != "Root=1-5759e988-bd862e3fe1be46a994272793" {
			t.Errorf("X-Amzn-Trace-Id = %q, want it passed through", got)
		}
		attrs := map[string]string{}
		for _, kv := range sp.Attributes {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		want := map[string]string{"aws.service": "sqs", "cloud.region": "us-east-1", "server.address": up.Listener.Addr().String(),
			"sigv4.attempt": strconv.Itoa(i + 1), "sigv4.breaker.state": "closed", "http.response.status_code": []string{"503", "200"}[i]}
		for k, v := range want {
			if attrs[k] != v {
				t.Errorf("attempt %d: %s = %q, want %q", i+1, k, attrs[k], v)
			}
		}
	}
}

// TestObserveNoSecretInLogsAtAnyLevel runs, at every level, a request that
// carries the app's own credentials and presigned parameters and that goes
// through a skew correction, a retry and an open breaker; the log holds no
// secret key, token or signature, the app's or the proxy's.
func TestObserveNoSecretInLogsAtAnyLevel(t *testing.T) {
	for _, level := range []string{"debug", "info", "warn", "error"} {
		t.Run(level, func(t *testing.T) {
			up := newUpstream(t)
			var mu atomic.Value
			mu.Store([]string{})
			var n atomic.Int32
			up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
				_, sig, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
				mu.Store(append(mu.Load().([]string), sig))
				if n.Add(1) == 1 {
					w.Header().Set("Date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
					w.WriteHeader(http.StatusForbidden)
					io.WriteString(w, `<Error><Code>RequestTimeTooSkewed</Code></Error>`)
					return
				}
				w.WriteHeader(http.StatusInternalServerError)
			}
			cfg := observedConfig(up.URL)
			cfg.Resilience.BreakerFailures = 2
			logs := &logBuffer{}
			log, err := telemetry.NewLogger(logs, telemetry.LogConfig{Format: "json", Level: level})
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(cfg, newStaticSource(), log)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(p)
			t.Cleanup(srv.Close)
			const appSignature = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
			for range 2 {
				req, _ := http.NewRequest("POST", srv.URL+"/?X-Amz-Signature="+appSignature+"&X-Amz-Security-Token="+testToken,
					strings.NewReader("Action=SendMessage"))
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKeyID+"/20261122/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature="+appSignature)
				req.Header.Set("X-Amz-Security-Token", testToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			if level == "debug" || level == "info" {
				waitFor(t, "two request lines", func() bool { return len(requestLogLines(logs.String())) == 2 })
			}
			out := logs.String()
			secrets := append([]string{testSecret, testToken, appSignature}, mu.Load().([]string)...)
			for _, secret := range secrets {
				if secret != "" && strings.Contains(out, secret) {
					t.Errorf("secret %q in the log at --log-level %s:\n%s", secret, level, out)
				}
			}
			if level == "debug" && (!strings.Contains(out, "retrying upstream request") || !strings.Contains(out, "circuit breaker")) {
				t.Errorf("the debug log lacks the retry or breaker lines:\n%s", out)
			}
			if level == "error" && out != "" {
				t.Errorf("lines below error at --log-level error:\n%s", out)
			}
		})
	}
}

// TestObserveRequestLineCountsAttempts: the per-request line carries the
// fields the issue names, the number of upstream attempts and the trace id.
func TestObserveRequestLineCountsAttempts(t *testing.T) {
	up := newUpstream(t)
	var n atomic.Int32
	up.respond = func(w http.ResponseWriter, r *http.Request, rec received) {
		if n.Add(1) < 3 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("X-Amzn-Requestid", "c6104cbe-af31-5b0c-9d62-1a3b9b3a1c8e")
		io.WriteString(w, "ok")
	}
	proxy, _, logs := fixedProxyTo(t, up, "sqs", func(c *Config) { c.Resilience.RetryBase = time.Millisecond })
	if resp := sendMessage(t, proxy); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitFor(t, "the request line", func() bool { return len(requestLogLines(logs.String())) == 1 })
	line := requestLogLines(logs.String())[0]
	for k, want := range map[string]any{"method": "POST", "service": "sqs", "region": "us-east-1", "status": 200.0,
		"attempts": 3.0, "aws_request_id": "c6104cbe-af31-5b0c-9d62-1a3b9b3a1c8e", "bytes_in": float64(len(sendMessageBody))} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	for _, k := range []string{"host", "duration_ms"} {
		if _, ok := line[k]; !ok {
			t.Errorf("%s missing from %v", k, line)
		}
	}
}

// TestObserveTraceContextWithoutExporter: with telemetry on and no span
// exporter (the default), the upstream still receives a traceparent in the
// app's trace, with the proxy's own span id, and the request line carries
// that trace id; a request without a traceparent starts a trace of its own,
// the same in the log and upstream.
func TestObserveTraceContextWithoutExporter(t *testing.T) {
	up := newUpstream(t)
	logs := &logBuffer{}
	p, err := New(observedConfig(up.URL), newStaticSource(), slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	srv, _ := serveObserved(t, p, telemetry.Options{})

	const appTrace, appSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	for i, traceparent := range []string{"00-" + appTrace + "-" + appSpan + "-01", ""} {
		req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader("Action=ListQueues"))
		if traceparent != "" {
			req.Header.Set("Traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := up.last(t)
		if got.VerifyErr != nil {
			t.Errorf("signature: %v", got.VerifyErr)
		}
		parts := strings.Split(got.Header.Get("Traceparent"), "-")
		if len(parts) != 4 || parts[3] != "01" || parts[2] == appSpan {
			t.Fatalf("upstream traceparent %q: want one with the proxy's own span id, sampled", got.Header.Get("Traceparent"))
		}
		if traceparent != "" && parts[1] != appTrace {
			t.Errorf("upstream traceparent %q is not in the app's trace %s", got.Header.Get("Traceparent"), appTrace)
		}
		var line map[string]any
		waitFor(t, "the request line", func() bool {
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			return len(lines) == i+1 && json.Unmarshal([]byte(lines[i]), &line) == nil
		})
		if line["trace_id"] != parts[1] {
			t.Errorf("request line trace_id %v, want %s (the upstream's traceparent)", line["trace_id"], parts[1])
		}
	}
}

// TestObserveBreakerChangeLoggedAndCounted: an upstream that keeps failing
// opens its breaker; the change is logged at Warn with host, from and to,
// and shows in /metrics as a transition to open and the host's state 2.
func TestObserveBreakerChangeLoggedAndCounted(t *testing.T) {
	up := newUpstream(t)
	up.respond = func(w http.ResponseWriter, r *http.Request, _ received) {
		w.WriteHeader(http.StatusInternalServerError)
	}
	cfg := observedConfig(up.URL)
	cfg.Resilience.RetryAttempts = 1
	cfg.Resilience.BreakerFailures = 2
	cfg.Resilience.BreakerOpen = time.Minute
	logs := &logBuffer{}
	p, err := New(cfg, newStaticSource(), slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv, tel := serveObserved(t, p, telemetry.Options{Observers: p.Observers()})

	for i, want := range []int{500, 500, 503} {
		if resp := sendMessage(t, srv.URL); resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	host := strings.TrimPrefix(up.URL, "http://")
	var changes []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "circuit breaker changed state" {
			changes = append(changes, line)
		}
	}
	if len(changes) != 1 || changes[0]["level"] != "WARN" || changes[0]["host"] != host ||
		changes[0]["from"] != "closed" || changes[0]["to"] != "open" {
		t.Errorf("breaker change lines %v, want one WARN line host=%s from=closed to=open\n%s", changes, host, logs.String())
	}
	metrics := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(metrics.Close)
	fam := scrapeMetrics(t, metrics.URL)
	if n := counterValue(t, fam, telemetry.MetricBreakerTransitions, map[string]string{"aws_service": "sqs", "cloud_region": "us-east-1", "state": "open"}); n != 1 {
		t.Errorf("%s{state=open} = %v, want 1", telemetry.MetricBreakerTransitions, n)
	}
	if m := metricWith(t, fam, telemetry.MetricBreakerState, map[string]string{"aws_service": "sqs", "cloud_region": "us-east-1"}); m.GetGauge().GetValue() != 2 {
		t.Errorf("%s = %v, want 2 (open)", telemetry.MetricBreakerState, m.GetGauge().GetValue())
	}
}

// TestObserveCredentialMetrics: with the proxy's credentials behind a
// creds.Cache, as serve wires them, /metrics shows the refreshes, the
// failures and the seconds until the current credentials expire.
func TestObserveCredentialMetrics(t *testing.T) {
	up := newUpstream(t)
	src := newStaticSource()
	src.c.CanExpire, src.c.Expires = true, time.Now().Add(time.Hour)
	cache := creds.NewCache(src, creds.CacheOptions{})
	t.Cleanup(func() { cache.Close() })
	p, err := New(observedConfig(up.URL), cache, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, tel := serveObserved(t, p, telemetry.Options{Observers: p.Observers()})
	if resp := sendMessage(t, srv.URL); resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	metrics := httptest.NewServer(tel.MetricsHandler())
	t.Cleanup(metrics.Close)
	fam := scrapeMetrics(t, metrics.URL)
	if v := counterValue(t, fam, telemetry.MetricCredentialRefreshes, nil); v != 1 {
		t.Errorf("%s = %v, want 1", telemetry.MetricCredentialRefreshes, v)
	}
	if v := counterValue(t, fam, telemetry.MetricCredentialFailures, nil); v != 0 {
		t.Errorf("%s = %v, want 0", telemetry.MetricCredentialFailures, v)
	}
	if v := gaugeValue(t, fam, telemetry.MetricCredentialExpiry); v <= 3000 || v > 3600 {
		t.Errorf("%s = %v, want about 3600", telemetry.MetricCredentialExpiry, v)
	}
}

// serveObserved gives p the telemetry opts describe (no environment read)
// and serves it on a loopback httptest server; both stop with the test.
func serveObserved(t *testing.T, p *Proxy, opts telemetry.Options) (*httptest.Server, *telemetry.Telemetry) {
	t.Helper()
	opts.Getenv = func(string) string { return "" }
	tel, err := telemetry.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	p.UseTelemetry(tel)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv, tel
}
