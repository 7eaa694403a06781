package listen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
)

// Client is an authenticated client of the proxy.
type Client struct {
	// Name is the identity: the certificate's URI SAN (a SPIFFE ID), else
	// its first DNS SAN, else its subject CN; or the token's NAME.
	Name string
	// Via is how the client proved it: ViaCertificate, ViaToken or
	// ViaClientKey.
	Via string
}

// How a client authenticated.
const (
	ViaCertificate = "certificate"
	ViaToken       = "token"
	ViaClientKey   = "client-key"
)

// UnauthenticatedError is a request without a valid credential where one
// is required (the proxy answers 401 client_unauthenticated). Reason never
// holds the credential.
type UnauthenticatedError struct {
	Reason string
	// NoCredential: the client presented none (no certificate, no bearer
	// token), as against a wrong one.
	NoCredential bool
}

func (e *UnauthenticatedError) Error() string { return e.Reason }

// IdentityOf names the client a verified certificate belongs to: its first
// URI SAN (a SPIFFE ID, spiffe://trust-domain/path), else its first DNS
// SAN, else its subject common name; "" when it has none of them.
func IdentityOf(cert *x509.Certificate) string {
	switch {
	case len(cert.URIs) > 0:
		return cert.URIs[0].String()
	case len(cert.DNSNames) > 0:
		return cert.DNSNames[0]
	default:
		return cert.Subject.CommonName
	}
}

// bearerHeaders are the headers a token may come in, in the order they are
// looked at: Proxy-Authorization is meant for the proxy, Authorization may
// be the client's own.
var bearerHeaders = []string{"Proxy-Authorization", "Authorization"}

// Authenticate says who sent a request: the client of its connection's
// verified certificate (state, nil over cleartext), else the owner of the
// bearer token in h. With no client authentication configured it returns
// the zero Client and no error. It removes from h every bearer header when
// tokens are configured, so a token is never forwarded (nor signed),
// whether or not it matched. The error is an *UnauthenticatedError. Safe
// for concurrent use; h is modified in place.
func (f *Files) Authenticate(state *tls.ConnectionState, h http.Header) (Client, error) {
	var token string
	var sawBearer bool
	if f.Tokens != nil {
		for _, name := range bearerHeaders {
			for _, v := range h.Values(name) {
				if t, ok := bearer(v); ok && !sawBearer {
					token, sawBearer = t, true
				}
			}
			if name == "Proxy-Authorization" || isBearerOnly(h.Values(name)) {
				h.Del(name)
			}
		}
	}
	if f.ClientCA != nil && state != nil && len(state.VerifiedChains) > 0 && len(state.PeerCertificates) > 0 {
		name := IdentityOf(state.PeerCertificates[0])
		if name == "" {
			return Client{}, &UnauthenticatedError{Reason: "the client certificate names no identity (no URI or DNS SAN, no subject CN)"}
		}
		return Client{Name: name, Via: ViaCertificate}, nil
	}
	if sawBearer {
		if name, ok := f.Tokens.Load().Lookup(token); ok {
			return Client{Name: name, Via: ViaToken}, nil
		}
		return Client{}, &UnauthenticatedError{Reason: "the bearer token is not one of --client-tokens-file's"}
	}
	if !f.cfg.Authenticates() {
		return Client{}, nil
	}
	return Client{}, &UnauthenticatedError{Reason: "no client credential: " + f.wanted(), NoCredential: true}
}

// wanted says what credential the listener takes.
func (f *Files) wanted() string {
	var ways []string
	if f.ClientCA != nil {
		ways = append(ways, "present a client certificate signed by --client-ca-file's CA")
	}
	if f.Tokens != nil {
		ways = append(ways, "send Authorization: Bearer TOKEN (or Proxy-Authorization: Bearer TOKEN)")
	}
	if f.Keys != nil {
		ways = append(ways, "sign the request (SigV4) with a key of --client-keys-file")
	}
	return strings.Join(ways, ", or ")
}

// bearer returns the token of an "Bearer TOKEN" value (RFC 6750 section
// 2.1; the scheme is case-insensitive).
func bearer(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// isBearerOnly reports whether every value is a Bearer one: an
// Authorization header that is the client's own SigV4 signature is left to
// the proxy, which replaces it when it signs.
func isBearerOnly(values []string) bool {
	for _, v := range values {
		if _, ok := bearer(v); !ok {
			return false
		}
	}
	return len(values) > 0
}

type clientKey struct{}

// WithClient returns ctx carrying c, for what runs later on the request
// (routes matching a client, logs, metrics).
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client ctx carries, and whether it carries one.
func ClientFrom(ctx context.Context) (Client, bool) {
	c, ok := ctx.Value(clientKey{}).(Client)
	return c, ok
}
