package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"runtime"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// runServe runs the proxy until ctx ends (SIGTERM), then drains and returns
// nil. A bad option stops it before anything listens.
func runServe(ctx context.Context, inv invocation) error {
	cfg, err := loadConfig("serve", inv.args, inv.environ, inv.stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	// Request lines are written in batches; whatever waits is written
	// before serve returns, on SIGTERM as on a failed start.
	out := telemetry.NewBatchWriter(inv.stderr, cfg.LogFlushInterval)
	defer out.Close()
	log, err := telemetry.NewLogger(out, telemetry.LogConfig{Format: cfg.LogFormat, Level: cfg.LogLevel})
	if err != nil {
		return err
	}
	// Process-wide, for as long as serve runs (tests run it in-process).
	switch fixed, adaptive := cfg.MaxProcs.Plan(environMap(inv.environ)["GOMAXPROCS"]); {
	case adaptive:
		defer startProcsGovernor(ctx, log)()
	case fixed > 0:
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(fixed))
	}
	src, err := creds.Load(ctx, cfg.Config, log)
	if err != nil {
		return err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	srv := &sidecar.Server{
		Config: cfg, Credentials: src, Log: log,
		Telemetry: &telemetry.Options{Version: version},
	}
	return srv.Run(ctx)
}
