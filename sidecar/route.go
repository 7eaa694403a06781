package sidecar

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Route is where one request goes and what it is signed for, decided before
// anything is sent.
type Route struct {
	// Scheme and Host (host[:port]) of the upstream URL.
	Scheme, Host string
	// SignHost is the Host header signed and sent ("" keeps Host).
	SignHost string
	// Service and Region make the credential scope. Region is empty for a
	// SigV4a host that names none.
	Service, Region string
	// RegionSet, when not empty, signs with SigV4a for these regions
	// (X-Amz-Region-Set) instead of SigV4 for Region (sigv4a.go).
	RegionSet []string
	// ExpressBucket is the S3 Express One Zone directory bucket whose
	// session signs the request (express.go); "" signs it with the
	// proxy's own credentials.
	ExpressBucket string
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
	if n := len(r.Header["User-Agent"]); n > 1 {
		// net/http writes the first User-Agent only (RFC 9110 makes it a
		// single field): refused rather than one dropped.
		return Route{}, &RequestError{Code: CodeBadRequest, Message: "the request has " + strconv.Itoa(n) + " User-Agent headers; HTTP allows one and the proxy would send only the first: send one"}
	}
	var route Route
	var err error
	if p.c.upstream != nil {
		route, err = p.fixedRoute(r)
	} else {
		route, err = p.hostRoute(r)
	}
	if err != nil {
		return Route{}, err
	}
	route.ExpressBucket = SessionBucket(r, route)
	return route, nil
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
	return Route{Scheme: u.Scheme, Host: u.Host, SignHost: signHost, Service: p.c.fixedService, Region: p.c.fixedRegion, RegionSet: p.c.fixedRegionSet}, nil
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

	if x := exchangeFrom(r.Context()); x != nil && x.clientSig != nil {
		// An SDK pointed at the proxy (AWS_ENDPOINT_URL): the Host is the
		// proxy's, the target the AWS endpoint of the verified scope.
		if derived, ok, err := p.clientTarget(host, x.clientSig); err != nil {
			return Route{}, err
		} else if ok {
			host, port = derived, "443"
		}
	}
	if err := p.c.allow.checkHost(host); err != nil {
		return Route{}, err
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
	s, err := endpoint.SigningFor(scopeHost, p.c.cfg.Service, p.c.cfg.Region, p.c.regionSet)
	if err != nil {
		return Route{}, err
	}
	return Route{Scheme: scheme, Host: urlHost, SignHost: signHost, Service: s.Service, Region: s.Region, RegionSet: s.RegionSet}, nil
}

// target is the request target the proxy forwards: the client's path and
// query bytes, with only the fixed-mode base path put in front and the
// presigned-URL parameters taken out (see requestTarget).
type target struct {
	// path goes on the request line as it is (see setWirePath).
	path string
	// query is the client's raw query less the presign parameters.
	query string
	// forceQuery keeps a bare "?" the client sent.
	forceQuery bool
}

// requestTarget is what r's request target becomes upstream, or a 400 when
// the proxy cannot forward it unchanged and sign it the way a verifying
// server will read it. net/http's server keeps the client's bytes in
// r.URL (RawPath, or Path when escaping it gives them back; RawQuery) and
// has already refused control bytes and malformed escapes in the path.
func (p *Proxy) requestTarget(r *http.Request) (target, error) {
	if s := r.URL.Scheme; s != "" && (!strings.EqualFold(s, "http") && !strings.EqualFold(s, "https") || r.URL.Host == "" || r.URL.Opaque != "") {
		// net/http's server takes any absolute URI ("x:", "mailto:a");
		// the proxy forwards origin-form and http(s)://host/path only.
		return target{}, &RequestError{Code: CodeBadRequest, Message: "the request target is neither /path nor http://host/path (scheme " + quote(s) + ")"}
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.EscapedPath()
	}
	if path != "" && path[0] != '/' {
		return target{}, &RequestError{Code: CodeBadRequest, Message: "the request target " + quote(path) + " names no path: send /path (or http://host/path)"}
	}
	if p.c.upstream != nil {
		path = joinBasePath(p.c.upstream.EscapedPath(), path)
	}
	if x := exchangeFrom(r.Context()); x != nil && x.clientSig != nil && x.clientSig.bucket != "" {
		// bucket.localhost:PORT/key goes to S3 in path style: /bucket/key.
		// A bucket name is a host label's characters: nothing to escape.
		if path == "/" {
			path = ""
		}
		path = "/" + x.clientSig.bucket + path
	}
	if !setWirePath(&url.URL{}, path) {
		return target{}, &RequestError{Code: CodeBadRequest, Message: "the request path " + quote(path) + " starts with // and holds bytes that must be percent-encoded (such as | { } ^ \" or non-ASCII): HTTP libraries cannot send it unchanged, so percent-encode them"}
	}
	query := stripPresignParams(r.URL.RawQuery)
	if name, ok := malformedQueryParam(query); ok {
		return target{}, &RequestError{Code: CodeBadRequest, Message: "the query parameter " + quote(name) + " has a '%' not followed by two hex digits: a SigV4 verifier cannot read it as the proxy would sign it, so the request is not forwarded; send '%' as %25"}
	}
	return target{path: path, query: query, forceQuery: r.URL.ForceQuery}, nil
}

// joinBasePath puts the fixed-mode upstream's (escaped) base path before
// the client's path, as httputil.ProxyRequest.SetURL joins them.
func joinBasePath(base, path string) string {
	switch {
	case base == "":
		return path
	case path == "":
		return base + "/"
	}
	return base + path
}

// setWirePath makes u's request line carry path exactly: as RawPath when
// net/http accepts it there, else as Opaque, which net/http writes as it is
// and the signer reads as the wire path. Path holds the decoded form, for
// logs. It reports false for the one form neither can carry: a path that
// starts with "//" (Opaque would be read as an authority) and that net/http
// would re-escape.
func setWirePath(u *url.URL, path string) bool {
	decoded, err := url.PathUnescape(path)
	if err != nil {
		return false
	}
	u.Path, u.RawPath, u.Opaque = decoded, path, ""
	if u.EscapedPath() == path {
		return true
	}
	if strings.HasPrefix(path, "//") {
		return false
	}
	u.Opaque = path
	return true
}

// malformedQueryParam returns the name of the first parameter of rawQuery
// that holds a '%' not followed by two hex digits, decoded when its name
// itself is well formed.
func malformedQueryParam(rawQuery string) (string, bool) {
	if !strings.Contains(rawQuery, "%") {
		return "", false
	}
	for _, part := range strings.Split(rawQuery, "&") {
		if validEscapes(part) {
			continue
		}
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		return name, true
	}
	return "", false
}

func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		i += 2
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// presignParams are the query parameters of a SigV4 presigned URL (names
// lowercased); a request carrying them would be signed twice, so they are
// removed.
var presignParams = map[string]bool{
	"x-amz-algorithm": true, "x-amz-credential": true, "x-amz-date": true, "x-amz-expires": true,
	"x-amz-signedheaders": true, "x-amz-signature": true, "x-amz-security-token": true,
}

// sigV2PresignParams are those of a SigV2 presigned URL (exact names, as S3
// reads them), removed only when AWSAccessKeyId and Signature are both
// there: an API's own Expires (or Signature) parameter stays.
var sigV2PresignParams = map[string]bool{"AWSAccessKeyId": true, "Signature": true, "Expires": true}

// stripPresignParams removes presigned-URL parameters from a raw query,
// leaving every other byte as the client wrote it. Names are decoded first,
// so %58-Amz-Signature is X-Amz-Signature.
func stripPresignParams(rawQuery string) string {
	if rawQuery == "" {
		return rawQuery
	}
	if lower := strings.ToLower(rawQuery); !strings.Contains(lower, "x-amz-") && !strings.Contains(rawQuery, "%") && !strings.Contains(rawQuery, "Signature") {
		return rawQuery
	}
	parts := strings.Split(rawQuery, "&")
	names := make([]string, len(parts))
	var hasKeyID, hasSignature, strip bool
	for i, part := range parts {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		names[i] = name
		switch {
		case presignParams[strings.ToLower(name)]:
			strip = true
		case name == "AWSAccessKeyId":
			hasKeyID = true
		case name == "Signature":
			hasSignature = true
		}
	}
	sigV2 := hasKeyID && hasSignature
	if !strip && !sigV2 {
		return rawQuery
	}
	kept := parts[:0]
	for i, part := range parts {
		if presignParams[strings.ToLower(names[i])] || sigV2 && sigV2PresignParams[names[i]] {
			continue
		}
		kept = append(kept, part)
	}
	return strings.Join(kept, "&")
}

// ownAuthHeaders are the request's own signature headers, always removed:
// the proxy's signature replaces them.
var ownAuthHeaders = []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256", expressTokenHeader}

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
		"traceparent", "tracestate", "baggage",
		// Hop-by-hop (RFC 9110 section 7.6.1), present on upgrades only
		// (net/http strips them from every other request): a hop may
		// rewrite them, and ReverseProxy itself replaces the client's
		// Connection with "Upgrade". aws-sdk-java-v2's signer leaves
		// Connection out too; the Sec-WebSocket-* headers are end to end
		// and signed.
		"connection", "upgrade":
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
