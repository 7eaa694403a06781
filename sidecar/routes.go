package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/mitm"
)

// ForRoute returns c with the fields r sets in place of the top-level
// options: the options a request on r is proxied with. A route that sets
// upstream is in fixed mode; one that sets allow-hosts without upstream is
// in host mode whatever the top level says; one that sets neither keeps
// the top-level mode. Credentials r sets replace the top-level ones whole
// (profile, file and role), keeping the STS region and endpoint. c is a
// value: neither it nor r is changed. The MITM CA options are left out: the
// Router serves CONNECT tunnels for every route (tunnel.go), and a route in
// fixed mode refuses them.
func (c Config) ForRoute(r *route.Route) Config {
	c.MITM = mitm.Config{}
	switch {
	case r.Upstream != "":
		c.Upstream = r.Upstream
	case r.AllowHosts != nil:
		c.Upstream, c.AllowHosts = "", r.AllowHosts
	}
	for _, s := range []struct {
		dst *string
		v   string
	}{{&c.Service, r.Service}, {&c.Region, r.Region}, {&c.SignHost, r.SignHost}, {&c.Payload, r.Payload},
		{&c.ContentSHA256, r.ContentSHA256}, {&c.PreserveAuthorizationAs, r.PreserveAuthorizationAs}} {
		if s.v != "" {
			*s.dst = s.v
		}
	}
	for _, l := range []struct {
		dst *[]string
		v   []string
	}{{&c.ConnectTo, r.ConnectTo}, {&c.UnsignedHeaders, r.UnsignedHeaders}, {&c.StripHeaders, r.StripHeaders}} {
		if l.v != nil {
			*l.dst = l.v
		}
	}
	if r.Credentials != nil {
		c.Config = r.Credentials.Config(c.Config)
	}
	return c
}

// CheckRoute checks the fields r shares with the command line (upstream,
// allow-hosts, service, region, sign-host, connect-to, payload,
// unsigned-headers, strip-headers, content-sha256,
// preserve-authorization-as) by the options' own rules, as r would
// run with c's other options, and that match.clients has clients to name
// (--client-ca-file or --client-tokens-file): it is route.Compile's check. A refusal is a
// *route.FieldError naming the route's field.
func (c Config) CheckRoute(r *route.Route) error {
	if len(r.Clients) > 0 && !c.Listener.Authenticates() {
		// Every request would be refused: no client has a name.
		return &route.FieldError{Field: "match.clients", Value: strings.Join(r.Clients, ","),
			Problem: "the listener authenticates no client: set --client-ca-file or --client-tokens-file"}
	}
	err := c.ForRoute(r).Validate()
	if oe, ok := errors.AsType[*OptionError](err); ok {
		return &route.FieldError{Field: oe.Flag, Value: oe.Value, Problem: oe.Problem}
	}
	return err
}

// IsOption reports whether name is an option's flag (without --) that a
// config file may set: every option but --config itself.
func IsOption(name string) bool {
	_, ok := findFlag(reflect.TypeFor[Config](), name)
	return ok && name != "config"
}

func findFlag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("flag") == name {
			return f, true
		}
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("flag") == "" {
			if nested, ok := findFlag(f.Type, name); ok {
				return nested, true
			}
		}
	}
	return reflect.StructField{}, false
}

// startRouter reads the config file (--config), builds the Router on its
// routes and keeps them current: the file is re-read when it changes and
// whenever s.Reload receives, until ctx ends. A new file that does not
// compile, or whose routes cannot be built, is refused with one ERROR line
// and the routes in force stay. Only routes are re-read: the file's other
// options take effect at the next start.
func (s *Server) startRouter(ctx context.Context, log *slog.Logger) (*Router, error) {
	cfg, path := s.Config, s.Config.ConfigFile
	var router atomic.Pointer[Router]
	compile := func(data []byte) (*route.Set, error) {
		f, err := route.Parse(path, data, IsOption)
		if err != nil {
			return nil, err
		}
		set, err := route.Compile(f, cfg.CheckRoute)
		if err != nil {
			return nil, err
		}
		if rt := router.Load(); rt != nil {
			if err := rt.Use(set); err != nil {
				return nil, &route.Error{File: path, Problem: err.Error()}
			}
		}
		return set, nil
	}
	w, err := route.Watch(ctx, path, s.RoutesInterval, log, compile)
	if err != nil {
		return nil, err
	}
	rt, err := newRouter(cfg, w.Current(), s.Credentials, s.StartCredentials, log, s.ReloadInterval)
	if err != nil {
		return nil, err
	}
	router.Store(rt)
	warnRoutes(log, cfg, w.Current())
	if s.Reload != nil {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-s.Reload:
					if w.Reload() == nil {
						log.Info("config file re-read on request", "file", path)
					}
				}
			}
		}()
	}
	return rt, nil
}

// warnRoutes is warnAtStart's allow-list warning for each host-mode route
// whose allow-list holds a whole AWS DNS suffix.
func warnRoutes(log *slog.Logger, cfg Config, set *route.Set) {
	for _, r := range set.Routes() {
		rc := cfg.ForRoute(r)
		if rc.Upstream != "" {
			continue
		}
		if broad := broadAllowHosts(rc.AllowHosts); len(broad) > 0 {
			log.Warn("route "+r.Name+" is in host mode and signs for every host under AWS's DNS suffixes, including hosts anyone can own there (API Gateway ids, Lambda function URLs, S3 buckets): narrow the route's allow-hosts to your own endpoints",
				"route", r.Name, "allow_hosts", strings.Join(broad, ","))
		}
	}
}

// TargetURL is the URL a request for u is sent to under c: u in host
// mode; in fixed mode, --upstream's scheme and host with u's path under
// its base path and u's query, as the proxy forwards it. u is not changed.
func (c Config) TargetURL(u *url.URL) (*url.URL, error) {
	out := *u
	if c.Upstream == "" {
		return &out, nil
	}
	up, err := url.Parse(c.Upstream)
	if err != nil {
		return nil, err
	}
	out.Scheme, out.Host = up.Scheme, up.Host
	if !setWirePath(&out, joinBasePath(up.EscapedPath(), u.EscapedPath())) {
		return nil, fmt.Errorf("the path %q cannot be sent unchanged under %s", u.EscapedPath(), c.Upstream)
	}
	return &out, nil
}
