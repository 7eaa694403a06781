package sidecar

// What the proxy signs with, exported for commands that must sign exactly
// as it does without running it (sigv4-sidecar explain and check): a copy
// of either would drift from the proxy the first time one of them changed.

// ScopeFor returns the signing name and region the proxy signs a request
// to host with under c: what the endpoint table says for host, each half
// replaced by c.Service or c.Region when set (--service, --region). It is
// the resolution the proxy makes per request in host mode, and once at
// start with --upstream (there with --sign-host, when set, as host). The
// error is an *UnknownEndpointError naming the options that fill the gap.
// Safe for concurrent use.
func (c Config) ScopeFor(host string) (service, region string, err error) {
	return scopeFor(host, c.Service, c.Region)
}

// UnsignedByDefault reports whether the proxy leaves the lowercase header
// name out of every signature, whatever --unsigned-headers adds: what the
// SDKs leave out and what hops on the way may add or rewrite. It is the
// predicate the Transport gives the signer when --unsigned-headers is
// empty. Safe for concurrent use.
func UnsignedByDefault(name string) bool {
	return noUnsignedGlobs.unsignedHeader(name)
}

// noUnsignedGlobs is a compiled config with no --unsigned-headers, whose
// unsignedHeader is therefore the defaults alone.
var noUnsignedGlobs = &compiled{}
