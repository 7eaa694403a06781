package sidecar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/mitm"
)

// HTTPS_PROXY clients (issue 19): an SDK told to use the proxy for https
// URLs opens `CONNECT host:443` and speaks TLS to the real endpoint's name
// through it. With --mitm-ca-cert the proxy accepts the tunnel for a host
// the allow-list admits, terminates the TLS itself with a leaf its CA mints
// for exactly that host, and serves the requests inside as any other host-
// mode request, through Proxy.ServeHTTP: framing inspector, client
// authentication (the CONNECT's identity), routing, allow-list, signing,
// and the proxy's own upstream connection. The tunnel is never spliced raw
// to the upstream: nothing unsigned leaves through it.
//
// Tunnels are served by an http.Server of their own (tunnels), fed the
// hijacked connections, with the proxy listener's header and idle
// timeouts, header limit and protocols; Server.Run shuts it down with the
// proxy listener's, so a tunnel drains like any client connection.

// CONNECT refusals.
const (
	// CodeConnectNotAllowed: 403, CONNECT to a host outside --allow-hosts
	// (or to a refused address), answered before any TLS.
	CodeConnectNotAllowed = "connect_not_allowed"
	// CodeTunnelHostMismatch: 421, a request inside a tunnel names a host
	// other than the one the tunnel was opened to.
	CodeTunnelHostMismatch = "tunnel_host_mismatch"
)

// ConnectNotAllowedError is a CONNECT the allow-list refuses (403).
type ConnectNotAllowedError struct {
	Authority string
	Err       error // the allow-list's reason
}

func (e *ConnectNotAllowedError) Error() string {
	return "CONNECT " + e.Authority + " refused, no tunnel opened: " + e.Err.Error()
}

// TunnelHostError is a request inside a tunnel whose Host is not the
// tunnel's (421 Misdirected Request, RFC 9110 section 15.5.20).
type TunnelHostError struct{ Tunnel, Host string }

func (e *TunnelHostError) Error() string {
	return fmt.Sprintf("the request names host %s inside a tunnel opened to %s: open a tunnel to each host (CONNECT %s)", quote(e.Host), e.Tunnel, quote(e.Host))
}

// tunnelInfo is what the requests of one tunnel inherit from its CONNECT.
type tunnelInfo struct {
	host, port string // lowercased, no trailing dot, no brackets
	client     listen.Client
	authed     bool // the listener authenticated the CONNECT's client
}

func (t tunnelInfo) authority() string { return net.JoinHostPort(t.host, t.port) }

type tunnelKey struct{}

func tunnelFrom(ctx context.Context) (tunnelInfo, bool) {
	t, ok := ctx.Value(tunnelKey{}).(tunnelInfo)
	return t, ok
}

// serveConnect answers a CONNECT request when the MITM CA is configured:
// 403 before any TLS for a host the allow-list refuses; else 200, then the
// connection is handed, hijacked, to the tunnels server, with the client
// the listener authenticated (on r's context), if any.
func (p *Proxy) serveConnect(rec *responseRecorder, r *http.Request) (errCode string) {
	client, authed := listen.ClientFrom(r.Context())
	if r.ProtoMajor != 1 {
		_, code := writeError(rec, &RequestError{Code: CodeBadRequest, Message: "CONNECT over HTTP/" + fmt.Sprint(r.ProtoMajor) + " is not supported: open the tunnel over HTTP/1.1 (HTTPS_PROXY=http://...)"})
		return code
	}
	host, port, err := connectAuthority(r.Host)
	if err != nil {
		_, code := writeError(rec, err)
		return code
	}
	info := tunnelInfo{host: host, port: port, client: client, authed: authed}
	if p.c.upstream != nil {
		// A route in fixed mode (--config): its requests all go to its
		// upstream, not to the host a tunnel names.
		_, code := writeError(rec, &ConnectNotAllowedError{Authority: info.authority(), Err: errors.New("its route sends every request to a fixed upstream; tunnels reach the host the client names (host mode)")})
		return code
	}
	if err := p.c.allow.checkHost(host); err != nil {
		_, code := writeError(rec, &ConnectNotAllowedError{Authority: info.authority(), Err: err})
		return code
	}
	conn, buffered, err := http.NewResponseController(rec).Hijack()
	if err != nil {
		_, code := writeError(rec, fmt.Errorf("cannot take over the connection for the tunnel: %w", err))
		return code
	}
	raw := uninspected(conn)
	if buffered.Reader.Buffered() > 0 {
		// The client spoke before the 200: those bytes went through the
		// HTTP/1 framing inspector, not the TLS server. No client waits
		// less (RFC 9110 section 9.3.6: data only after a 2xx).
		const msg = "send the tunnel's bytes only after the proxy's 200\n"
		raw.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n" + ErrorHeader + ": " + CodeBadRequest +
			"\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(msg)) + "\r\n\r\n" + msg))
		raw.Close()
		rec.status = http.StatusBadRequest
		return CodeBadRequest
	}
	if _, err := raw.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		raw.Close()
		return CodeClientCanceled
	}
	rec.status = http.StatusOK
	go p.tunnels.serve(raw, info)
	return ""
}

// opensUnnamedTunnel reports whether r, a CONNECT refused by the
// listener's authentication with err, opens a tunnel all the same: when
// the proxy has client keys and the MITM CA (signedTunnels) and the
// CONNECT presented no credential at all. An SDK behind HTTPS_PROXY sends
// none on its CONNECT; it signs each request inside with its client key
// instead, and that signature is what the proxy verifies there. A request
// inside such a tunnel that is not signed with a client key gets 401, as
// outside; a CONNECT with a wrong token or an unnamed certificate is
// refused, as any request.
func opensUnnamedTunnel(r *http.Request, signedTunnels bool, err error) bool {
	var ue *listen.UnauthenticatedError
	return signedTunnels && r.Method == http.MethodConnect && errors.As(err, &ue) && ue.NoCredential
}

// connectAuthority reads CONNECT's request target, host:port (RFC 9110
// section 9.3.6). Port 80 is refused: a client speaks plain HTTP to the
// proxy for http URLs, and the proxy signs those without a tunnel.
func connectAuthority(authority string) (host, port string, err error) {
	h, pt, splitErr := net.SplitHostPort(authority)
	if splitErr != nil || h == "" || !validHostPort(authority) {
		return "", "", &RequestError{Code: CodeBadHost, Message: "CONNECT names " + quote(authority) + ", not host:port"}
	}
	port, ok := parsePort(pt)
	if !ok {
		return "", "", &RequestError{Code: CodeBadHost, Message: "CONNECT names " + quote(authority) + ": port must be 1-65535"}
	}
	if port == "80" {
		return "", "", &RequestError{Code: CodeBadRequest, Message: "CONNECT to port 80: send http:// requests to the proxy as they are (no tunnel), and it signs them"}
	}
	return strings.ToLower(strings.TrimSuffix(h, ".")), port, nil
}

// uninspected is the connection under the framing inspector: after the
// CONNECT, the bytes are TLS, not HTTP/1 for the inspector to frame (the
// tunnel's own HTTP/1 requests get an inspector of their own).
func uninspected(c net.Conn) net.Conn {
	switch c := c.(type) {
	case *connInspector:
		return c.Conn
	case *inspectedTLS:
		return c.tls
	}
	return c
}

// checkTunnelHost refuses a request inside a tunnel that names another
// host than the tunnel's: its certificate was minted for that one, and the
// allow-list was asked about that one.
func checkTunnelHost(t tunnelInfo, r *http.Request) error {
	raw := r.Host
	host, port := raw, "443"
	if h, pt, err := net.SplitHostPort(raw); err == nil {
		host, port = h, pt
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host != t.host || port != t.port {
		return &TunnelHostError{Tunnel: t.authority(), Host: raw}
	}
	return nil
}

func (p *Proxy) tunnelServer() *tunnels { return p.tunnels }

// tunnels serves the requests inside tunnels. Safe for concurrent use.
type tunnels struct {
	ca      *mitm.Authority
	srv     *http.Server
	ln      *handoffListener
	handler atomic.Pointer[http.Handler] // the proxy, wrapped as its listener's
	timeout time.Duration                // TLS handshake
	log     *slog.Logger

	mu    sync.Mutex
	infos map[net.Conn]tunnelInfo // until the server closes the connection
}

// newTunnels starts the server of the requests inside tunnels, serving
// them with h (the Proxy, or the Router with routes) until Close.
func newTunnels(h http.Handler, ca *mitm.Authority, cfg Config, log *slog.Logger) *tunnels {
	t := &tunnels{ca: ca, ln: newHandoffListener(), log: log, infos: map[net.Conn]tunnelInfo{}}
	t.timeout = cfg.ReadHeaderTimeout
	if t.timeout <= 0 {
		t.timeout = defaultHandshakeTimeout
	}
	t.handler.Store(&h)
	t.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			(*t.handler.Load()).ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext:       t.connContext,
		ConnState:         t.connState,
		// HTTP/1.1 and HTTP/2 by ALPN (tlsConfig); never h2c in a tunnel.
		Protocols: listenerProtocols(Config{}),
	}
	go t.srv.Serve(t.ln)
	return t
}

// wrap makes the tunnels' requests go through h (Server.Wrap around the
// proxy: telemetry, tracing), as the listener's do.
func (t *tunnels) wrap(h http.Handler) { t.handler.Store(&h) }

// serve runs the TLS handshake of a tunnel on raw, with a leaf for the
// CONNECT's host whatever name the client sends, and hands the connection
// to the tunnels server. It owns raw.
func (t *tunnels) serve(raw net.Conn, info tunnelInfo) {
	leaf, err := t.ca.Leaf(info.host)
	if err != nil {
		t.log.Warn("cannot mint a certificate for a tunnel", "host", info.host, "error", err.Error())
		raw.Close()
		return
	}
	tc := tls.Server(raw, &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
		Certificates: []tls.Certificate{*leaf},
	})
	raw.SetDeadline(time.Now().Add(t.timeout))
	if err := tc.Handshake(); err != nil {
		// A client that does not trust the CA fails here; crypto/tls
		// names the alert it sent.
		t.log.Info("TLS handshake in a tunnel failed", "host", info.host, "remote_addr", raw.RemoteAddr().String(), "error", err.Error())
		raw.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	var c net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		c = &inspectedTLS{connInspector: &connInspector{Conn: tc}, tls: tc}
	}
	t.mu.Lock()
	t.infos[c] = info
	t.mu.Unlock()
	if !t.ln.handoff(c) {
		t.forget(c)
		c.Close() // shutting down
	}
}

func (t *tunnels) connContext(ctx context.Context, c net.Conn) context.Context {
	t.mu.Lock()
	info, ok := t.infos[c]
	t.mu.Unlock()
	if ok {
		ctx = context.WithValue(ctx, tunnelKey{}, info)
		if info.authed {
			// The requests inside are the CONNECT's client's, as the
			// listener named it (Router and Proxy read it from here).
			ctx = listen.WithClient(ctx, info.client)
		}
	}
	return connContext(ctx, c)
}

func (t *tunnels) connState(c net.Conn, s http.ConnState) {
	if s == http.StateClosed || s == http.StateHijacked {
		t.forget(c)
	}
}

func (t *tunnels) forget(c net.Conn) {
	t.mu.Lock()
	delete(t.infos, c)
	t.mu.Unlock()
}

// handoffListener is a net.Listener whose connections are handed to it
// rather than accepted from a socket. Safe for concurrent use.
type handoffListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// handoff gives c to Accept; false when the listener is closed.
func (l *handoffListener) handoff(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return tunnelAddr{} }

type tunnelAddr struct{}

func (tunnelAddr) Network() string { return "tunnel" }
func (tunnelAddr) String() string  { return "tunnel" }

var _ net.Listener = (*handoffListener)(nil)
