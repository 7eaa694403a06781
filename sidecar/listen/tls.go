package listen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TLSConfig returns the listener's TLS configuration, or nil without
// --tls-cert-file. Each handshake takes the serving certificate and the
// client CA in force at its start, so a rotated file applies to new
// connections at once and to none already open. TLS 1.2 is the minimum
// (RFC 9113 section 9.2 asks it of HTTP/2); "h2" is offered first by ALPN.
//
// With a client CA, a certificate is asked for and verified when given
// (tls.VerifyClientCertIfGiven): a client without one still completes the
// handshake, so that it can present a bearer token or receive a 401 that
// says what is missing, instead of a bare TLS alert. Session tickets are
// off then, so that a resumed session never skips the check against the CA
// in force.
func (f *Files) TLSConfig() *tls.Config {
	if f.Certificate == nil {
		return nil
	}
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return f.Certificate.Load(), nil
		},
	}
	if f.ClientCA == nil {
		return base
	}
	base.SessionTicketsDisabled = true
	base.ClientAuth = tls.VerifyClientCertIfGiven
	type forPool struct {
		pool *x509.CertPool
		cfg  *tls.Config
	}
	var last atomic.Pointer[forPool]
	outer := base.Clone()
	outer.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool := f.ClientCA.Load()
		if l := last.Load(); l != nil && l.pool == pool {
			return l.cfg, nil
		}
		cfg := base.Clone()
		cfg.ClientCAs = pool
		last.Store(&forPool{pool, cfg})
		return cfg, nil
	}
	return outer
}

// NewTLSListener returns a listener whose Accept hands out *tls.Conn with
// the handshake done, so that the caller can see the negotiated protocol
// (and wrap an HTTP/1.1 connection as it likes) before the HTTP server
// does. Handshakes run on goroutines of their own, each bounded by
// timeout, so a client that connects and says nothing holds up no other.
// onFail, if set, is called with each failed handshake's error. Closing the
// listener closes inner and every connection still in its handshake.
func NewTLSListener(inner net.Listener, cfg *tls.Config, timeout time.Duration, onFail func(remote net.Addr, err error)) net.Listener {
	l := &tlsListener{Listener: inner, cfg: cfg, timeout: timeout, onFail: onFail,
		ready: make(chan net.Conn), errs: make(chan error)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.acceptLoop()
	return l
}

type tlsListener struct {
	net.Listener
	cfg     *tls.Config
	timeout time.Duration
	onFail  func(net.Addr, error)

	ready  chan net.Conn
	errs   chan error
	ctx    context.Context // ends on Close
	cancel context.CancelFunc
	once   sync.Once
}

func (l *tlsListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.ctx.Done():
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(raw net.Conn) {
	tc := tls.Server(raw, l.cfg)
	if l.timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(l.timeout))
	}
	// l.ctx ends when the listener closes, which aborts the handshake.
	if err := tc.HandshakeContext(l.ctx); err != nil {
		raw.Close()
		if l.onFail != nil && l.ctx.Err() == nil {
			l.onFail(raw.RemoteAddr(), err)
		}
		return
	}
	_ = raw.SetDeadline(time.Time{})
	select {
	case l.ready <- tc:
	case <-l.ctx.Done():
		tc.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		l.cancel()
		err = l.Listener.Close()
	})
	return err
}
