package sidecar

import (
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A protocol upgrade (WebSocket: API Gateway WebSocket APIs, Neptune's
// Gremlin and openCypher endpoints) goes through the proxy as any request
// does: routed, checked against --allow-hosts and the address rules, signed
// in the outbound chain, with Connection: Upgrade and Upgrade put back by
// httputil.ReverseProxy after it strips the hop-by-hop headers and before
// Rewrite. When the upstream answers 101 Switching Protocols, ReverseProxy
// hijacks the client's connection and copies bytes both ways until either
// side closes; an upgraded connection is then the client's and the
// upstream's, and the proxy no longer parses it. What ReverseProxy does
// not do, and the proxy adds here: an idle limit (--upgrade-idle-timeout);
// the relayed bytes and the 101 in the request log; the framing inspector
// (framing.go) standing aside, as frames are not requests; and a shutdown
// that waits for switched connections, then closes them (upgradeSet).

// upgradedConn is the upstream side of a switched connection: the 101's
// body, which ReverseProxy reads from and writes to. It counts the bytes
// relayed each way and, once no byte has passed either way for idle, ends
// both sides (end). Safe for concurrent use (ReverseProxy reads and writes
// from two goroutines).
type upgradedConn struct {
	io.ReadWriteCloser
	// fromUpstream and toUpstream count the bytes relayed.
	fromUpstream, toUpstream atomic.Int64
	// active is the time of the latest byte either way (UnixNano).
	active    atomic.Int64
	idle      time.Duration
	timer     *time.Timer
	closeOnce sync.Once
	closeErr  error
	// client is the client's connection, when known (the framing
	// inspector's): end closes it too.
	client io.Closer
	// onClose, when set, runs once the connection is closed.
	onClose func()
}

// newUpgradedConn wraps conn, the upstream side, relayed to client (nil:
// unknown); idle 0 sets no limit.
func newUpgradedConn(conn io.ReadWriteCloser, idle time.Duration, client io.Closer, onClose func()) *upgradedConn {
	c := &upgradedConn{ReadWriteCloser: conn, idle: idle, client: client, onClose: onClose}
	c.active.Store(time.Now().UnixNano())
	if idle > 0 {
		// One timer that re-arms itself for what is left, instead of a
		// Reset on every read and write. Armed once c.timer is set, which
		// checkIdle reads.
		c.timer = time.AfterFunc(math.MaxInt64, c.checkIdle)
		c.timer.Reset(idle)
	}
	return c
}

func (c *upgradedConn) checkIdle() {
	left := c.idle - time.Since(time.Unix(0, c.active.Load()))
	if left > 0 {
		c.timer.Reset(left)
		return
	}
	c.end()
}

// end closes both sides of the relay. Closing the upstream's alone ends
// ReverseProxy's relay only when it is reading from the upstream: a relay
// blocked writing to a client that stopped reading waits on the client's
// connection, which must be closed too (crypto/tls lets a Close break a
// Write in flight).
func (c *upgradedConn) end() {
	if c.client != nil {
		c.client.Close()
	}
	c.Close()
}

func (c *upgradedConn) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if n > 0 {
		c.fromUpstream.Add(int64(n))
		c.active.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *upgradedConn) Write(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Write(p)
	if n > 0 {
		c.toUpstream.Add(int64(n))
		c.active.Store(time.Now().UnixNano())
	}
	return n, err
}

// Close closes the upstream connection once, and stops the idle timer.
func (c *upgradedConn) Close() error {
	c.closeOnce.Do(func() {
		if c.timer != nil {
			c.timer.Stop()
		}
		c.closeErr = c.ReadWriteCloser.Close()
		if c.onClose != nil {
			c.onClose()
		}
	})
	return c.closeErr
}

var _ io.ReadWriteCloser = (*upgradedConn)(nil)

// switchedProtocols prepares a 101 answer for ReverseProxy's relay: the
// client connection's framing inspector stops, its body, the upstream
// connection, is wrapped to enforce the idle limit and count bytes, and the
// exchange notes the switch for the request log. Any
// other answer, or a 101 whose body is not a connection (ReverseProxy
// refuses that one itself), is left alone.
func (p *Proxy) switchedProtocols(resp *http.Response, x *exchange) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return
	}
	var client io.Closer
	if ci, ok := resp.Request.Context().Value(smugglingKey{}).(*connInspector); ok {
		// Before the hijack: from the 101 on, the client's bytes are
		// frames, which may read as any number of HTTP requests.
		ci.switched.Store(true)
		client = ci.Conn
	}
	var up *upgradedConn
	up = newUpgradedConn(conn, p.c.cfg.UpgradeIdleTimeout, client, func() { p.upgrades.remove(up) })
	p.upgrades.add(up)
	resp.Body = up
	if x != nil {
		x.upgraded = up
	}
}

// presignedUpgradeExpiry is how long a presigned upgrade is valid:
// Transcribe's limit, 300 seconds. The handshake follows at once; it is
// only checked when the upstream receives it.
const presignedUpgradeExpiry = 5 * time.Minute

// upgradeSignedInQuery reports whether the upgrade req, signed for
// service, is signed in its query string (a presigned URL, host the only
// signed header) instead of its headers. Amazon Transcribe's streaming
// WebSocket documents only that form, with the empty body's hash and
// X-Amz-Expires at most 300
// (https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html).
// API Gateway WebSocket APIs and Neptune take the Authorization header
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-control-access-iam.html,
// https://docs.aws.amazon.com/neptune/latest/userguide/iam-auth-connecting.html).
func upgradeSignedInQuery(req *http.Request, service string) bool {
	return service == "transcribe" && isUpgrade(req.Header)
}

// isUpgrade reports whether h asks to switch protocols: Connection names
// upgrade and Upgrade says to what (as httputil.ReverseProxy reads them).
func isUpgrade(h http.Header) bool {
	if h.Get("Upgrade") == "" {
		return false
	}
	for _, line := range h["Connection"] {
		for _, tok := range strings.Split(line, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// upgradeSet holds the switched connections still relaying.
// http.Server.Shutdown neither waits for a hijacked connection nor closes
// it, so without this a stopping proxy would return with WebSockets still
// open (and cut them only when the process exits). The zero value is
// empty and ready; safe for concurrent use.
type upgradeSet struct {
	mu     sync.Mutex
	conns  map[*upgradedConn]struct{}
	closed bool // by closeAll: a connection switched later is closed at once
}

func (s *upgradeSet) add(c *upgradedConn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.end()
		return
	}
	if s.conns == nil {
		s.conns = make(map[*upgradedConn]struct{})
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

func (s *upgradeSet) remove(c *upgradedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *upgradeSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// drain waits until every switched connection has ended or ctx is done,
// then closes those left (ending their relays, and so the clients' sides)
// and any switched afterwards. It returns how many it closed.
func (s *upgradeSet) drain(ctx context.Context) int {
	// Polled, as http.Server.Shutdown polls for idle connections.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for s.len() > 0 {
		select {
		case <-ctx.Done():
			return s.closeAll()
		case <-tick.C:
		}
	}
	return s.closeAll()
}

func (s *upgradeSet) closeAll() int {
	s.mu.Lock()
	s.closed = true
	conns := make([]*upgradedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.end() // removes c
	}
	return len(conns)
}

func (p *Proxy) upgradeSet() *upgradeSet { return p.upgrades }
