package route

import (
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
)

// DefaultName is the name of the one route a file without routes (or no
// file) gives: every request, signed as the top-level options say.
const DefaultName = "default"

// Route is one checked route. A field left empty (nil for a list) takes the
// top-level option of the same name. A Route is never changed once
// compiled and is safe for concurrent use.
type Route struct {
	Name string
	// Line is where the route starts in its file; 0 for the default route.
	Line int

	// Match: a request is taken when its host matches one of Hosts (none:
	// any host), its path is PathPrefix or below it ("": any path), and,
	// when Clients is not empty, its client's name matches one of them.
	Hosts      []string
	PathPrefix string
	Clients    []string

	// Upstream set: fixed mode. Empty with AllowHosts set: host mode with
	// these hosts. Both empty: the top-level mode.
	Upstream        string
	AllowHosts      []string
	Service         string
	Region          string
	SignHost        string
	ConnectTo       []string
	Payload         string
	UnsignedHeaders []string
	StripHeaders    []string

	// ContentSHA256 and PreserveAuthorizationAs: --content-sha256 and
	// --preserve-authorization-as (issue 17).
	ContentSHA256           string
	PreserveAuthorizationAs string

	// AddHeaders are set on every request of the route before it is
	// signed, replacing what the client sent under the same name; in name
	// order, names in canonical form.
	AddHeaders []Header
	// Credentials nil: the top-level credential options.
	Credentials *Credentials

	hosts matcher
}

// Header is one static header of a route.
type Header struct{ Name, Value string }

// Credentials is a route's own credential source: the AWS default chain,
// or a profile, or a credentials file, with an optional role assumed on
// top of it.
type Credentials struct {
	Profile         string
	CredentialsFile string
	RoleARN         string
	ExternalID      string
	SessionName     string
	// Duration is the assumed role's session duration; 0: the top-level
	// --role-duration.
	Duration time.Duration
}

// Config is the creds.Config of c: its fields over base's STS region and
// endpoint (and base's --role-duration when c sets none). Two routes with
// equal Configs share one credential source.
func (c *Credentials) Config(base creds.Config) creds.Config {
	cfg := creds.Config{
		Profile: c.Profile, CredentialsFile: c.CredentialsFile,
		RoleARN: c.RoleARN, ExternalID: c.ExternalID, RoleSessionName: c.SessionName,
		RoleDuration: base.RoleDuration,
		STSRegion:    base.STSRegion, STSEndpoint: base.STSEndpoint,
	}
	if c.Duration != 0 {
		cfg.RoleDuration = c.Duration
	}
	return cfg
}

// CredentialsOf is the route.Credentials a creds.Config describes (its
// STS settings left out), for String.
func CredentialsOf(c creds.Config) *Credentials {
	return &Credentials{Profile: c.Profile, CredentialsFile: c.CredentialsFile, RoleARN: c.RoleARN,
		ExternalID: c.ExternalID, SessionName: c.RoleSessionName, Duration: c.RoleDuration}
}

// String says where the credentials come from, without any secret:
// "profile team-a, then role arn:aws:iam::123456789012:role/x".
func (c *Credentials) String() string {
	base := "default chain"
	switch {
	case c.CredentialsFile != "" && c.Profile != "":
		base = fmt.Sprintf("credentials-file %s (profile %s)", c.CredentialsFile, c.Profile)
	case c.CredentialsFile != "":
		base = "credentials-file " + c.CredentialsFile
	case c.Profile != "":
		base = "profile " + c.Profile
	}
	if c.RoleARN == "" {
		return base
	}
	return base + ", then role " + c.RoleARN
}

// FieldError is a route field whose value the caller's check refuses:
// Compile adds the file, the line and the route.
type FieldError struct {
	// Field is the route's key ("payload", "connect-to").
	Field   string
	Value   string
	Problem string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %q: %s", e.Field, e.Value, e.Problem) }

// Set is the routes in force: checked, in file order, never changed once
// built. Safe for concurrent use; a request keeps the *Route it picked for
// its whole life, whatever Set is current by then.
type Set struct {
	// File is the config file the routes come from ("" for none).
	File   string
	routes []*Route
}

// Routes returns the routes in the order they are tried. The slice and the
// routes must not be changed.
func (s *Set) Routes() []*Route { return s.routes }

// Default is the Set without a config file, or of a file without routes:
// one route, DefaultName, that takes every request and signs it as the
// top-level options say.
func Default(file string) *Set {
	return &Set{File: file, routes: []*Route{{Name: DefaultName}}}
}

// Compile checks f's routes and builds their Set; a file without routes
// gives Default. check, when not nil, checks the fields a route shares
// with the command line (upstream, allow-hosts, service, region,
// sign-host, connect-to, payload, unsigned-headers, strip-headers,
// content-sha256, preserve-authorization-as) by the
// proxy's own rules, and returns a *FieldError (or any error) for the
// first it refuses. The first problem found is returned as an *Error.
func Compile(f *File, check func(*Route) error) (*Set, error) {
	if len(f.Routes) == 0 {
		return Default(f.Path), nil
	}
	set := &Set{File: f.Path}
	seen := map[string]int{}
	for i := range f.Routes {
		s := &f.Routes[i]
		r, err := compileRoute(f.Path, i, s)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[r.Name]; dup {
			return nil, &Error{File: f.Path, Line: s.lines["name"], Route: fmt.Sprintf("%q", r.Name), Field: "name",
				Problem: fmt.Sprintf("duplicate: route %d (line %d) has the same name; names must differ, logs and metrics carry them", first+1, f.Routes[first].Line)}
		}
		seen[r.Name] = i
		if check != nil {
			if err := check(r); err != nil {
				e := &Error{File: f.Path, Line: s.Line, Route: fmt.Sprintf("%q", r.Name), Problem: err.Error()}
				if fe, ok := err.(*FieldError); ok {
					e.Field, e.Problem = fe.Field, fmt.Sprintf("%q: %s", fe.Value, fe.Problem)
					if line, ok := s.lines[fe.Field]; ok {
						e.Line = line
					}
				}
				return nil, e
			}
		}
		set.routes = append(set.routes, r)
	}
	return set, nil
}

// compileRoute checks the fields of s that are this package's to check.
func compileRoute(file string, i int, s *Spec) (*Route, error) {
	label := fmt.Sprintf("#%d", i+1)
	if s.Name != "" {
		label = fmt.Sprintf("%q", s.Name)
	}
	fail := func(field, problem string) error {
		line := s.lines[field]
		if line == 0 {
			line = s.Line
		}
		return &Error{File: file, Line: line, Route: label, Field: field, Problem: problem}
	}
	if s.Name == "" {
		return nil, fail("name", "missing: every route needs a name, which logs and metrics carry")
	}
	if !validName(s.Name) {
		return nil, fail("name", fmt.Sprintf("%q: use 1 to 63 lowercase letters, digits, '-', '_' and '.', starting with a letter or digit", s.Name))
	}
	r := &Route{
		Name: s.Name, Line: s.Line,
		Upstream: s.Upstream, AllowHosts: s.AllowHosts, Service: s.Service, Region: s.Region,
		SignHost: s.SignHost, ConnectTo: s.ConnectTo, Payload: s.Payload,
		ContentSHA256: s.ContentSHA256, PreserveAuthorizationAs: s.PreserveAuth,
		UnsignedHeaders: s.UnsignedHeaders, StripHeaders: s.StripHeaders,
	}
	if s.Upstream != "" && s.AllowHosts != nil {
		return nil, fail("allow-hosts", "set with upstream: a route is either fixed (upstream) or host mode (allow-hosts), not both")
	}
	var err error
	if r.hosts, err = newMatcher(s.Match.Hosts); err != nil {
		return nil, fail("match.hosts", err.Error())
	}
	r.Hosts = s.Match.Hosts
	if p := s.Match.Path; p != "" {
		if problem := checkPathPrefix(p); problem != "" {
			return nil, fail("match.path", fmt.Sprintf("%q: %s", p, problem))
		}
		r.PathPrefix = p
	}
	for _, c := range s.Match.Clients {
		if strings.TrimSpace(c) != c || c == "" {
			return nil, fail("match.clients", fmt.Sprintf("%q: empty, or white space around it", c))
		}
		if _, err := path.Match(c, ""); err != nil {
			return nil, fail("match.clients", fmt.Sprintf("%q: bad glob pattern", c))
		}
	}
	r.Clients = s.Match.Clients
	names := make([]string, 0, len(s.AddHeaders))
	for name := range s.AddHeaders {
		names = append(names, name)
	}
	// Sorted by header, then by name as written: a map's order is random,
	// and an error about two spellings of one header must name them the
	// same way every time.
	slices.SortFunc(names, func(a, b string) int {
		if c := strings.Compare(textproto.CanonicalMIMEHeaderKey(a), textproto.CanonicalMIMEHeaderKey(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	canonical := map[string]string{}
	for _, name := range names {
		value := s.AddHeaders[name]
		if problem := checkAddHeader(name, value); problem != "" {
			return nil, fail("add-headers", fmt.Sprintf("%q: %s", name, problem))
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		if other, dup := canonical[key]; dup {
			return nil, fail("add-headers", fmt.Sprintf("%q and %q are one header (names are case-insensitive)", other, name))
		}
		canonical[key] = name
		r.AddHeaders = append(r.AddHeaders, Header{Name: key, Value: value})
	}
	if c := s.Credentials; c != nil {
		cr, field, problem := compileCredentials(c)
		if problem != "" {
			return nil, fail("credentials."+field, problem)
		}
		r.Credentials = cr
	}
	return r, nil
}

func compileCredentials(c *CredentialsSpec) (*Credentials, string, string) {
	out := &Credentials{Profile: c.Profile, CredentialsFile: c.CredentialsFile, RoleARN: c.RoleARN, ExternalID: c.ExternalID, SessionName: c.SessionName}
	if c.CredentialsFile != "" && strings.TrimSpace(c.CredentialsFile) != c.CredentialsFile {
		return nil, "credentials-file", fmt.Sprintf("%q: white space around it", c.CredentialsFile)
	}
	if c.Profile != "" && strings.TrimSpace(c.Profile) != c.Profile {
		return nil, "profile", fmt.Sprintf("%q: white space around it", c.Profile)
	}
	if c.RoleARN == "" {
		for _, f := range []struct{ field, value string }{{"external-id", c.ExternalID}, {"session-name", c.SessionName}, {"duration", c.Duration}} {
			if f.value != "" {
				return nil, f.field, "set without role-arn: it only applies to an assumed role"
			}
		}
		return out, "", ""
	}
	if err := creds.CheckRoleARN(c.RoleARN); err != nil {
		return nil, "role-arn", fmt.Sprintf("%q: %v", c.RoleARN, err)
	}
	if c.ExternalID != "" {
		// Not quoted: an external id is a shared secret of sorts.
		if err := creds.CheckExternalID(c.ExternalID); err != nil {
			return nil, "external-id", err.Error()
		}
	}
	if c.SessionName != "" {
		if err := creds.CheckSessionName(c.SessionName); err != nil {
			return nil, "session-name", fmt.Sprintf("%q: %v", c.SessionName, err)
		}
	}
	if c.Duration != "" {
		d, err := parseDuration(c.Duration)
		if err == nil {
			err = creds.CheckRoleDuration(d)
		}
		if err != nil {
			return nil, "duration", fmt.Sprintf("%q: %v", c.Duration, err)
		}
		out.Duration = d
	}
	return out, "", ""
}

// validName: a name that is safe as a metric label and in a log line.
func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return false
		}
	}
	return true
}

// checkPathPrefix says what is wrong with a match path, or "".
func checkPathPrefix(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "must start with /"
	case strings.ContainsAny(p, "?#"):
		return "a path only: no query or fragment"
	case hasDotSegment(p) || strings.Contains(strings.ToLower(p), "%2f"):
		return "no . or .. segments and no encoded slash: requests are matched on the path as sent"
	case strings.ContainsAny(p, " \t\r\n"):
		return "no white space"
	}
	return ""
}

// checkAddHeader says what is wrong with a static header, or "".
func checkAddHeader(name, value string) string {
	if !httpguts.ValidHeaderFieldName(name) {
		return "not a header name"
	}
	if !httpguts.ValidHeaderFieldValue(value) || strings.TrimSpace(value) != value {
		return "the value has a control character or white space around it"
	}
	lower := strings.ToLower(name)
	if reservedHeaders[lower] || strings.HasPrefix(lower, "proxy-") {
		return "the proxy sets or frames this header itself; a route cannot add it"
	}
	return ""
}

// reservedHeaders are those a route must not set: the signature's own, the
// body's framing and the hop-by-hop ones (RFC 9110 section 7.6.1).
var reservedHeaders = map[string]bool{
	"host": true, "authorization": true, "x-amz-date": true, "x-amz-content-sha256": true,
	"x-amz-security-token": true, "x-amz-decoded-content-length": true,
	"content-length": true, "transfer-encoding": true, "content-encoding": true,
	"connection": true, "keep-alive": true, "te": true, "trailer": true, "upgrade": true, "expect": true,
}

// matcher holds a route's host patterns: names and globs as --allow-hosts
// writes them, and IPs and CIDRs for hosts that are IP literals.
type matcher struct {
	globs    []string
	prefixes []netip.Prefix
}

func newMatcher(patterns []string) (matcher, error) {
	var m matcher
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			return m, fmt.Errorf("an empty pattern")
		}
		if pfx, err := netip.ParsePrefix(p); err == nil {
			m.prefixes = append(m.prefixes, pfx.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(p, "[]")); err == nil {
			m.prefixes = append(m.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if strings.ContainsAny(p, "/:") {
			return m, fmt.Errorf("%q: not a host name, glob, IP or CIDR (no port: hosts are matched without it)", p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return m, fmt.Errorf("%q: bad glob pattern", p)
		}
		m.globs = append(m.globs, p)
	}
	return m, nil
}

// matches reports whether host (lowercase, without port or brackets)
// matches; a matcher without patterns matches every host.
func (m matcher) matches(host string) bool {
	if len(m.globs) == 0 && len(m.prefixes) == 0 {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		for _, p := range m.prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	for _, g := range m.globs {
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}

// Pick returns the first route that takes a request to host (host or
// host:port, as in a Host header), at the escaped path (as sent, without
// the query), from the client named client ("" when it did not
// authenticate). The error is a *NoRouteError when no route's host and
// path match, else a *ClientUnauthenticatedError or *ClientNotAllowedError
// when some do but none admits the client.
func (s *Set) Pick(host, escapedPath, client string) (*Route, error) {
	name := hostName(host)
	refused := false
	for _, r := range s.routes {
		if !r.hosts.matches(name) || !underPrefix(escapedPath, r.PathPrefix) {
			continue
		}
		if r.admits(client) {
			return r, nil
		}
		refused = true
	}
	switch {
	case !refused:
		return nil, &NoRouteError{Host: host, Path: escapedPath}
	case client == "":
		return nil, &ClientUnauthenticatedError{Host: host, Path: escapedPath}
	default:
		return nil, &ClientNotAllowedError{Client: client, Host: host, Path: escapedPath}
	}
}

// Named returns the route called name, or an error naming the routes
// there are.
func (s *Set) Named(name string) (*Route, error) {
	names := make([]string, 0, len(s.routes))
	for _, r := range s.routes {
		if r.Name == name {
			return r, nil
		}
		names = append(names, r.Name)
	}
	return nil, fmt.Errorf("no route named %q in %s: its routes are %s", name, s.File, strings.Join(names, ", "))
}

// Matching returns the first route whose host and path match, whichever
// clients it admits; nil when none does. It names the route a refused
// request was meant for (its logs and metrics).
func (s *Set) Matching(host, escapedPath string) *Route {
	name := hostName(host)
	for _, r := range s.routes {
		if r.hosts.matches(name) && underPrefix(escapedPath, r.PathPrefix) {
			return r
		}
	}
	return nil
}

// hostName is the lower-case name of a Host header's host[:port], without
// the port or an IPv6 literal's brackets.
func hostName(host string) string {
	name := strings.ToLower(host)
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	return strings.Trim(name, "[]")
}

func (r *Route) admits(client string) bool {
	if len(r.Clients) == 0 {
		return true
	}
	if client == "" {
		return false
	}
	for _, c := range r.Clients {
		if ok, _ := path.Match(c, client); ok {
			return true
		}
	}
	return false
}

// underPrefix reports whether p is prefix or below it, segment by segment:
// /team-a takes /team-a and /team-a/x, not /team-ab. A path with a dot
// segment or an encoded slash is never under a prefix: a server that
// normalizes it could serve something outside the prefix (RFC 3986 section
// 5.2.4), so such a request falls through to a route without a path.
func underPrefix(p, prefix string) bool {
	if prefix == "" {
		return true
	}
	if hasDotSegment(p) || strings.Contains(strings.ToLower(p), "%2f") {
		return false
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || strings.HasSuffix(prefix, "/") || p[len(prefix)] == '/'
}

// hasDotSegment reports whether p has a "." or ".." segment, written
// plainly or percent-encoded (%2e).
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		seg = strings.ReplaceAll(strings.ToLower(seg), "%2e", ".")
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// NoRouteError is a request no route takes (403 no_route).
type NoRouteError struct{ Host, Path string }

func (e *NoRouteError) Error() string {
	return fmt.Sprintf("no route takes host %q path %q: add a route whose match takes it", e.Host, e.Path)
}

// ClientUnauthenticatedError is a request whose host and path only routes
// that admit named clients take, from a client that did not authenticate
// (401 client_unauthenticated).
type ClientUnauthenticatedError struct{ Host, Path string }

func (e *ClientUnauthenticatedError) Error() string {
	return fmt.Sprintf("host %q path %q is routed for authenticated clients only: present a client certificate or bearer token", e.Host, e.Path)
}

// ClientNotAllowedError is an authenticated client that no route taking
// the request's host and path admits (403 client_not_allowed).
type ClientNotAllowedError struct{ Client, Host, Path string }

func (e *ClientNotAllowedError) Error() string {
	return fmt.Sprintf("client %q may not use the routes of host %q path %q", e.Client, e.Host, e.Path)
}
