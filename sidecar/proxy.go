package sidecar

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
	"github.com/sigv4-sidecar/sigv4-sidecar/route"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/listen"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/mitm"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/resilience"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/telemetry"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Proxy is the signing reverse proxy: an http.Handler that routes each
// request (fixed upstream or its own host), signs it in its outbound chain
// (chain.go: retrier, attempt tracer, signer, signature watcher, circuit
// breaker, status check, network) and streams the response back. Safe for
// concurrent use.
type Proxy struct {
	c   *compiled
	log *slog.Logger
	rp  *httputil.ReverseProxy
	// Layers of the outbound chain the proxy talks to once it is built.
	signer   *RequestSigner
	watcher  *signatureWatcher // diagnostics.go
	network  *http.Transport   // the last layer, which Close empties of idle connections
	keys     *signer.KeyCache
	breakers *resilience.Breakers
	clock    *resilience.Clock
	src      creds.Source
	tel      *telemetry.Telemetry // nil records nothing
	// clients authenticates clients (listener.go); closeFiles stops
	// watching its files.
	clients    *listen.Files
	closeFiles context.CancelFunc
	// addHeaders are the route's add-headers (router.go), set on every
	// outbound request after strip-headers, before signing.
	addHeaders []route.Header
	// upgrades are the switched connections still relaying (upgrade.go),
	// shared by every Proxy of a Router.
	upgrades *upgradeSet
	// tunnels serves CONNECT tunnels (tunnel.go); nil without the MITM CA.
	// With routes it is the Router's, shared by every route's Proxy, and
	// ownTunnels is false: a Proxy closes only its own.
	tunnels    *tunnels
	ownTunnels bool
}

var _ http.Handler = (*Proxy)(nil)

// New builds a Proxy from cfg, which it validates. src supplies credentials
// for every request; log receives one line per request and never a secret.
// The listener's files (--tls-cert-file, --client-ca-file,
// --client-tokens-file) are watched until Close.
func New(cfg Config, src creds.Source, log *slog.Logger) (*Proxy, error) {
	return newProxy(cfg, src, log, nil, 0)
}

// newProxy is New with tap, for tests, put into the outbound chain
// (outbound), and the listener's files checked every reloadEvery (0:
// listen.DefaultReloadInterval).
func newProxy(cfg Config, src creds.Source, log *slog.Logger, tap layer, reloadEvery time.Duration) (*Proxy, error) {
	c, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("sidecar: no credentials source")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	network, err := newBaseTransport(c)
	if err != nil {
		return nil, err
	}
	cfg.Resilience.ApplyTimeouts(network)
	// When the connection budget is spent, idle connections are closed to
	// make room (net/http can only close all of them at once).
	c.upstreamConns.reclaim = network.CloseIdleConnections
	p := &Proxy{c: c, log: log, network: network, src: src, keys: signer.NewKeyCache(0), clock: resilience.NewClock(time.Now), upgrades: new(upgradeSet)}
	p.breakers = resilience.NewBreakers(cfg.Resilience, p.breakerChanged)
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: p.outbound(cfg, network, tap),
		// No periodic flushing: ReverseProxy itself flushes every write of
		// a response of unknown length (chunked: Lambda response streaming,
		// S3 Select, most event streams) and of text/event-stream, and
		// responseRecorder does for AWS event streams of known length. Any
		// other response goes out in as few writes as its size allows:
		// FlushInterval -1 cost two writes and a goroutine per small
		// response (the header flushed on its own by a timer at once).
		FlushInterval:  0,
		ErrorHandler:   p.proxyError,
		ModifyResponse: p.noteResponse,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BufferPool:     bufferPool{},
	}
	var ca *mitm.Authority
	if p.clients, ca, p.closeFiles, err = openListenerFiles(cfg, log, reloadEvery); err != nil {
		return nil, err
	}
	if ca != nil {
		p.tunnels, p.ownTunnels = newTunnels(p, ca, cfg, log), true
	}
	return p, nil
}

// RequestSigner returns the signer of the outbound chain. Not safe to
// change while requests are in flight.
func (p *Proxy) RequestSigner() *RequestSigner { return p.signer }

// UseTelemetry makes the proxy record metrics and spans with t. Call it
// before serving.
func (p *Proxy) UseTelemetry(t *telemetry.Telemetry) { p.tel = t }

// Observers are the values the proxy lends telemetry: derived-key cache
// counts, credential refreshes and expiry (when the source is a
// *creds.Cache), breaker states and the signing clock's offset.
func (p *Proxy) Observers() telemetry.Observers {
	obs := telemetry.Observers{
		KeyCache: func() (uint64, uint64) {
			s := p.keys.Stats()
			return s.Hits, s.Misses
		},
		BreakerStates: func() []telemetry.BreakerState {
			var out []telemetry.BreakerState
			for host, state := range p.breakers.States() {
				service, region := p.scopeOfHost(host)
				out = append(out, telemetry.BreakerState{Service: service, Region: region, State: int(state)})
			}
			return out
		},
		ClockOffset:         p.clock.Offset,
		SignatureRejections: p.SignatureRejections,
	}
	if st, ok := p.src.(interface{ Status() creds.Status }); ok {
		obs.Credentials = func() telemetry.CredentialStats {
			s := st.Status()
			return telemetry.CredentialStats{Refreshes: s.Refreshes, Failures: s.Failures, Expires: s.Expires, CanExpire: s.CanExpire}
		}
	}
	return obs
}

func (p *Proxy) describeAttempt(req *http.Request) telemetry.AttemptInfo {
	info := telemetry.AttemptInfo{Host: req.URL.Host}
	if x := exchangeFrom(req.Context()); x != nil {
		info.Service, info.Region, info.Attempt = x.route.Service, x.route.Region, x.Attempt
	}
	if p.breakers != nil {
		info.BreakerState = p.breakers.State(req.URL.Host).String()
	}
	return info
}

func (p *Proxy) retrying(req *http.Request, attempt int, reason string, wait time.Duration) {
	var service, region string
	if x := exchangeFrom(req.Context()); x != nil {
		service, region = x.route.Service, x.route.Region
	}
	p.tel.Retried(req.Context(), service, region, reason)
	p.log.Debug("retrying upstream request", "host", req.URL.Host, "attempt", attempt, "reason", reason, "wait", wait.String())
}

func (p *Proxy) skewCorrected(req *http.Request, offset time.Duration) {
	p.tel.SkewCorrected(req.Context())
	p.log.Warn("clock skew corrected from the upstream's Date: signing with an offset", "host", req.URL.Host, "offset", offset.String())
}

// scopeOfHost is the service and region requests to an upstream host (a
// breaker's key: the URL's host[:port]) are signed for, for the metrics,
// which never carry the host itself; empty when there are none.
func (p *Proxy) scopeOfHost(host string) (service, region string) {
	if p.c.upstream != nil {
		return p.c.fixedService, p.c.fixedRegion
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	service, region, _ = endpoint.ScopeFor(host, p.c.cfg.Service, p.c.cfg.Region)
	return service, region
}

func (p *Proxy) breakerChanged(ch resilience.StateChange) {
	service, region := p.scopeOfHost(ch.Host)
	p.tel.BreakerChanged(context.Background(), service, region, ch.To.String())
	p.log.Warn("circuit breaker changed state", "host", ch.Host, "from", ch.From.String(), "to", ch.To.String())
}

// Close releases idle upstream connections. Requests in flight, upgraded
// connections included, finish (Server drains those at shutdown).
func (p *Proxy) Close() {
	p.closeFiles()
	if p.ownTunnels {
		p.tunnels.srv.Close()
	}
	p.network.CloseIdleConnections()
}

// ServeHTTP routes, signs and forwards r, or answers it with the proxy's own
// error when it cannot be forwarded signed.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, span := p.tel.StartRequest(r)
	rec := &responseRecorder{ResponseWriter: w}
	x := &exchange{}
	var client listen.Client // when the listener authenticates clients
	// A shallow copy: net/http must still find its own body in the
	// original request to know whether the connection can be reused.
	r = r.WithContext(withExchange(ctx, x))
	var bodyIn *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		bodyIn = &countingBody{ReadCloser: r.Body}
		if d := p.c.cfg.BodyReadTimeout; d > 0 {
			bodyIn.deadline, bodyIn.timeout = http.NewResponseController(w), d
		}
		r.Body = bodyIn
	}
	defer func() {
		if bodyIn != nil {
			bodyIn.handlerDone()
		}
		if x.spool != nil {
			x.spool.Close()
		}
		status := rec.status
		out := rec.written
		var in int64
		if bodyIn != nil {
			in = bodyIn.n
		}
		if up := x.upgraded; up != nil && status == 0 {
			// ReverseProxy wrote the 101 on the hijacked connection, past
			// rec; the bytes relayed count as the exchange's.
			status = http.StatusSwitchingProtocols
			in += up.toUpstream.Load()
			out += up.fromUpstream.Load()
		}
		if status == 0 {
			status = 499 // the client went away before any answer
		}
		d := time.Since(start)
		telemetry.EndRequest(span, telemetry.RequestInfo{Service: x.route.Service, Region: x.route.Region, Upstream: x.route.Host,
			Status: status, ErrorCode: x.errCode, RequestID: x.requestID})
		p.tel.RequestDone(ctx, x.route.Service, x.route.Region, status, d, in, out)
		telemetry.LogRequest(ctx, p.log, telemetry.RequestLog{Method: r.Method, Host: r.Host, Path: r.URL.Path,
			Service: x.route.Service, Region: x.route.Region, Status: status, Duration: d, RequestID: x.requestID,
			Attempts: x.attempts, ErrorCode: x.errCode, BytesIn: in, BytesOut: out, Client: client.Name})
		if unauthenticated := isUnauthenticatedCode(x.errCode); client.Name != "" || unauthenticated {
			p.tel.ClientRequest(ctx, client.Name, unauthenticated)
		}
	}()
	if ci, ok := r.Context().Value(smugglingKey{}).(*connInspector); ok {
		// framing.go: forward only what the client framed unambiguously;
		// refusing closes the connection, so no request hidden behind this
		// one, even one net/http has already read, is ever served.
		if err := ci.admit(r.Method, r.RequestURI); err != nil {
			_, x.errCode = writeError(closeAfter{rec}, err)
			return
		}
	}
	tunnel, inTunnel := tunnelFrom(r.Context())
	if inTunnel {
		// tunnel.go: a request inside a CONNECT tunnel goes to the host
		// the tunnel was opened to, as the client the CONNECT named.
		if err := checkTunnelHost(tunnel, r); err != nil {
			_, x.errCode = writeError(rec, err)
			return
		}
	}
	if keys := claimedClientKeys(r.Context()); keys != nil {
		// The Router picked the route for the client the signature's
		// key names (router.go): verified here, before anything is sent.
		var err error
		if client, x.clientSig, err = p.verifyClientKey(r, x, keys); err != nil {
			_, x.errCode = writeError(rec, err)
			return
		}
	} else if keys := p.clientKeys(); inTunnel && keys != nil && isClientSigned(r) {
		// Inside a tunnel an SDK's own signature is verified too, whoever
		// the CONNECT named.
		var err error
		if client, x.clientSig, err = p.verifyClientKey(r, x, keys); err != nil {
			_, x.errCode = writeError(rec, err)
			return
		}
	} else if c, ok := listen.ClientFrom(r.Context()); ok {
		client = c // the Router authenticated it (router.go), or the tunnel's CONNECT
	} else if p.clientsRequired() {
		var err error
		if keys := p.clientKeys(); keys != nil && isClientSigned(r) {
			// clientkeys.go: an SDK's own signature, verified and replaced.
			client, x.clientSig, err = p.verifyClientKey(r, x, keys)
		} else if inTunnel {
			err = &listen.UnauthenticatedError{Reason: "the tunnel's CONNECT named no client: sign each request in it with a key of --client-keys-file"}
		} else {
			client, err = p.authenticate(r)
		}
		if opensUnnamedTunnel(r, p.tunnels != nil && p.clientKeys() != nil, err) {
			// tunnel.go: no client on the context, so each request
			// inside must be signed with a client key (above).
			err = nil
		} else if err != nil {
			_, x.errCode = writeError(rec, err)
			return
		} else {
			r = r.WithContext(listen.WithClient(r.Context(), client))
		}
	}
	if r.Method == http.MethodConnect && p.tunnels != nil && !inTunnel {
		x.errCode = p.serveConnect(rec, r)
		return
	}
	route, err := p.route(r)
	if err != nil {
		_, x.errCode = writeError(rec, allowRefusalForSDK(x.clientSig, err))
		return
	}
	if sig := x.clientSig; sig != nil && sig.region != "" && len(route.RegionSet) == 0 {
		// Re-signed for the scope the client signed for, as AWS would
		// judge it (an S3 bucket's region, a service the endpoint table
		// names otherwise): the proxy changes the keys, not the scope.
		route.Service, route.Region = sig.service, sig.region
	}
	x.route = route
	if x.target, err = p.requestTarget(r); err != nil {
		_, x.errCode = writeError(rec, err)
		return
	}
	if x.chunked, err = clientChunkedForm(r.Header); err != nil {
		_, x.errCode = writeError(rec, err)
		return
	}
	if err := p.c.checkPreservedAuthorization(r.Header); err != nil {
		_, x.errCode = writeError(rec, err)
		return
	}
	// Keep the upstream's Content-Type exactly: without this net/http
	// would sniff one when the upstream sent none.
	rec.Header()["Content-Type"] = nil
	p.rp.ServeHTTP(rec, r)
}

// closeAfter makes net/http close the connection after this answer
// (Connection: close, which writeError would clear if set earlier).
type closeAfter struct{ http.ResponseWriter }

func (w closeAfter) WriteHeader(status int) {
	w.Header().Set("Connection", "close")
	w.ResponseWriter.WriteHeader(status)
}

// countingBody counts the request body bytes read, for metrics and logs,
// and enforces --body-read-timeout: each read must bring bytes within
// timeout of its start, so a body that keeps coming is never cut, and one
// that stalls (a slow-loris client, an Expect: 100-continue never followed
// by its body) fails with a *body.TimeoutError instead of holding the
// request, its spool and its connection for as long as the client likes.
//
// net/http's Transport may still read the body from its write loop after
// the handler has returned; by then the connection may carry the client's
// next request, so deadlines are only touched while the handler runs.
type countingBody struct {
	io.ReadCloser
	n int64
	// deadline is the client connection's; nil when there is no timeout.
	deadline *http.ResponseController
	timeout  time.Duration

	mu       sync.Mutex
	finished bool // the handler returned: leave the connection alone
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.deadline != nil {
		b.withDeadline(func() { _ = b.deadline.SetReadDeadline(time.Now().Add(b.timeout)) })
	}
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if b.deadline != nil && err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = &body.TimeoutError{Limit: b.timeout}
		} else {
			// Done with the body: net/http now reads the connection in the
			// background to notice a client that goes away, and a deadline
			// left behind would end a long response (a Lambda invoke) as
			// if the client had.
			b.withDeadline(func() { _ = b.deadline.SetReadDeadline(time.Time{}) })
		}
	}
	return n, err
}

// withDeadline runs set unless the handler has returned.
func (b *countingBody) withDeadline(set func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished {
		set()
	}
}

// handlerDone is called as the handler returns.
func (b *countingBody) handlerDone() {
	b.mu.Lock()
	b.finished = true
	b.mu.Unlock()
}

// rewrite builds the outbound request. httputil.ReverseProxy has already
// removed hop-by-hop headers, those named in Connection, and X-Forwarded-*
// from it, and re-encoded its query when the query held a ';' or a
// malformed escape, dropping those pairs: the request target is set here
// from the client's bytes instead (requestTarget), so the query and path go
// out, and are signed, exactly as the client sent them.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	x := exchangeFrom(pr.In.Context())
	out := pr.Out
	if p.c.upstream != nil {
		pr.SetURL(p.c.upstream)
	} else {
		out.URL.Scheme = x.route.Scheme
		out.URL.Host = x.route.Host
		out.URL.User = nil
		out.Host = ""
	}
	if x.route.SignHost != "" {
		out.Host = x.route.SignHost
	}
	setWirePath(out.URL, x.target.path)
	out.URL.RawQuery = x.target.query
	out.URL.ForceQuery = x.target.forceQuery
	p.c.preserveAuthorization(out.Header)
	for _, h := range ownAuthHeaders {
		out.Header.Del(h)
	}
	p.c.stripHeaders(out.Header)
	for _, h := range p.addHeaders {
		out.Header[h.Name] = []string{h.Value}
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		// Keep net/http from adding its own.
		out.Header["User-Agent"] = []string{""}
	}
}

func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeFrom(r.Context())
	err = clientBodyRefusal(x, err)
	_, code := writeError(w, err)
	if x != nil {
		x.errCode = code
	}
	status, _, message := errorResponse(err)
	if status >= 500 {
		p.log.Warn("upstream request failed", "host", r.Host, "code", code, "error", message)
	}
}

// noteResponse records the upstream's request id for the log. It changes
// no response but a 101's body (switchedProtocols).
func (p *Proxy) noteResponse(resp *http.Response) error {
	x := exchangeFrom(resp.Request.Context())
	if x != nil {
		x.requestID = awsRequestID(resp.Header)
	}
	p.switchedProtocols(resp, x)
	return nil
}

func awsRequestID(h http.Header) string {
	for _, k := range []string{"X-Amz-Request-Id", "X-Amzn-Requestid", "X-Amzn-Request-Id", "X-Amz-Id-2"} {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// responseRecorder notes the status and size written, for the request log,
// and flushes every write of an event stream. Unwrap lets
// http.ResponseController reach the real writer's Flush.
type responseRecorder struct {
	http.ResponseWriter
	status  int
	written int64
	// flushEach is set for an event stream: its header and every write go
	// to the client at once, whatever its length.
	flushEach bool
}

func (r *responseRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
		r.flushEach = isEventStream(r.Header()["Content-Type"])
	}
	lowerMetadataNames(r.Header())
	r.ResponseWriter.WriteHeader(code)
	if r.flushEach {
		r.Flush()
	}
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.written += int64(n)
	if r.flushEach && err == nil {
		r.Flush()
	}
	return n, err
}

// metaPrefix is how net/http spells the start of an S3 user-metadata
// header name once it has canonicalized it (reading the upstream's answer,
// and again in httputil.ReverseProxy's header copy).
const metaPrefix = "X-Amz-Meta-"

// lowerMetadataNames renames the X-Amz-Meta-* headers of h to lower case,
// as S3 sends them: it stores metadata names in lower case, and clients
// take the name from the header (the AWS CLI showed {"My-Key": "v"} for
// x-amz-meta-my-key). Every other name goes out as net/http writes it: HTTP
// names are case-insensitive, and only these carry data in their spelling.
// The map is changed in place, by direct assignment, which net/http's
// server writes as it is. Issue 14, item 5.
func lowerMetadataNames(h http.Header) {
	for k, v := range h {
		if len(k) > len(metaPrefix) && k[:len(metaPrefix)] == metaPrefix {
			lower := strings.ToLower(k)
			delete(h, k)
			h[lower] = append(h[lower], v...)
		}
	}
}

// isEventStream reports whether a response's Content-Type values name a
// stream of events the client must see as they come, even when the
// upstream announced its length: AWS event streams (Bedrock, Lambda
// InvokeWithResponseStream, Transcribe, Kinesis SubscribeToShard, S3
// SelectObjectContent) and server-sent events.
func isEventStream(contentType []string) bool {
	if len(contentType) == 0 {
		return false
	}
	mediaType, _, _ := strings.Cut(contentType[0], ";")
	mediaType = strings.TrimSpace(mediaType)
	return strings.EqualFold(mediaType, "application/vnd.amazon.eventstream") || strings.EqualFold(mediaType, "text/event-stream")
}

func (r *responseRecorder) Flush() {
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

func (r *responseRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var _ http.Flusher = (*responseRecorder)(nil)

// bufferPool recycles the 32 KiB buffers responses are copied through, so a
// large download costs no garbage per chunk.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

var _ httputil.BufferPool = bufferPool{}
