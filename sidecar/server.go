package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
)

// Server runs the proxy and admin listeners until its context ends, keeps
// serving for Config.ShutdownDelay (with /readyz answering 503), then drains
// in-flight requests for up to Config.ShutdownTimeout.
type Server struct {
	Config      Config
	Credentials creds.Source
	Log         *slog.Logger
	// Metrics is served at /metrics on the admin listener (nil: 404).
	Metrics http.Handler
	// Listening, if set, is called once both listeners are bound.
	Listening func(proxyAddr, adminAddr net.Addr)
	// Wrap, if set, wraps the proxy handler (telemetry, tracing). It must
	// pass every request on: the proxy is what refuses a request whose
	// framing the inspector doubts (framing.go).
	Wrap func(http.Handler) http.Handler
	// OnSignatureRejected, if set, is called for every upstream answer that
	// rejects a signature, with the AWS error code and the diagnosed cause
	// (a metric's labels); see Proxy.OnSignatureRejected.
	OnSignatureRejected func(awsCode, cause string)
	// Telemetry, if set, turns on metrics (served at /metrics unless Metrics
	// is set) and tracing, made with these options; Observers left nil are
	// filled from the proxy (key cache, credentials, breakers, clock,
	// signature rejections).
	Telemetry *telemetry.Options
	// CutDelay, if set, ends Config.ShutdownDelay early when it is closed
	// or receives (serve wires a second stop signal to it: Ctrl-C twice).
	CutDelay <-chan struct{}
	// ReloadInterval is how often the listener's files (--tls-cert-file,
	// --client-ca-file, --client-tokens-file) are checked for a change;
	// 0: every second.
	ReloadInterval time.Duration
	// Reload, when set, makes the config file's routes be re-read each
	// time it receives (serve wires SIGHUP to it).
	Reload <-chan struct{}
	// RoutesInterval is how often the config file is checked for a
	// change; 0: every second.
	RoutesInterval time.Duration
	// StartCredentials starts the source of a route's own credentials;
	// nil: creds.Start.
	StartCredentials func(creds.Config) (creds.Source, error)
}

// Run binds both listeners, logs one "listening" line with their real
// addresses (at Info, whatever the logger's level), and serves until ctx is
// done. Then it answers 503 on /readyz, keeps serving for ShutdownDelay,
// stops accepting, lets in-flight requests finish for up to
// ShutdownTimeout, and returns nil: a drain that runs out of time is
// logged, not an error.
func (s *Server) Run(ctx context.Context) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var proxy proxyHandler
	var routes *Router
	if s.Config.ConfigFile != "" {
		rt, err := s.startRouter(ctx, log)
		if err != nil {
			return err
		}
		proxy, routes = rt, rt
	} else {
		p, err := newProxy(s.Config, s.Credentials, log, nil, s.ReloadInterval)
		if err != nil {
			return err
		}
		proxy = p
	}
	defer proxy.Close()
	proxy.OnSignatureRejected(s.OnSignatureRejected)
	cfg := s.Config
	metrics := s.Metrics
	if s.Telemetry != nil {
		opts := *s.Telemetry
		fillObservers(&opts.Observers, proxy.Observers())
		// The operator's own signing name and region are label values
		// too; anything else must be known to the endpoint table.
		opts.Services = append(slices.Clip(opts.Services), cfg.Service)
		opts.Regions = append(slices.Clip(opts.Regions), cfg.Region)
		tel, err := telemetry.New(ctx, opts)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := tel.Shutdown(sctx); err != nil {
				log.Warn("telemetry shutdown", "error", err.Error())
			}
		}()
		proxy.UseTelemetry(tel)
		if metrics == nil {
			metrics = tel.MetricsHandler()
		}
	}

	proxyLn, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on --listen %s: %w", cfg.Listen, err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		proxyLn.Close()
		return fmt.Errorf("listen on --admin-listen %s: %w", cfg.AdminListen, err)
	}

	var handler http.Handler = proxy
	if s.Wrap != nil {
		handler = s.Wrap(handler)
	}
	tunnels := proxy.tunnelServer()
	if tunnels != nil {
		tunnels.wrap(handler)
	}
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	proxySrv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		ErrorLog:          errLog,
		ConnContext:       connContext,
		Protocols:         listenerProtocols(cfg),
	}
	admin := &Admin{Credentials: s.Credentials, Metrics: metrics}
	if routes != nil {
		admin.Routes = routes
	}
	adminSrv := &http.Server{
		Handler:           admin,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          errLog,
	}

	warnAtStart(log, cfg, proxyLn.Addr(), adminLn.Addr())

	errc := make(chan error, 2)
	go func() { errc <- proxySrv.Serve(proxyListener(proxyLn, proxy.listenerFiles(), cfg, log)) }()
	go func() { errc <- adminSrv.Serve(adminLn) }()
	// Tooling (the e2e harness, the chart's binary test, a user's script)
	// learns the ports from this line: it is written at every --log-level.
	logAlways(ctx, log, slog.LevelInfo, "listening", "proxy_addr", proxyLn.Addr().String(), "admin_addr", adminLn.Addr().String(), "mode", mode(cfg),
		"max_procs", runtime.GOMAXPROCS(0))
	if s.Listening != nil {
		s.Listening(proxyLn.Addr(), adminLn.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
		var tunnelSrv *http.Server
		if tunnels != nil {
			tunnelSrv = tunnels.srv
		}
		serveErr = s.delayShutdown(log, admin, proxySrv, tunnelSrv, errc)
	case serveErr = <-errc:
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := proxySrv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests did not finish before --shutdown-timeout; closing them", "error", err.Error())
		proxySrv.Close()
	}
	if tunnels != nil {
		// CONNECT tunnels left the proxy listener's server when they were
		// hijacked: theirs drains them the same way, in the time left.
		if err := tunnels.srv.Shutdown(sctx); err != nil {
			log.Warn("requests in CONNECT tunnels did not finish before --shutdown-timeout; closing them", "error", err.Error())
			tunnels.srv.Close()
		}
	}
	// Shutdown let go of the hijacked connections: wait for them within
	// the same deadline, then close them.
	if n := proxy.upgradeSet().drain(sctx); n > 0 {
		log.Warn("upgraded connections (WebSocket) still open at --shutdown-timeout; closed them", "connections", n)
	}
	adminSrv.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	log.Info("stopped")
	return nil
}

// delayShutdown keeps the proxy serving for --shutdown-delay after the stop
// signal, with /readyz answering 503: on SIGTERM Kubernetes removes the pod
// from its Service's endpoints while it signals the process, and kube-proxy
// and load balancers take a few seconds to stop sending new connections
// (https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#pod-termination).
// Keep-alives are turned off meanwhile, so a client that holds a connection
// to this pod opens its next one through the Service, to another pod. This
// is the preStop sleep of Kubernetes 1.30+ done in the process, so that it
// works on any cluster. It returns early on CutDelay, and with the error if
// a listener fails.
func (s *Server) delayShutdown(log *slog.Logger, admin *Admin, proxySrv, tunnelSrv *http.Server, errc <-chan error) error {
	delay := s.Config.ShutdownDelay
	admin.Stopping()
	if delay <= 0 {
		return nil
	}
	proxySrv.SetKeepAlivesEnabled(false)
	if tunnelSrv != nil {
		tunnelSrv.SetKeepAlivesEnabled(false)
	}
	log.Info("stop signal: still serving, /readyz answers 503", "shutdown_delay", delay.String())
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-s.CutDelay:
		log.Info("second stop signal: draining now")
		return nil
	case err := <-errc:
		return err
	}
}

// warnAtStart logs one WARN for each choice of the operator that lets
// someone else use the proxy's credentials (README "Security"): host mode
// with an allow-list that holds a whole AWS DNS suffix, where anyone can own
// a host (an API Gateway id, a Lambda function URL, an S3 bucket) and so
// receive a signed request with its session token; and a listener that is
// not on loopback (the proxy's only while it does not authenticate its
// clients).
func warnAtStart(log *slog.Logger, cfg Config, proxyAddr, adminAddr net.Addr) {
	if cfg.Upstream == "" && cfg.ConfigFile == "" { // routes: warnRoutes
		if broad := broadAllowHosts(cfg.AllowHosts); len(broad) > 0 {
			log.Warn("host mode signs for every host under AWS's DNS suffixes (the default --allow-hosts), "+
				"including hosts anyone can own there (API Gateway ids, Lambda function URLs, S3 buckets): a client of the proxy can send a signed request, session token included, to their owner. "+
				"Narrow --allow-hosts to your own endpoints, e.g. --allow-hosts 'sqs.eu-west-1.amazonaws.com,my-bucket.s3.eu-west-1.amazonaws.com'",
				"allow_hosts", strings.Join(broad, ","))
		}
	}
	if !isLoopback(proxyAddr) && !cfg.Listener.Authenticates() {
		log.Warn("the proxy listener is not on loopback: anyone who can reach "+proxyAddr.String()+" can have requests signed with the proxy's credentials. "+
			"Keep --listen on 127.0.0.1, let only your clients reach it (a NetworkPolicy), or authenticate them (--client-ca-file, --client-tokens-file)", "proxy_addr", proxyAddr.String())
	}
	if !isLoopback(adminAddr) {
		log.Warn("the admin listener is not on loopback: anyone who can reach "+adminAddr.String()+" can read /metrics and /readyz (the credentials' source and expiry, the upstream hosts) and make the proxy fetch credentials. "+
			"Keep --admin-listen on 127.0.0.1, or let only your probes and scraper reach it (a NetworkPolicy)", "admin_addr", adminAddr.String())
	}
}

// broadAllowHosts returns the patterns of allow (the default when empty)
// that allow a whole AWS DNS suffix.
func broadAllowHosts(allow []string) []string {
	suffixes := endpoint.DefaultAllowHosts()
	if len(allow) == 0 {
		return suffixes
	}
	var broad []string
	for _, p := range allow {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "*" || slices.Contains(suffixes, p) {
			broad = append(broad, p)
		}
	}
	return broad
}

// isLoopback reports whether a bound listener address is a loopback one
// (0.0.0.0 and :: are every address, not loopback).
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func mode(cfg Config) string {
	if cfg.Upstream != "" {
		return "fixed"
	}
	return "host"
}

// fillObservers sets each observer left nil in dst from the proxy's own.
func fillObservers(dst *telemetry.Observers, own telemetry.Observers) {
	if dst.KeyCache == nil {
		dst.KeyCache = own.KeyCache
	}
	if dst.Credentials == nil {
		dst.Credentials = own.Credentials
	}
	if dst.BreakerStates == nil {
		dst.BreakerStates = own.BreakerStates
	}
	if dst.ClockOffset == nil {
		dst.ClockOffset = own.ClockOffset
	}
	if dst.SignatureRejections == nil {
		dst.SignatureRejections = own.SignatureRejections
	}
}

// logAlways writes one record at level to log's handler without asking the
// handler whether the level is enabled, so the line reaches the output
// whatever --log-level says, in the same shape (level included) as any
// other line. The handlers the proxy uses (slog's JSON and text handlers,
// telemetry.Redact) filter levels in Enabled only, which this skips.
func logAlways(ctx context.Context, log *slog.Logger, level slog.Level, msg string, args ...any) {
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:]) // the caller, for AddSource
	r := slog.NewRecord(time.Now(), level, msg, pcs[0])
	r.Add(args...)
	_ = log.Handler().Handle(ctx, r)
}

// proxyHandler is what Run serves: a Proxy, or a Router of Proxies.
type proxyHandler interface {
	http.Handler
	Close()
	OnSignatureRejected(func(awsCode, cause string))
	Observers() telemetry.Observers
	UseTelemetry(*telemetry.Telemetry)
	// listenerFiles are the listener's files: the serving certificate
	// and what authenticates clients.
	listenerFiles() *listen.Files
	// upgradeSet holds the upgraded connections of every Proxy.
	upgradeSet() *upgradeSet
	// tunnelServer serves the requests inside CONNECT tunnels (tunnel.go);
	// nil without the MITM CA.
	tunnelServer() *tunnels
}

var (
	_ proxyHandler = (*Proxy)(nil)
	_ proxyHandler = (*Router)(nil)
)
