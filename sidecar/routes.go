package sidecar

import (
	"errors"

	"github.com/sigv4-sidecar/sigv4-sidecar/route"
)

// ForRoute returns c with the fields r sets in place of the top-level
// options: the options a request on r is proxied with. A route that sets
// upstream is in fixed mode; one that sets allow-hosts without upstream is
// in host mode whatever the top level says; one that sets neither keeps
// the top-level mode. Credentials r sets replace the top-level ones whole
// (profile, file and role), keeping the STS region and endpoint. c is a
// value: neither it nor r is changed.
func (c Config) ForRoute(r *route.Route) Config {
	switch {
	case r.Upstream != "":
		c.Upstream = r.Upstream
	case r.AllowHosts != nil:
		c.Upstream, c.AllowHosts = "", r.AllowHosts
	}
	for _, s := range []struct {
		dst *string
		v   string
	}{{&c.Service, r.Service}, {&c.Region, r.Region}, {&c.SignHost, r.SignHost}, {&c.Payload, r.Payload}} {
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
// unsigned-headers, strip-headers) by the options' own rules, as r would
// run with c's other options: it is route.Compile's check. A refusal is a
// *route.FieldError naming the route's field.
func (c Config) CheckRoute(r *route.Route) error {
	err := c.ForRoute(r).Validate()
	if oe, ok := errors.AsType[*OptionError](err); ok {
		return &route.FieldError{Field: oe.Flag, Value: oe.Value, Problem: oe.Problem}
	}
	return err
}
