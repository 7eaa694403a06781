package telemetry

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkRequestLog is the per-request log line through the redacting
// handler, against the bare JSON handler: the price of the last line of
// defence.
func BenchmarkRequestLog(b *testing.B) {
	line := RequestLog{Method: "PUT", Host: "bucket.s3.us-east-1.amazonaws.com", Path: "/photos/2026/beach.jpg",
		Service: "s3", Region: "us-east-1", Status: 200, Duration: 12 * time.Millisecond,
		RequestID: "4442587FB7D0A2F9", Attempts: 1, BytesIn: 1 << 20}
	for _, bc := range []struct {
		name string
		log  *slog.Logger
	}{
		{"json", slog.New(slog.NewJSONHandler(io.Discard, nil))},
		{"json+redact", slog.New(Redact(slog.NewJSONHandler(io.Discard, nil)))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				LogRequest(context.Background(), bc.log, line)
			}
		})
	}
}

// BenchmarkRequestMetrics is what one request costs in metrics.
func BenchmarkRequestMetrics(b *testing.B) {
	ctx := context.Background()
	tel, err := New(ctx, Options{Getenv: noEnv})
	if err != nil {
		b.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	b.ReportAllocs()
	for b.Loop() {
		tel.RequestDone(ctx, "s3", "us-east-1", 200, time.Millisecond, 1024, 2048)
		tel.UpstreamAttempt(ctx, "s3", "us-east-1", 200, time.Millisecond)
		tel.Signed(ctx, "s3", time.Microsecond)
	}
}
