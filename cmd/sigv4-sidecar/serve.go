package main

import (
	"context"
	"errors"
	"flag"
	"io"

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
	log, err := telemetry.NewLogger(inv.stderr, telemetry.LogConfig{Format: cfg.LogFormat, Level: cfg.LogLevel})
	if err != nil {
		return err
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
