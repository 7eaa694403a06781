package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// LogConfig holds the logging options; the proxy embeds it in its own
// configuration (env tags are prefixed with SIGV4_).
type LogConfig struct {
	Format string `env:"LOG_FORMAT" flag:"log-format" envDefault:"json" help:"log format: json or text"`
	Level  string `env:"LOG_LEVEL" flag:"log-level" envDefault:"info" help:"log level: debug, info, warn or error"`
}

// NewLogger returns a logger writing cfg.Format at cfg.Level or above to w,
// through Redact. An unknown format or level is an error naming the option.
// When w is a *BatchWriter, request lines wait in it for their batch and
// every other line is written at once, with what waited before it.
func NewLogger(w io.Writer, cfg LogConfig) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil || cfg.Level == "" {
		return nil, fmt.Errorf("invalid --log-level %q: must be debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(cfg.Format) {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("invalid --log-format %q: must be json or text", cfg.Format)
	}
	if b, ok := w.(*BatchWriter); ok {
		h = flushAfter{Handler: h, out: b}
	}
	return slog.New(Redact(h)), nil
}

// RequestLog is the one line logged per proxied request.
type RequestLog struct {
	Method, Host, Path string
	Service, Region    string
	Status             int
	Duration           time.Duration
	// RequestID is the AWS request id (RequestID of the response headers).
	RequestID string
	// Attempts is the number of upstream attempts (0: none, the proxy answered).
	Attempts int
	// ErrorCode is the proxy's own error code, or the AWS error code.
	ErrorCode         string
	BytesIn, BytesOut int64
	// Client is the authenticated client's identity ("" when the listener
	// does not authenticate clients, or the client failed to).
	Client string
}

// requestMessage is the message of the request line: the one line a
// BatchWriter lets wait.
const requestMessage = "request"

// LogRequest writes l as one line at Info (Warn for 5xx), with the trace id
// of ctx's span so that a log line leads to its trace.
func LogRequest(ctx context.Context, log *slog.Logger, l RequestLog) {
	level := slog.LevelInfo
	if l.Status >= 500 {
		level = slog.LevelWarn
	}
	if !log.Enabled(ctx, level) {
		return
	}
	// The record is built here rather than by log.LogAttrs, which would
	// walk the stack for a source position that no handler of ours prints
	// and that would only ever name this function.
	rec := slog.NewRecord(time.Now(), level, requestMessage, 0)
	rec.AddAttrs(
		slog.String("method", l.Method), slog.String("host", l.Host), slog.String("path", l.Path),
		slog.String("service", l.Service), slog.String("region", l.Region),
		slog.Int("status", l.Status), slog.Float64("duration_ms", float64(l.Duration.Microseconds())/1000),
		slog.String("aws_request_id", l.RequestID), slog.Int("attempts", l.Attempts),
		slog.Int64("bytes_in", l.BytesIn), slog.Int64("bytes_out", l.BytesOut),
	)
	if l.ErrorCode != "" {
		rec.AddAttrs(slog.String("error_code", l.ErrorCode))
	}
	if l.Client != "" {
		rec.AddAttrs(slog.String("client", l.Client))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		rec.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	_ = log.Handler().Handle(ctx, rec)
}
