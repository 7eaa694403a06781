package sidecar

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Proxy is the signing reverse proxy: an http.Handler that routes each
// request (fixed upstream or its own host), signs it in its Transport and
// streams the response back. Safe for concurrent use.
type Proxy struct {
	c         *compiled
	log       *slog.Logger
	rp        *httputil.ReverseProxy
	transport *Transport
	base      *http.Transport
	watch     *signatureWatch // diagnostics.go
}

var _ http.Handler = (*Proxy)(nil)

// New builds a Proxy from cfg, which it validates. src supplies credentials
// for every request; log receives one line per request and never a secret.
func New(cfg Config, src creds.Source, log *slog.Logger) (*Proxy, error) {
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
	base, err := newBaseTransport(c)
	if err != nil {
		return nil, err
	}
	p := &Proxy{c: c, log: log, base: base}
	p.transport = &Transport{Base: base, Signer: signer.New(nil), Credentials: src, c: c}
	p.watch = watchSignatures(p.transport, cfg.DebugSigning, log)
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: p.transport,
		// Flush every write: event streams, Lambda response streaming and
		// Bedrock streams must reach the client as their bytes arrive.
		FlushInterval:  -1,
		ErrorHandler:   p.proxyError,
		ModifyResponse: p.noteResponse,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BufferPool:     bufferPool{},
	}
	return p, nil
}

// Transport returns the signing transport, so a caller can wrap its Base
// (retries, breaker, metrics) before serving. Not safe to change while
// requests are in flight.
func (p *Proxy) Transport() *Transport { return p.transport }

// Close releases idle upstream connections.
func (p *Proxy) Close() { p.base.CloseIdleConnections() }

// ServeHTTP routes, signs and forwards r, or answers it with the proxy's own
// error when it cannot be forwarded signed.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &responseRecorder{ResponseWriter: w}
	x := &exchange{}
	defer func() {
		if x.spool != nil {
			x.spool.Close()
		}
		p.logRequest(r, x, rec, time.Since(start))
	}()
	if rejected, ok := r.Context().Value(smugglingKey{}).(*connInspector); ok && rejected.takeConflict(r.Method, r.RequestURI) {
		_, x.errCode = writeError(rec, &RequestError{Code: CodeBadRequest, Message: "the request has both Content-Length and Transfer-Encoding (RFC 9112 section 6.3): send one of them"})
		return
	}
	route, err := p.route(r)
	if err != nil {
		_, x.errCode = writeError(rec, err)
		return
	}
	x.route = route
	// Keep the upstream's Content-Type exactly: without this net/http
	// would sniff one when the upstream sent none.
	rec.Header()["Content-Type"] = nil
	p.rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x)))
}

// rewrite builds the outbound request. httputil.ReverseProxy has already
// removed hop-by-hop headers, those named in Connection, and X-Forwarded-*
// from it.
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
	out.URL.RawQuery = stripPresignParams(out.URL.RawQuery)
	out.URL.ForceQuery = false
	for _, h := range ownAuthHeaders {
		out.Header.Del(h)
	}
	p.c.stripHeaders(out.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		// Keep net/http from adding its own.
		out.Header["User-Agent"] = []string{""}
	}
}

func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	x := exchangeFrom(r.Context())
	_, code := writeError(w, err)
	if x != nil {
		x.errCode = code
	}
	status, _, message := errorResponse(err)
	if status >= 500 {
		p.log.Warn("upstream request failed", "host", r.Host, "code", code, "error", message)
	}
}

// noteResponse records the upstream's request id for the log. It does not
// change the response.
func (p *Proxy) noteResponse(resp *http.Response) error {
	if x := exchangeFrom(resp.Request.Context()); x != nil {
		x.requestID = awsRequestID(resp.Header)
	}
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

func (p *Proxy) logRequest(r *http.Request, x *exchange, rec *responseRecorder, d time.Duration) {
	status := rec.status
	if status == 0 {
		status = 499 // the client went away before any answer
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.String("service", x.route.Service),
		slog.String("region", x.route.Region),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int64("bytes_out", rec.written),
	}
	if x.payload != "" {
		attrs = append(attrs, slog.String("payload", x.payload))
	}
	if x.requestID != "" {
		attrs = append(attrs, slog.String("aws_request_id", x.requestID))
	}
	level := slog.LevelInfo
	if x.errCode != "" {
		attrs = append(attrs, slog.String("error_code", x.errCode))
		level = slog.LevelWarn
	}
	p.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// responseRecorder notes the status and size written, for the request log.
// Unwrap lets http.ResponseController reach the real writer's Flush.
type responseRecorder struct {
	http.ResponseWriter
	status  int
	written int64
}

func (r *responseRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.written += int64(n)
	return n, err
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
