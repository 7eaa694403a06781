package sidecar

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// TestListeningLineAtEveryLevel: the "listening" line, which tooling reads
// the ports from, is written at every --log-level, in the shape it has at
// info, while the level still hides the other info lines.
func TestListeningLineAtEveryLevel(t *testing.T) {
	for _, level := range []string{"debug", "info", "warn", "error"} {
		for _, format := range []string{"json", "text"} {
			t.Run(level+"/"+format, func(t *testing.T) {
				up := newUpstream(t)
				cfg := testConfig()
				cfg.Upstream = up.URL
				cfg.Service, cfg.Region = "sqs", "us-east-1"
				cfg.LogLevel, cfg.LogFormat = level, format
				logs := &logBuffer{}
				log, err := telemetry.NewLogger(logs, telemetry.LogConfig{Format: format, Level: level})
				if err != nil {
					t.Fatal(err)
				}
				proxyAddr, adminAddr, stop := runServerWithLog(t, cfg, log)
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				var listening []string
				for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
					if strings.Contains(l, "listening") {
						listening = append(listening, l)
					}
				}
				if len(listening) != 1 {
					t.Fatalf("%d listening lines, want 1:\n%s", len(listening), logs)
				}
				if format == "text" {
					for _, want := range []string{"level=INFO", "msg=listening", "proxy_addr=" + proxyAddr, "admin_addr=" + adminAddr, "mode=fixed", "max_procs="} {
						if !strings.Contains(listening[0], want) {
							t.Errorf("listening line %q lacks %s", listening[0], want)
						}
					}
				} else {
					var line map[string]any
					if err := json.Unmarshal([]byte(listening[0]), &line); err != nil {
						t.Fatalf("listening line %q: %v", listening[0], err)
					}
					keys := slices.Sorted(maps.Keys(line))
					if !slices.Equal(keys, []string{"admin_addr", "level", "max_procs", "mode", "msg", "proxy_addr", "time"}) ||
						line["max_procs"] != float64(runtime.GOMAXPROCS(0)) || line["level"] != "INFO" || line["msg"] != "listening" || line["proxy_addr"] != proxyAddr || line["admin_addr"] != adminAddr {
						t.Errorf("listening line %v, want level INFO, proxy %s, admin %s, max_procs and no other key", line, proxyAddr, adminAddr)
					}
				}
				// The level still applies to everything else: "stopped" is
				// an info line.
				if stopped := strings.Contains(logs.String(), "stopped"); stopped != (level == "debug" || level == "info") {
					t.Errorf("at --log-level %s the info line \"stopped\" is logged: %v\n%s", level, stopped, logs)
				}
			})
		}
	}
}

// runServerWithLog runs a Server logging to log until stop, which returns
// what Run returned.
func runServerWithLog(t *testing.T, cfg Config, log *slog.Logger) (proxyAddr, adminAddr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	srv := &Server{Config: cfg, Credentials: newStaticSource(), Log: log, Listening: func(p, a net.Addr) {
		ready <- [2]string{p.String(), a.String()}
	}}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case addrs := <-ready:
		proxyAddr, adminAddr = addrs[0], addrs[1]
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return proxyAddr, adminAddr, stop
}
