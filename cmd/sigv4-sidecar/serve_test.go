package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeListeningLineAtLogLevelError runs serve with --log-level error
// (in SIGV4_LOG_LEVEL as a chart sets it, and as a flag): its stderr still
// holds the JSON "listening" line with the real addresses, which answer,
// and nothing else, since every other line of a quiet start and stop is
// below error.
func TestServeListeningLineAtLogLevelError(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecret)
	for _, env := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(env, "")
	}
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	up, stats := verifyingUpstream(t)
	for _, how := range []struct {
		name    string
		args    []string
		environ []string
	}{
		{"Flag", []string{"--log-level", "error"}, nil},
		{"Variable", nil, []string{"SIGV4_LOG_LEVEL=error"}},
	} {
		t.Run(how.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := &syncBuffer{}
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
				"--upstream", up.URL, "--service", "s3", "--region", "us-east-1"}, how.args...)
			done := make(chan error, 1)
			go func() { done <- runEnv(ctx, args, how.environ, io.Discard, stderr) }()

			var line map[string]any
			deadline := time.After(30 * time.Second)
		wait:
			for {
				for _, l := range strings.Split(stderr.String(), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "listening" {
						line = m
						break wait
					}
				}
				select {
				case err := <-done:
					t.Fatalf("serve returned %v without a listening line:\n%s", err, stderr)
				case <-deadline:
					t.Fatalf("no listening line at --log-level error:\n%s", stderr)
				case <-time.After(10 * time.Millisecond):
				}
			}
			proxyAddr, _ := line["proxy_addr"].(string)
			adminAddr, _ := line["admin_addr"].(string)
			if line["level"] != "INFO" || line["mode"] != "fixed" {
				t.Errorf("listening line %v, want level INFO and mode fixed", line)
			}
			resp, err := http.Get("http://" + adminAddr + "/healthz")
			if err != nil {
				t.Fatalf("admin_addr %q from the listening line: %v", adminAddr, err)
			}
			resp.Body.Close()
			before, _ := stats()
			resp, err = http.Get("http://" + proxyAddr + "/bucket/key")
			if err != nil {
				t.Fatalf("proxy_addr %q from the listening line: %v", proxyAddr, err)
			}
			resp.Body.Close()
			if n, verr := stats(); resp.StatusCode != 200 || n != before+1 || verr != nil {
				t.Errorf("through proxy_addr: status %d, upstream saw %d new requests, %v", resp.StatusCode, n-before, verr)
			}

			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve returned %v", err)
			}
			if lines := strings.Split(strings.TrimSpace(stderr.String()), "\n"); len(lines) != 1 {
				t.Errorf("stderr holds %d lines at --log-level error, want only the listening line:\n%s", len(lines), stderr)
			}
		})
	}
}
