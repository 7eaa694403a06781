package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/creds"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/body"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/resilience"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// exchange is the proxy's state for one request, shared by the handler, the
// Rewrite function and every layer of the outbound chain (chain.go) through
// the request context. Layers run one after the other on the request's
// goroutine, so it needs no lock.
type exchange struct {
	// Exchange is what the layers tell each other about the attempts in
	// flight: the attempt number, and each answer's outcome, classified
	// once (resilience.Exchange).
	resilience.Exchange
	route Route
	// target is the path and query forwarded: the client's bytes.
	target target
	// spool is the buffered body, if the signer had to buffer it. The
	// handler closes it after the response, so a retry can replay it with
	// GetBody.
	spool *body.Spool
	// payload is how the body was signed, for the request log.
	payload string
	// requestID is the upstream's request id, for the request log.
	requestID string
	errCode   string
	// attempts counts the requests signed and sent upstream.
	attempts int
	// credentialRetried is set once a request has been re-sent with fresh
	// credentials after the upstream rejected the first ones.
	credentialRetried bool
	// chunked is the aws-chunked form the client sent its body in, if any
	// (awschunked.go).
	chunked clientChunked
	// upgraded is the upstream side of the connection once the upstream
	// switched protocols (upgrade.go); nil otherwise.
	upgraded *upgradedConn
	// clientSig is set when the client signed the request with a client
	// key and the proxy verified it (clientkeys.go).
	clientSig *clientSignature
}

type exchangeKey struct{}

// withExchange returns a copy of ctx that carries x: the whole of it for the
// proxy's own layers, and its resilience.Exchange for the retrier and the
// circuit breaker, which know nothing of routes and spools.
func withExchange(ctx context.Context, x *exchange) context.Context {
	return resilience.WithExchange(context.WithValue(ctx, exchangeKey{}, x), &x.Exchange)
}

func exchangeFrom(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// RequestSigner is the layer of the outbound chain that signs each request
// at the last moment, after every header is final, then sends it with Next.
// It takes ownership of the outbound request it is given (httputil.ReverseProxy,
// or the retrier, hands it a private clone) and modifies it in place: body
// framing, X-Amz-* headers and Authorization. It never sends a request it
// could not sign. Safe for concurrent use.
//
// A request the route gives an S3 Express directory bucket is signed with
// the bucket's session instead of the proxy's credentials (express.go).
//
// When the upstream answers with an error code that says the credentials
// themselves were rejected (awserror.IsCredentialRejection), it invalidates
// them (or the session) and, if the body can be replayed, signs the request
// again with fresh ones and sends it once more.
type RequestSigner struct {
	// Next sends the signed request.
	Next http.RoundTripper
	// Signer signs it.
	Signer *signer.Signer
	// Credentials is asked for the current keys on every request.
	Credentials creds.Source
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnSigned, if set, is told how long each signature took.
	OnSigned func(ctx context.Context, service string, d time.Duration)

	c *compiled
	// sessions holds the S3 Express sessions requests to directory
	// buckets are signed with, and createSession makes one (express.go).
	sessions      *creds.Sessions
	createSession func(ctx context.Context, route Route) (creds.Credentials, error)
}

var _ http.RoundTripper = (*RequestSigner)(nil)

// RoundTrip signs req and sends it. Errors it returns before sending are
// typed (see errorResponse); nothing unsigned ever leaves.
func (t *RequestSigner) RoundTrip(req *http.Request) (*http.Response, error) {
	x := exchangeFrom(req.Context())
	if x == nil {
		// Fail closed: a request that did not come through the handler
		// has no route and must not go anywhere.
		closeBody(req)
		return nil, &RequestError{Code: CodeBadRequest, Message: "request reached the signing transport without a route"}
	}
	unsignedHeader, unsignedQuery := req.Header.Clone(), req.URL.RawQuery
	c, err := t.credentials(req, x)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	signingTime := now()
	if c.Expired(signingTime) {
		closeBody(req)
		return nil, &CredentialsError{Err: fmt.Errorf("%w: credentials from %s expired at %s", creds.ErrNoCredentials, c.Source, c.Expires.UTC().Format(time.RFC3339))}
	}
	unsignedBase := t.c.unsignedHeader
	if x.clientSig != nil {
		// A re-signed request: every header the client signed stays
		// signed, with those the proxy always signs.
		signed := x.clientSig.signed
		unsignedBase = func(name string) bool { return !signed[name] && t.c.unsignedHeader(name) }
	}
	unsigned, err := UnsignedForValues(req.Header, unsignedBase)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	keys := SigningKeys(c)
	opts := signer.Options{
		Service:         x.route.Service,
		Region:          x.route.Region,
		Time:            signingTime,
		UnsignedHeaders: unsigned,
	}
	if len(x.route.RegionSet) > 0 {
		opts.Algorithm, opts.RegionSet = signer.SigV4a, x.route.RegionSet
	}
	s3 := signer.IsS3Family(x.route.Service)

	plan, err := t.prepareBody(req, x, s3)
	if err != nil {
		return nil, err
	}
	x.payload = plan.mode
	signStart := time.Now()
	down := req
	if plan.streaming {
		if _, err := t.Signer.SignStreaming(req, keys, opts, plan.stream); err != nil {
			closeBody(req)
			return nil, err
		}
		// net/http must never replay GetBody's decoded bytes under the
		// encoded length, so the request sent has none; the caller's keeps
		// it, for a retry layer that comes back here to re-sign.
		sent := *req
		sent.GetBody = nil
		down = &sent
	} else if upgradeSignedInQuery(req, x.route.Service) {
		opts.PayloadHash = signer.EmptyPayloadHash
		opts.UnsignedHeaders = func(name string) bool { return name != "host" }
		if _, err := t.Signer.Presign(req, keys, opts, presignedUpgradeExpiry); err != nil {
			closeBody(req)
			return nil, err
		}
	} else {
		opts.PayloadHash = plan.hash
		if plan.mode == "empty" && !plan.declared {
			opts.PayloadHash = EmptyPayloadHash(x.route.Service)
		}
		// A re-signed request sends the X-Amz-Content-Sha256 its client
		// declared (clientkeys.go).
		opts.SetContentSHA256 = t.c.cfg.SendsContentSHA256(x.route.Service, opts.PayloadHash) || plan.declared
		if _, err := t.Signer.Sign(req, keys, opts); err != nil {
			closeBody(req)
			return nil, err
		}
	}
	if t.OnSigned != nil {
		t.OnSigned(req.Context(), x.route.Service, time.Since(signStart))
	}
	if req.Header.Get("Authorization") == "" && !strings.Contains(req.URL.RawQuery, "X-Amz-Signature=") {
		closeBody(req)
		return nil, &signer.SigningError{Field: "request", Reason: "signer left no Authorization header"}
	}
	x.attempts++
	resp, err := t.Next.RoundTrip(down)
	if err != nil || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		return resp, err
	}
	if code := x.Outcome(resp).Code; awserror.IsCredentialRejection(code) {
		// The keys themselves were refused: the source fetches fresh ones.
		t.invalidate(x, c)
		replayable := plan.mode == "empty" || (x.spool != nil && req.GetBody != nil)
		if replayable && !x.credentialRetried && req.Context().Err() == nil {
			x.credentialRetried = true
			again := req.Clone(req.Context())
			again.Header = unsignedHeader
			again.URL.RawQuery = unsignedQuery // a presigned upgrade's
			again.Body, again.ContentLength = nil, 0
			if plan.mode != "empty" {
				again.Body, again.ContentLength = x.spool.Reader(), x.spool.Size()
			}
			drain(resp)
			return t.RoundTrip(again)
		}
	}
	return resp, nil
}

// drain reads a little of a discarded answer so its connection can be
// reused, then closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// bodyPlan is how one request body is framed and signed.
type bodyPlan struct {
	mode      string // for logs: empty, unsigned, signed, chunked, client-aws-chunked[-resigned]
	hash      string // payload hash when not streaming
	streaming bool   // aws-chunked, encoded by SignStreaming
	stream    signer.StreamingOptions
	// declared: the client declared its X-Amz-Content-Sha256, which is
	// sent and signed again (a re-signed request, clientkeys.go).
	declared bool
}

// prepareBody chooses how req's body is signed (see --payload) and frames it
// for the upstream: a body that must be hashed, or whose length must be
// known, is spooled and replaced by a replayable reader with an exact
// Content-Length. S3 rejects plain chunked uploads, so an S3 body of
// unknown length is always spooled. A client's own aws-chunked body is
// framed as its form says, whatever --payload (awschunked.go).
func (t *RequestSigner) prepareBody(req *http.Request, x *exchange, s3 bool) (bodyPlan, error) {
	if x.chunked.payload != "" {
		if err := refuseChunkedSigV4a(x.route, x.chunked); err != nil {
			closeBody(req)
			return bodyPlan{}, err
		}
		if err := refuseClientChunked(x.route.Service, x.chunked.payload); err != nil {
			closeBody(req)
			return bodyPlan{}, err
		}
		return t.prepareClientChunked(req, x.chunked, x.clientSig != nil)
	}
	if x.clientSig != nil {
		return t.prepareClientSigned(req, x)
	}
	cfg := t.c.cfg
	maxBody := int64(cfg.MaxBody)
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		closeBody(req)
		req.Body, req.ContentLength, req.GetBody = nil, 0, nil
		return bodyPlan{mode: "empty", hash: signer.EmptyPayloadHash}, nil
	}
	if req.ContentLength > maxBody {
		closeBody(req)
		return bodyPlan{}, &body.TooLargeError{Limit: maxBody}
	}
	known := req.ContentLength > 0
	mode := cfg.PayloadMode(req, x.route.Service)
	if len(x.route.RegionSet) > 0 {
		mode = SigV4aPayloadMode(mode)
	}
	switch {
	case mode == PayloadUnsigned && (known || !s3):
		if !known {
			req.Body = body.Limit(req.Body, maxBody)
		}
		return bodyPlan{mode: PayloadUnsigned, hash: signer.UnsignedPayload}, nil
	case mode == PayloadChunked && known:
		return bodyPlan{mode: PayloadChunked, streaming: true, stream: signer.StreamingOptions{DecodedLength: req.ContentLength}}, nil
	}
	// Hash it, or learn its length: spool, unless it is a replay of this
	// request's spool already (a retry that re-signs).
	sp := x.spool
	if !sp.Replays(req.Body) {
		var err error
		sp, err = body.NewSpool(req.Body, req.ContentLength, body.Limits{Memory: int64(cfg.BodyMemory), Max: maxBody, Dir: cfg.SpoolDir,
			MemoryTotal: t.c.bodyBudget, DiskTotal: t.c.spoolBudget})
		closeBody(req)
		if err != nil {
			return bodyPlan{}, err
		}
		if x.spool != nil {
			x.spool.Close()
		}
		x.spool = sp
	}
	req.Body = sp.Reader()
	req.GetBody = func() (io.ReadCloser, error) { return sp.Reader(), nil }
	req.ContentLength = sp.Size()
	req.TransferEncoding = nil
	req.Header.Del("Transfer-Encoding")
	if sp.Size() == 0 {
		req.Body, req.GetBody = nil, nil
		return bodyPlan{mode: "empty", hash: signer.EmptyPayloadHash}, nil
	}
	if mode == PayloadChunked {
		return bodyPlan{mode: PayloadChunked, streaming: true, stream: signer.StreamingOptions{DecodedLength: sp.Size()}}, nil
	}
	// Having read the whole body anyway, sign its hash: stronger than
	// UNSIGNED-PAYLOAD and accepted everywhere.
	return bodyPlan{mode: PayloadSigned, hash: sp.Sum()}, nil
}

// isObjectUpload reports whether req is an S3 PutObject or UploadPart: a PUT
// whose query names no subresource but the part's (?tagging, ?acl, ...
// carry small documents other operations parse).
func isObjectUpload(req *http.Request) bool {
	if req.Method != http.MethodPut {
		return false
	}
	for _, part := range strings.Split(req.URL.RawQuery, "&") {
		key, _, _ := strings.Cut(part, "=")
		switch key {
		case "", "partNumber", "uploadId", "x-id":
		default:
			return false
		}
	}
	return true
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// newBaseTransport is the pooled, HTTP/2-capable transport that carries
// signed requests. It never adds headers after signing: compression is off
// (the response also passes through as the upstream sent it) and no proxy
// from the environment is used (it would bypass the address checks).
func newBaseTransport(c *compiled) (*http.Transport, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if len(c.caPEM) > 0 && !roots.AppendCertsFromPEM(c.caPEM) {
		return nil, optionError("UpstreamCAFile", c.cfg.UpstreamCAFile, "holds no usable PEM certificate")
	}
	tlsConfig := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if c.upstream != nil && c.cfg.SignHost != "" {
		name := c.cfg.SignHost
		if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		}
		tlsConfig.ServerName = name
	}
	d := &dialer{c: c, net: net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}, resolver: net.DefaultResolver}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            c.upstreamConns.dial(d.DialContext),
		TLSClientConfig:        tlsConfig,
		TLSHandshakeTimeout:    c.cfg.DialTimeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           c.cfg.MaxIdleConns,
		MaxIdleConnsPerHost:    c.cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  c.cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
	}, nil
}

// SigningKeys is the part of c the signer uses: package creds and package
// signer know nothing of each other, so the proxy and its subcommands
// convert here.
func SigningKeys(c creds.Credentials) signer.Credentials {
	return signer.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
}
