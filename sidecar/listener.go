package sidecar

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/mitm"
)

// proxyListener is what the proxy serves on: ln itself, or TLS over it with
// the handshake done before net/http sees the connection. Either way an
// HTTP/1.x connection is wrapped in a connInspector (framing.go), which
// must see the bytes net/http parses: over TLS, the plaintext. An HTTP/2
// connection (ALPN "h2") is handed over as the *tls.Conn, for net/http's
// HTTP/2 server, which frames requests itself.
func proxyListener(ln net.Listener, files *listen.Files, cfg Config, log *slog.Logger) net.Listener {
	tlsCfg := files.TLSConfig()
	if tlsCfg == nil {
		return framingListener{ln}
	}
	// A handshake gets --read-header-timeout, as net/http gives it the
	// smallest of its read timeouts; with that at 0, net/http's would be
	// unbounded, and a client that connects and says nothing would hold
	// its goroutine and socket for ever.
	timeout := cfg.ReadHeaderTimeout
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	return tlsFramingListener{listen.NewTLSListener(ln, tlsCfg, timeout, func(remote net.Addr, err error) {
		// crypto/tls's errors name what failed (an unknown CA, an expired
		// certificate, no shared version); none carries a secret.
		log.Info("TLS handshake failed", "remote_addr", remote.String(), "error", err.Error())
	})}
}

// defaultHandshakeTimeout bounds a client's TLS handshake when
// --read-header-timeout is 0.
const defaultHandshakeTimeout = 10 * time.Second

// tlsFramingListener wraps each HTTP/1.x TLS connection in a connInspector.
type tlsFramingListener struct{ net.Listener }

func (l tlsFramingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := c.(*tls.Conn)
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		return tc, nil
	}
	return &inspectedTLS{connInspector: &connInspector{Conn: tc}, tls: tc}, nil
}

// inspectedTLS is an HTTP/1.x TLS connection seen through its inspector.
// ConnectionState lets net/http set Request.TLS, as it does for a
// *tls.Conn.
type inspectedTLS struct {
	*connInspector
	tls *tls.Conn
}

func (c *inspectedTLS) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// connContext is the proxy server's ConnContext: it lets the handler find
// its connection's inspector.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if it, ok := c.(*inspectedTLS); ok {
		return context.WithValue(ctx, smugglingKey{}, it.connInspector)
	}
	return withInspector(ctx, c)
}

// listenerProtocols is what the proxy listener speaks: HTTP/1.1, and
// HTTP/2 over TLS (ALPN), or over cleartext with prior knowledge under
// --h2c (net/http's own support, Go 1.24).
func listenerProtocols(cfg Config) *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(cfg.Listener.H2C)
	return p
}

// authenticate names the client of r, when the listener authenticates
// clients, and removes its bearer token from r's headers (listen.Files.
// Authenticate). The error is a *listen.UnauthenticatedError (401).
func (p *Proxy) authenticate(r *http.Request) (listen.Client, error) {
	return p.clients.Authenticate(r.TLS, r.Header)
}

// clientsRequired reports whether every request must name its client.
func (p *Proxy) clientsRequired() bool {
	return p.clients != nil && p.clients.Config().Authenticates()
}

// listenerFiles are the files the listener serves with: the serving
// certificate and what authenticates clients.
func (p *Proxy) listenerFiles() *listen.Files { return p.clients }

// clientKeys returns the client keys in force, nil without
// --client-keys-file.
func (p *Proxy) clientKeys() *listen.ClientKeys {
	if p.clients == nil || p.clients.Keys == nil {
		return nil
	}
	return p.clients.Keys.Load()
}

// isUnauthenticatedCode reports whether a request answered with code was
// refused for not proving who its client is, for the clients metric.
func isUnauthenticatedCode(code string) bool {
	switch code {
	case CodeClientUnauthenticated, CodeClientKeyUnknown, CodeClientSignatureInvalid, CodeClientSignatureExpired:
		return true
	}
	return false
}

// openListenerFiles opens the files the listener reads besides its own
// certificate: the client CA, tokens and keys, and the MITM CA (nil
// without one), each re-read every reloadEvery until close is called. An
// error is an *OptionError naming the file's option; nothing is left open.
func openListenerFiles(cfg Config, log *slog.Logger, reloadEvery time.Duration) (clients *listen.Files, ca *mitm.Authority, close context.CancelFunc, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	if clients, err = listen.Open(ctx, cfg.Listener, log, reloadEvery); err != nil {
		cancel()
		return nil, nil, nil, err
	}
	if ca, err = mitm.Open(ctx, cfg.MITM, log, reloadEvery); err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return clients, ca, cancel, nil
}
