package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar"
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
	log := newLogger(cfg, inv.stderr)
	src, err := creds.Load(ctx, cfg.Config, log)
	if err != nil {
		return err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	srv := &sidecar.Server{Config: cfg, Credentials: src, Log: log}
	return srv.Run(ctx)
}

// newLogger returns the JSON (or text) logger on stderr at --log-level.
func newLogger(cfg sidecar.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
