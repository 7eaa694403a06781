package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Secrets in the shapes AWS gives them (the documentation's example keys).
const (
	secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
	jwt       = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDphcHAifQ.c2lnbmF0dXJlLWJ5dGVz"
	accessKey = "AKIDEXAMPLE"
)

var sessionToken = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDx" + strings.Repeat("Zm9vYmFyYmF6cXV4", 20) + "=="

// creds mimics a credentials struct that forgot LogValue.
type creds struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Every level, both formats, secrets in every shape a careless log call could
// hand over: none of them reaches the output, and what is not secret does.
func TestNoSecretInLogs(t *testing.T) {
	authorization := "AWS4-HMAC-SHA256 Credential=" + accessKey + "/20261122/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + signature
	presigned := "https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" + accessKey +
		"%2F20261122%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Security-Token=" + url.QueryEscape(sessionToken) + "&X-Amz-Signature=" + signature
	presignedURL, _ := url.Parse(presigned)
	header := http.Header{
		"Authorization":        {authorization},
		"X-Amz-Security-Token": {sessionToken},
		"X-Amz-Date":           {"20261122T140000Z"},
		"Host":                 {"bucket.s3.amazonaws.com"},
	}
	for _, format := range []string{"json", "text"} {
		for _, level := range []string{"debug", "info", "warn", "error"} {
			t.Run(format+"/"+level, func(t *testing.T) {
				var buf bytes.Buffer
				log, err := NewLogger(&buf, LogConfig{Format: format, Level: level})
				if err != nil {
					t.Fatal(err)
				}
				log = log.With("aws_secret_access_key", secretKey, slog.Group("sts", "session_token", sessionToken))
				for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
					log.Log(context.Background(), l, "signing with secret "+secretKey+" for bucket.s3.amazonaws.com",
						"authorization", authorization,
						"header_line", "Authorization: "+authorization,
						"headers", header,
						"url", presignedURL,
						"url_string", presigned,
						"query", presignedURL.Query(),
						"creds", creds{accessKey, secretKey, sessionToken},
						"err", fmt.Errorf("sts: token %s rejected: %w", jwt, errors.New("expired")),
						"bearer", "Bearer "+jwt,
						"signing_key", []byte{0xde, 0xad, 0xbe, 0xef},
						slog.Group("env", "AWS_SECRET_ACCESS_KEY", secretKey, "AWS_SESSION_TOKEN", sessionToken),
						"config", map[string]string{"SecretAccessKey": secretKey, "Region": "us-east-1"},
						"ini", "aws_secret_access_key = "+secretKey+"\naws_session_token="+sessionToken,
						"json_body", `{"AccessKeyId":"`+accessKey+`","SecretAccessKey":"`+secretKey+`","SessionToken":"`+sessionToken+`"}`,
					)
				}
				out := buf.String()
				for name, secret := range map[string]string{
					"secret key": secretKey, "signature": signature, "session token": sessionToken,
					"token prefix": sessionToken[:60], "escaped token": url.QueryEscape(sessionToken)[:60], "jwt": jwt,
					"jwt payload": strings.Split(jwt, ".")[1], "signing key": "deadbeef", "signing key bytes": "3q2+7w",
				} {
					if strings.Contains(out, secret) {
						t.Errorf("%s leaked at --log-level %s:\n%s", name, level, out)
					}
				}
				lines := strings.Count(out, "\n")
				wantLines := map[string]int{"debug": 4, "info": 3, "warn": 2, "error": 1}[level]
				if lines != wantLines {
					t.Errorf("%d lines at level %s, want %d", lines, level, wantLines)
				}
				for _, kept := range []string{accessKey, "bucket.s3.amazonaws.com", "20261122T140000Z", "us-east-1", "Redacted", "expired"} {
					if kept == "Redacted" {
						kept = Redacted
					}
					if !strings.Contains(out, kept) {
						t.Errorf("%q missing from the output: redaction went too far", kept)
					}
				}
				if format == "json" {
					for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
						if !json.Valid([]byte(line)) {
							t.Errorf("not JSON: %s", line)
						}
					}
				}
			})
		}
	}
}

// Things that look like secrets but are not stay readable.
func TestRedactKeepsOrdinaryValues(t *testing.T) {
	for _, s := range []string{
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", // empty payload hash
		"20261122/us-east-1/s3/aws4_request",
		"SignedHeaders=host;x-amz-content-sha256;x-amz-date",
		"/my-bucket/photos/2026/summer/beach.jpg",
		"AKIDEXAMPLE",
		"356a192b7913b04c54574d18c28d46e6395428ab", // a sha1
	} {
		if got := scrub(s); got != s {
			t.Errorf("scrub(%q) = %q", s, got)
		}
	}
}

func TestNewLoggerRejectsBadOptions(t *testing.T) {
	if _, err := NewLogger(nil, LogConfig{Format: "xml", Level: "info"}); err == nil || err.Error() != `invalid --log-format "xml": must be json or text` {
		t.Errorf("format: %v", err)
	}
	if _, err := NewLogger(nil, LogConfig{Format: "json", Level: "loud"}); err == nil || err.Error() != `invalid --log-level "loud": must be debug, info, warn or error` {
		t.Errorf("level: %v", err)
	}
}

// The request line carries every field the issue names, and the trace id.
func TestLogRequest(t *testing.T) {
	ctx := context.Background()
	exporter := tracetest.NewInMemoryExporter()
	tel, err := New(ctx, Options{Getenv: noEnv, SpanExporters: []sdktrace.SpanExporter{exporter}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })
	var buf bytes.Buffer
	log, _ := NewLogger(&buf, LogConfig{Format: "json", Level: "info"})
	req, _ := http.NewRequest("GET", "http://127.0.0.1/b/k", nil)
	rctx, span := tel.StartRequest(req)
	LogRequest(rctx, log, RequestLog{Method: "GET", Host: "b.s3.amazonaws.com", Path: "/k", Service: "s3", Region: "us-east-1",
		Status: 503, Duration: 1500 * time.Millisecond, RequestID: "ABC123", Attempts: 3, ErrorCode: "SlowDown"})
	span.End()
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	for k, want := range map[string]any{"level": "WARN", "msg": "request", "method": "GET", "host": "b.s3.amazonaws.com",
		"service": "s3", "region": "us-east-1", "status": 503.0, "aws_request_id": "ABC123", "attempts": 3.0,
		"error_code": "SlowDown", "trace_id": span.SpanContext().TraceID().String()} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	if line["duration_ms"] != 1500.0 {
		t.Errorf("duration_ms = %v, want 1500", line["duration_ms"])
	}
}

// With --log-format text the request line carries the same fields.
func TestLogRequestText(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, LogConfig{Format: "text", Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	LogRequest(context.Background(), log, RequestLog{Method: "PUT", Host: "b.s3.amazonaws.com", Path: "/k", Service: "s3", Region: "us-east-1",
		Status: 200, Duration: 25 * time.Millisecond, RequestID: "REQ42"})
	out := buf.String()
	for _, want := range []string{"level=INFO", "msg=request", "method=PUT", "host=b.s3.amazonaws.com", "service=s3",
		"region=us-east-1", "status=200", "duration_ms=25", "aws_request_id=REQ42"} {
		if !strings.Contains(out, want) {
			t.Errorf("text request line lacks %q: %s", want, out)
		}
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("want one line: %q", out)
	}
}

func FuzzScrub(f *testing.F) {
	f.Add("before ", " after")
	f.Add("Signature=", "&x=1")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, before, after string) {
		for _, secret := range []string{secretKey, sessionToken} {
			// A secret standing alone (not glued to more base64) is always removed.
			in := before + " " + secret + " " + after
			if out := scrub(in); strings.Contains(out, secret) {
				t.Fatalf("scrub(%q) kept the secret: %q", in, out)
			}
		}
	})
}

// A secret in the message alone, or in one attribute among clean ones, or
// in a logger's WithAttrs, is caught: the fast path must not skip them.
func TestRedactSingleLeak(t *testing.T) {
	for name, logf := range map[string]func(*slog.Logger){
		"message":    func(l *slog.Logger) { l.Info("secret is " + secretKey) },
		"last attr":  func(l *slog.Logger) { l.Info("x", "a", 1, "b", "fine", "c", "Bearer "+jwt) },
		"first attr": func(l *slog.Logger) { l.Info("x", "token", "t0k3n-value", "b", "fine") },
		"with":       func(l *slog.Logger) { l.With("header", "X-Amz-Security-Token="+sessionToken).Info("x") },
		"group": func(l *slog.Logger) {
			l.WithGroup("g").Info("x", slog.Group("h", "ok", 1, "sig", "Signature="+signature))
		},
	} {
		var buf bytes.Buffer
		log, _ := NewLogger(&buf, LogConfig{Format: "text", Level: "info"})
		logf(log)
		out := buf.String()
		for _, secret := range []string{secretKey, jwt, "t0k3n-value", sessionToken[:40], signature} {
			if strings.Contains(out, secret) {
				t.Errorf("%s: leaked %q: %s", name, secret, out)
			}
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s: nothing redacted: %s", name, out)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	for key, want := range map[string]bool{
		"Authorization": true, "X-Amz-Security-Token": true, "X-Amz-Signature": true, "aws_secret_access_key": true,
		"SessionToken": true, "signing_key": true, "Derived-Key": true, "api.key": true, "password": true, "Cookie": true,
		"host": false, "signed_headers": false, "access_key_id": false, "key": false, "object_key": false, "credentials": false,
	} {
		if got := IsSecretKey(key); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}
