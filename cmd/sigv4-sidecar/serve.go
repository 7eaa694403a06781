package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

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
	src, err := loadServeCredentials(ctx, cfg, log)
	if err != nil {
		return err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	cut, stopListening := secondStopSignal(ctx)
	defer stopListening()
	reload := make(chan struct{}, 1)
	defer forwardSIGHUP(reload)()
	srv := &sidecar.Server{
		Config: cfg, Credentials: src, Log: log,
		Telemetry: &telemetry.Options{Version: currentVersion().Version},
		CutDelay:  cut,
		Reload:    reload,
	}
	return srv.Run(ctx)
}

// secondStopSignal returns a channel that is closed when SIGTERM or SIGINT
// arrives after ctx has ended (the first signal), so that a second Ctrl-C
// skips --shutdown-delay, and a func that stops listening (call it when
// serve returns). It listens only once ctx has ended.
func secondStopSignal(ctx context.Context) (<-chan struct{}, func()) {
	cut, quit := make(chan struct{}), make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-quit:
			return
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		defer signal.Stop(sig)
		select {
		case <-sig:
			close(cut)
		case <-quit:
		}
	}()
	return cut, func() { close(quit) }
}

// loadServeCredentials starts the credentials cache. Without credentials at
// start serve comes up all the same (503 credentials_unavailable, /readyz
// 503, fetching in the background) unless --exit-without-credentials asks
// for the fail-fast start: in Kubernetes an exit is a crash loop whose
// back-off outlasts a short outage of the credential agent or STS.
func loadServeCredentials(ctx context.Context, cfg sidecar.Config, log *slog.Logger) (creds.Source, error) {
	if cfg.ExitWithoutCredentials {
		return creds.Load(ctx, cfg.Config, log)
	}
	c, err := creds.Start(ctx, cfg.Config, log)
	if err != nil {
		return nil, err // not a typed nil *Cache in the interface
	}
	return c, nil
}

// forwardSIGHUP sends on reload for each SIGHUP (the config file's routes
// are re-read) until the returned func is called. A SIGHUP that arrives
// while one is pending is folded into it.
func forwardSIGHUP(reload chan<- struct{}) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case <-sig:
				select {
				case reload <- struct{}{}:
				default:
				}
			case <-quit:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(quit)
	}
}
