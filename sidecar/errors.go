package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/resilience"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// ErrorHeader marks every answer the proxy writes itself, so that a client
// can tell the proxy's errors from the upstream's. Its value is the code.
const ErrorHeader = "X-Sigv4-Sidecar-Error"

// Stable error codes, written in the JSON body and in ErrorHeader.
const (
	CodeBadRequest        = "bad_request"         // 400: malformed request
	CodeBadHost           = "bad_host"            // 400: missing or malformed target host
	CodePathEscapesBase   = "path_escapes_base"   // 400: `..` climbs out of --upstream's path
	CodeUnknownEndpoint   = "unknown_endpoint"    // 400: no service/region for the host
	CodeBodyReadFailed    = "body_read_failed"    // 400: the client's body ended early or failed
	CodeSigningFailed     = "signing_failed"      // 400: the signer refused the request
	CodeHostNotAllowed    = "host_not_allowed"    // 403: host outside --allow-hosts
	CodeAddressNotAllowed = "address_not_allowed" // 403: loopback, link-local or private address
	CodeBodyTooLarge      = "body_too_large"      // 413: body above --max-body
	CodeBodyTimeout       = "body_timeout"        // 408: the body stalled past --body-read-timeout
	CodeUpstreamFailed    = "upstream_unreachable"
	CodeNoCredentials     = "credentials_unavailable" // 503
	CodeSpoolFailed       = "spool_failed"            // 503: the body could not be buffered
	CodeSpoolFull         = "spool_full"              // 503: --spool-total is spent
	CodeUpstreamTimeout   = "upstream_timeout"        // 504
	CodeCircuitOpen       = "circuit_open"            // 503: the upstream's breaker is open
	CodeClientCanceled    = "client_canceled"         // the client went away; nobody reads it
	// Routes (--config): no route takes the request (403), or none that
	// takes it admits the client (401 without a client identity, 403 with
	// one).
	CodeNoRoute          = "no_route"
	CodeClientNotAllowed = "client_not_allowed"
	// 401: no valid client certificate or bearer token where one is
	// required (--client-ca-file, --client-tokens-file).
	CodeClientUnauthenticated = "client_unauthenticated"
)

// RequestError is a request the proxy refuses as malformed (400).
type RequestError struct {
	Code    string // one of the 400 codes
	Message string
}

func (e *RequestError) Error() string { return e.Message }

// HostNotAllowedError is a host-mode target outside --allow-hosts (403).
type HostNotAllowedError struct{ Host string }

func (e *HostNotAllowedError) Error() string {
	return fmt.Sprintf("host %q is not allowed: add it to --allow-hosts (SIGV4_ALLOW_HOSTS) to sign and forward requests to it", e.Host)
}

// AddressNotAllowedError is a host-mode target that is, or resolves to, a
// loopback, link-local, private or otherwise special address that
// --allow-hosts does not name explicitly (403). This is what keeps a client
// from reaching IMDS or the pod network through the proxy, DNS rebinding
// included.
type AddressNotAllowedError struct {
	Host string
	Addr netip.Addr
}

func (e *AddressNotAllowedError) Error() string {
	if e.Host == e.Addr.String() {
		return fmt.Sprintf("address %s is loopback, link-local or private: name it (or its CIDR) in --allow-hosts to allow it", e.Addr)
	}
	return fmt.Sprintf("host %q resolves to %s, a loopback, link-local or private address: name the host, the address or its CIDR in --allow-hosts to allow it", e.Host, e.Addr)
}

// CodeConnsExhausted is UpstreamConnectionsExhaustedError's code (503).
const CodeConnsExhausted = "upstream_connections_exhausted"

// UpstreamConnectionsExhaustedError is a request that needed a new upstream
// connection while --max-upstream-conns were all open, and none idle could
// be closed to make room (503, Retry-After). It is not a transport error:
// the upstream was never tried, so neither a retry nor the breaker counts it.
type UpstreamConnectionsExhaustedError struct{ Limit int64 }

func (e *UpstreamConnectionsExhaustedError) Error() string {
	return fmt.Sprintf("all %d upstream connections allowed are in use (--max-upstream-conns, derived from the open-file limit when 0): retry later", e.Limit)
}

// CredentialsError is a request that cannot be signed for want of usable
// credentials (503).
type CredentialsError struct{ Err error }

func (e *CredentialsError) Error() string {
	return "no usable AWS credentials: " + e.Err.Error()
}
func (e *CredentialsError) Unwrap() error { return e.Err }

// errorResponse is the one place that turns an error into the status, code
// and message the proxy answers with. Anything it does not recognise is an
// upstream failure (502): by then the request has been signed and sent.
func errorResponse(err error) (status int, code, message string) {
	var (
		reqErr     *RequestError
		notAllowed *HostNotAllowedError
		addrErr    *AddressNotAllowedError
		unknown    *endpoint.ScopeError
		unknownEP  *endpoint.UnknownHostError
		tooLarge   *body.TooLargeError
		bodyErr    *body.ReadError
		bodySlow   *body.TimeoutError
		spoolErr   *body.SpoolError
		spoolFull  *body.SpoolFullError
		connsOut   *UpstreamConnectionsExhaustedError
		credErr    *CredentialsError
		signErr    *signer.SigningError
		maxBytes   *http.MaxBytesError
		netErr     net.Error
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostnameE  x509.HostnameError
		openErr    *resilience.OpenError
		framingErr *signer.FramingError
		unauth     *listen.UnauthenticatedError
		session    *ExpressSessionError
		clientSig  *ClientSignatureError
		connectErr *ConnectNotAllowedError
		tunnelErr  *TunnelHostError
	)
	if status, code, message, ok := routeErrorResponse(err); ok {
		return status, code, message
	}
	switch {
	case errors.As(err, &session) && session.Status != 0:
		return session.status(), CodeExpressSession, session.Error()
	case errors.As(err, &clientSig):
		return clientSig.Status, clientSig.Code, clientSig.Message
	case errors.As(err, &connectErr):
		return http.StatusForbidden, CodeConnectNotAllowed, connectErr.Error()
	case errors.As(err, &tunnelErr):
		return http.StatusMisdirectedRequest, CodeTunnelHostMismatch, tunnelErr.Error()
	case errors.As(err, &unauth):
		return http.StatusUnauthorized, CodeClientUnauthenticated, unauth.Error()
	case errors.As(err, &reqErr):
		return http.StatusBadRequest, reqErr.Code, reqErr.Message
	case errors.As(err, &addrErr):
		return http.StatusForbidden, CodeAddressNotAllowed, addrErr.Error()
	case errors.As(err, &notAllowed):
		return http.StatusForbidden, CodeHostNotAllowed, notAllowed.Error()
	case errors.As(err, &unknown):
		return http.StatusBadRequest, CodeUnknownEndpoint, unknown.Error()
	case errors.As(err, &unknownEP):
		return http.StatusBadRequest, CodeUnknownEndpoint, unknownEP.Error()
	case errors.As(err, &bodySlow):
		return http.StatusRequestTimeout, CodeBodyTimeout, bodySlow.Error()
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, CodeBodyTooLarge, tooLarge.Error()
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge, CodeBodyTooLarge, (&body.TooLargeError{Limit: maxBytes.Limit}).Error()
	case errors.As(err, &framingErr):
		return http.StatusBadRequest, CodeBodyReadFailed, "the client's aws-chunked body is malformed, not forwarded whole: " + framingErr.Detail
	case errors.As(err, &bodyErr):
		return http.StatusBadRequest, CodeBodyReadFailed, bodyErr.Error()
	case errors.As(err, &spoolFull) && spoolFull.NeverFits():
		return http.StatusRequestEntityTooLarge, CodeBodyTooLarge, spoolFull.Error()
	case errors.As(err, &spoolFull):
		return http.StatusServiceUnavailable, CodeSpoolFull, spoolFull.Error()
	case errors.As(err, &spoolErr):
		return http.StatusServiceUnavailable, CodeSpoolFailed, spoolErr.Error()
	case errors.As(err, &credErr), errors.Is(err, creds.ErrNoCredentials):
		return http.StatusServiceUnavailable, CodeNoCredentials, credentialsMessage(err)
	case errors.As(err, &openErr):
		return http.StatusServiceUnavailable, CodeCircuitOpen, openErr.Error()
	case errors.As(err, &connsOut):
		return http.StatusServiceUnavailable, CodeConnsExhausted, connsOut.Error()
	case errors.As(err, &signErr):
		return http.StatusBadRequest, CodeSigningFailed, signErr.Error()
	case errors.Is(err, context.Canceled):
		return 499, CodeClientCanceled, "the client closed the request"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return http.StatusGatewayTimeout, CodeUpstreamTimeout, "the upstream did not answer in time: " + err.Error()
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostnameE):
		return http.StatusBadGateway, CodeUpstreamFailed, "upstream TLS certificate not trusted (see --upstream-ca-file, --sign-host): " + err.Error()
	default:
		return http.StatusBadGateway, CodeUpstreamFailed, "cannot reach the upstream: " + err.Error()
	}
}

func credentialsMessage(err error) string {
	return "cannot sign: " + err.Error()
}

// writeError answers the client with err's status, its code in ErrorHeader
// and a JSON body {"code": ..., "message": ...}. It writes nothing once the
// client is gone (499 is only a log value).
func writeError(w http.ResponseWriter, err error) (status int, code string) {
	status, code, message := errorResponse(err)
	if status == 499 {
		return status, code
	}
	var clientSig *ClientSignatureError
	if errors.As(err, &clientSig) {
		// In the document the client's SDK parses (clientkeys.go).
		writeClientSignatureError(w, clientSig)
		return status, code
	}
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set("Content-Type", "application/json")
	h.Set(ErrorHeader, code)
	h.Set("Cache-Control", "no-store")
	var openErr *resilience.OpenError
	if errors.As(err, &openErr) && openErr.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((openErr.RetryAfter+time.Second-1)/time.Second)))
	}
	if code == CodeClientUnauthenticated {
		// RFC 9110 section 15.5.2: a 401 names the scheme it takes.
		h.Set("WWW-Authenticate", `Bearer realm="sigv4-sidecar"`)
	}
	if code == CodeBodyTimeout {
		// RFC 9110 section 15.5.9: the server closes the connection.
		h.Set("Connection", "close")
	}
	if code == CodeSpoolFull || code == CodeConnsExhausted {
		// Space and connections come back as the requests holding them end.
		h.Set("Retry-After", "1")
	}
	body, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return status, code
}

// routeErrorResponse maps the route package's refusals.
func routeErrorResponse(err error) (status int, code, message string, ok bool) {
	if e, is := errors.AsType[*route.NoRouteError](err); is {
		return http.StatusForbidden, CodeNoRoute, e.Error(), true
	}
	if e, is := errors.AsType[*route.ClientNotAllowedError](err); is {
		return http.StatusForbidden, CodeClientNotAllowed, e.Error(), true
	}
	if e, is := errors.AsType[*route.ClientUnauthenticatedError](err); is {
		return http.StatusUnauthorized, CodeClientUnauthenticated, e.Error(), true
	}
	return 0, "", "", false
}
