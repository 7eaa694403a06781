package sidecar

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Route is where one request goes and what it is signed for, decided before
// anything is sent.
type Route struct {
	// Scheme and Host (host[:port]) of the upstream URL.
	Scheme, Host string
	// SignHost is the Host header signed and sent ("" keeps Host).
	SignHost string
	// Service and Region make the credential scope.
	Service, Region string
}

// protectedConnectionTokens are headers a client must not name in
// Connection: they are ones the proxy signs or frames the body with, and a
// client that asks for them to be dropped is either broken or probing.
var protectedConnectionTokens = map[string]bool{
	"authorization": true, "host": true, "content-length": true, "transfer-encoding": true,
	"x-amz-date": true, "x-amz-security-token": true, "x-amz-content-sha256": true,
	"content-encoding": true, "x-amz-decoded-content-length": true,
}

// route decides where r goes. It returns a typed error (see errorResponse)
// when r must not be forwarded at all.
func (p *Proxy) route(r *http.Request) (Route, error) {
	if r.Method == http.MethodConnect {
		return Route{}, &RequestError{Code: CodeBadRequest, Message: "CONNECT tunnels are not supported: send plain HTTP to the proxy, which signs it and speaks HTTPS upstream (curl -x http://proxy http://host/...)"}
	}
	for _, line := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(line, ",") {
			tok = strings.ToLower(strings.TrimSpace(tok))
			if protectedConnectionTokens[tok] || strings.HasPrefix(tok, "x-amz-") {
				return Route{}, &RequestError{Code: CodeBadRequest, Message: "the Connection header names " + tok + ", a header the proxy signs or frames the body with; remove it from Connection"}
			}
		}
	}
	if p.c.upstream != nil {
		return p.fixedRoute(r)
	}
	return p.hostRoute(r)
}

func (p *Proxy) fixedRoute(r *http.Request) (Route, error) {
	if escapesRoot(r.URL.Path) || (r.URL.RawPath != "" && escapesRoot(r.URL.RawPath)) {
		return Route{}, &RequestError{Code: CodePathEscapesBase, Message: "the request path climbs out of the upstream's base path with .. segments"}
	}
	u := p.c.upstream
	signHost := p.c.cfg.SignHost
	if signHost == "" {
		signHost = p.c.fixedSignHost
	}
	return Route{Scheme: u.Scheme, Host: u.Host, SignHost: signHost, Service: p.c.fixedService, Region: p.c.fixedRegion}, nil
}

// escapesRoot reports whether resolving the dot segments of p (RFC 3986
// section 5.2.4) would climb above its root. A `..` that stays inside is
// left alone: S3 keys may contain it.
func escapesRoot(p string) bool {
	if !strings.Contains(p, "..") && !strings.Contains(strings.ToLower(p), "%2e") {
		return false
	}
	depth := 0
	for _, seg := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		switch unescaped, _ := url.PathUnescape(seg); unescaped {
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		case ".", "":
		default:
			depth++
		}
	}
	return false
}

func (p *Proxy) hostRoute(r *http.Request) (Route, error) {
	raw := r.Host
	if raw == "" {
		return Route{}, &RequestError{Code: CodeBadHost, Message: "the request names no target host: send a Host header (or an absolute-form URI), or start the proxy with --upstream"}
	}
	if !validHostPort(raw) {
		return Route{}, &RequestError{Code: CodeBadHost, Message: "the Host header " + quote(raw) + " is not a host name with an optional port"}
	}
	host, port := raw, ""
	if h, pt, err := net.SplitHostPort(raw); err == nil {
		host = h
		port, _ = parsePort(pt) // validHostPort checked it
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if port == "80" {
		// The client spoke plain HTTP to us (an absolute-form http:// URI
		// or its Host header); the upstream is reached over HTTPS.
		port = ""
	}
	if port == "" {
		port = "443"
	}

	if ip, err := netip.ParseAddr(host); err == nil {
		if !p.c.addrAllowed(host, ip) {
			return Route{}, &AddressNotAllowedError{Host: host, Addr: ip.Unmap()}
		}
		if !p.c.allowedIP(ip) && !p.c.hostAllowed(host) {
			return Route{}, &HostNotAllowedError{Host: host}
		}
	} else if !p.c.hostAllowed(host) {
		return Route{}, &HostNotAllowedError{Host: host}
	}

	scheme := "https"
	if rule, ok := p.c.connectRuleFor(host, port); ok && rule.plainHTTP {
		scheme = "http"
	}
	urlHost := host
	if _, err := netip.ParseAddr(host); err == nil && strings.Contains(host, ":") {
		urlHost = "[" + host + "]"
	}
	if port != "443" || scheme == "http" {
		urlHost = net.JoinHostPort(strings.Trim(urlHost, "[]"), port)
	}
	signHost := p.c.cfg.SignHost
	if signHost == "" && scheme == "http" && port == "443" {
		// --connect-to sent an https-default request to a plain-HTTP
		// address: the URL keeps :443 so the rule matches when dialling,
		// but the Host signed and sent is the bare name the client used.
		signHost = strings.Trim(urlHost[:strings.LastIndex(urlHost, ":")], "[]")
		if strings.Contains(signHost, ":") {
			signHost = "[" + signHost + "]"
		}
	}
	scopeHost := host
	if signHost != "" {
		scopeHost = signHost
	}
	service, region, err := scopeFor(scopeHost, p.c.cfg.Service, p.c.cfg.Region)
	if err != nil {
		return Route{}, err
	}
	return Route{Scheme: scheme, Host: urlHost, SignHost: signHost, Service: service, Region: region}, nil
}

// hostAllowed reports whether a host name matches --allow-hosts.
func (c *compiled) hostAllowed(host string) bool {
	if c.allowExact[host] {
		return true
	}
	for _, g := range c.allowGlobs {
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}

// allowedIP reports whether an --allow-hosts IP or CIDR holds ip.
func (c *compiled) allowedIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range c.allowPrefix {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// presignParams are the query parameters of a presigned URL; a request
// carrying them would be signed twice, so they are removed.
var presignParams = map[string]bool{
	"x-amz-algorithm": true, "x-amz-credential": true, "x-amz-date": true, "x-amz-expires": true,
	"x-amz-signedheaders": true, "x-amz-signature": true, "x-amz-security-token": true,
}

// stripPresignParams removes presigned-URL parameters from a raw query,
// leaving every other parameter byte for byte as the client wrote it.
func stripPresignParams(rawQuery string) string {
	if lower := strings.ToLower(rawQuery); !strings.Contains(lower, "x-amz-") && !strings.Contains(lower, "%2d") {
		return rawQuery
	}
	parts := strings.Split(rawQuery, "&")
	kept := parts[:0]
	for _, part := range parts {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if presignParams[strings.ToLower(key)] {
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(kept, "&")
}

// ownAuthHeaders are the request's own signature headers, always removed:
// the proxy's signature replaces them.
var ownAuthHeaders = []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"}

// UnsignedByDefault reports whether the proxy leaves the lowercase header
// name out of every signature, whatever --unsigned-headers adds: what the
// SDK leaves out and what proxies on the way may add or rewrite. Exported
// so that commands signing as the proxy does (explain, check) use this
// list rather than a copy of it. Safe for concurrent use.
func UnsignedByDefault(name string) bool {
	if signer.DefaultUnsignedHeaders(name) || strings.HasPrefix(name, "x-forwarded-") {
		return true
	}
	switch name {
	case "forwarded", "via", "x-amzn-trace-id", "expect", "user-agent",
		// W3C trace context: a mesh or egress proxy with tracing on
		// rewrites it, which must not break the signature.
		"traceparent", "tracestate", "baggage":
		return true
	}
	return false
}

// unsignedHeader reports whether the lowercase header name stays out of the
// signature: UnsignedByDefault, and --unsigned-headers.
func (c *compiled) unsignedHeader(name string) bool {
	if UnsignedByDefault(name) {
		return true
	}
	for _, g := range c.unsigned {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

// stripHeaders removes the --strip-headers headers from h.
func (c *compiled) stripHeaders(h http.Header) {
	if len(c.strip) == 0 {
		return
	}
	for name := range h {
		lower := strings.ToLower(name)
		for _, g := range c.strip {
			if ok, _ := path.Match(g, lower); ok {
				delete(h, name)
				break
			}
		}
	}
}

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}
