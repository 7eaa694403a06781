package sidecar

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/diagnose"
	"github.com/sigv4-sidecar/sigv4-sidecar/sidecar/resilience"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// Diagnosis of signature rejections (issue 8): when an upstream answers
// SignatureDoesNotMatch, InvalidSignatureException, IncompleteSignature or
// AuthorizationHeaderMalformed, log what package diagnose makes of it, with
// our canonical request and, when the error body carries the server's, the
// diff; count every rejection by cause. With --debug-signing, log every
// request's canonical request and string to sign.

const (
	// diagnosisPrefix is how much of an error body is kept for diagnosis:
	// S3's and versitygw's SignatureDoesNotMatch bodies are a few KiB.
	diagnosisPrefix = 64 << 10
	// diagnosisLogEvery rate-limits the log: once per distinct cause.
	diagnosisLogEvery = time.Minute
	// maxDiagnosisCauses bounds the rate limiter's memory.
	maxDiagnosisCauses = 1024
)

// signatureWatcher is the layer of the outbound chain right below the
// signer: it sees every signed request and its response. It never changes
// either: an error body reaches the client byte for byte, and is only copied
// (a bounded prefix) as the client reads it. Safe for concurrent use.
type signatureWatcher struct {
	next   http.RoundTripper
	log    *slog.Logger
	debug  bool
	signer *signer.Signer
	now    func() time.Time
	// hidden is the lowercase name of the header whose value never
	// reaches a log (--preserve-authorization-as); "" for none.
	hidden string

	onRejected atomic.Pointer[func(awsCode, cause string)]

	mu     sync.Mutex
	logged map[string]time.Time // cause -> last logged
	counts map[string]uint64    // cause -> rejections
}

var _ http.RoundTripper = (*signatureWatcher)(nil)

// newSignatureWatcher returns a signatureWatcher over next. debug logs every
// request's canonical request and string to sign (--debug-signing).
func newSignatureWatcher(next http.RoundTripper, debug bool, log *slog.Logger) *signatureWatcher {
	return &signatureWatcher{
		next: next, log: log, debug: debug, signer: signer.New(nil), now: time.Now,
		logged: map[string]time.Time{}, counts: map[string]uint64{},
	}
}

// OnSignatureRejected registers f, called once for every upstream answer
// that rejects a signature, with the AWS error code and the diagnosed
// cause (a diagnose.ProblemCode): the hook a metric counts with. Safe to
// call at any time; nil removes the hook.
func (p *Proxy) OnSignatureRejected(f func(awsCode, cause string)) {
	if f == nil {
		p.watcher.onRejected.Store(nil)
		return
	}
	p.watcher.onRejected.Store(&f)
}

// SignatureRejections returns how many upstream answers rejected a
// signature since start, by diagnosed cause. The caller owns the map.
func (p *Proxy) SignatureRejections() map[string]uint64 {
	p.watcher.mu.Lock()
	defer p.watcher.mu.Unlock()
	out := make(map[string]uint64, len(p.watcher.counts))
	for k, v := range p.watcher.counts {
		out[k] = v
	}
	return out
}

func (w *signatureWatcher) RoundTrip(req *http.Request) (*http.Response, error) {
	hash := payloadHashOf(req)
	if w.debug {
		w.logSigned(req, hash)
	}
	resp, err := w.next.RoundTrip(req)
	if err != nil || !mayRejectSignature(resp.StatusCode) {
		return resp, err
	}
	// The circuit breaker below has classified this answer already: its
	// code (from the headers or the body's first bytes) comes from the
	// request's exchange, without a second read.
	code := resilience.ExchangeFrom(req.Context()).Outcome(resp).Code
	if code != "" && !awserror.IsSignatureRejection(code) {
		return resp, nil
	}
	status := resp.StatusCode
	if resp.Body == nil || resp.Body == http.NoBody {
		w.report(req, status, code, nil, hash)
		return resp, nil
	}
	resp.Body = &prefixTee{ReadCloser: resp.Body, limit: diagnosisPrefix, done: func(prefix []byte) {
		w.report(req, status, code, prefix, hash)
	}}
	return resp, nil
}

// mayRejectSignature: AWS answers 403 to a bad signature, 400 to a
// malformed Authorization header (S3's AuthorizationHeaderMalformed), and
// some gateways 401.
func mayRejectSignature(status int) bool {
	return status == http.StatusForbidden || status == http.StatusBadRequest || status == http.StatusUnauthorized
}

// payloadHashOf is the payload hash the signer signed req with: its
// X-Amz-Content-Sha256, the spooled body's hash, or the empty-body hash; ""
// when unknown. It must run before the response, while the spool is open.
func payloadHashOf(req *http.Request) string {
	if h := req.Header.Get("X-Amz-Content-Sha256"); h != "" {
		return h
	}
	if x := exchangeFrom(req.Context()); x != nil && x.spool != nil && x.spool.Size() > 0 {
		return x.spool.Sum()
	}
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return signer.EmptyPayloadHash
	}
	return ""
}

// logSigned logs req's canonical request and string to sign, recomputed
// from the signed request (they need no secret).
func (w *signatureWatcher) logSigned(req *http.Request, hash string) {
	if hash == "" {
		return
	}
	res, err := w.signer.Recompute(req, hash)
	if err != nil {
		w.log.Warn("debug-signing: cannot recompute the canonical request", "host", req.Host, "error", err.Error())
		return
	}
	w.log.Info("signed request", "method", req.Method, "host", hostOf(req), "path", req.URL.EscapedPath(),
		"scope", res.Scope, "signed_headers", res.SignedHeaders,
		"canonical_request", diagnose.RedactCanonicalRequest(w.hide(req, res.CanonicalRequest)), "string_to_sign", res.StringToSign)
}

func hostOf(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// report diagnoses one rejection, counts it, and logs it unless the same
// cause was logged within diagnosisLogEvery. code is the answer's
// classified code, for a body that carries none.
func (w *signatureWatcher) report(req *http.Request, status int, code string, body []byte, hash string) {
	e, _ := awserror.Parse(body)
	if e.Code == "" {
		e.Code = code
	}
	if !awserror.IsSignatureRejection(e.Code) {
		return
	}
	var ours signer.Result
	var cmp diagnose.Comparison
	oursKnown := false
	if hash != "" {
		if r, err := w.signer.Recompute(req, hash); err == nil {
			ours, oursKnown = r, true
			ours.CanonicalRequest, e.CanonicalRequest = w.hide(req, ours.CanonicalRequest), w.hide(req, e.CanonicalRequest)
			cmp = diagnose.CompareWithServer(ours, e)
		}
	}
	problems := diagnose.MergeProblems(diagnose.Answer(e), cmp.Problems)
	cause := string(diagnose.CodeSignatureMismatch)
	causes := make([]string, 0, len(problems))
	for _, p := range problems {
		causes = append(causes, string(p.Code))
	}
	if len(causes) > 0 {
		cause = causes[0]
	}
	if f := w.onRejected.Load(); f != nil {
		(*f)(e.Code, cause)
	}
	key := e.Code + " " + strings.Join(causes, ",")
	now := w.now()
	w.mu.Lock()
	w.counts[cause]++
	last, seen := w.logged[key]
	if seen && now.Sub(last) < diagnosisLogEvery {
		w.mu.Unlock()
		return
	}
	if len(w.logged) >= maxDiagnosisCauses {
		clear(w.logged)
	}
	w.logged[key] = now
	w.mu.Unlock()

	attrs := []any{
		"aws_code", e.Code, "status", status, "method", req.Method, "host", hostOf(req), "path", req.URL.EscapedPath(),
		"causes", strings.Join(causes, ","), "aws_message", w.hide(req, e.SafeMessage()),
	}
	for i, p := range problems {
		attrs = append(attrs, slog.Group("cause_"+strconv.Itoa(i+1), "code", string(p.Code), "what", p.Message, "fix", Advice(p.Code)))
	}
	if oursKnown {
		attrs = append(attrs, "canonical_request", diagnose.RedactCanonicalRequest(ours.CanonicalRequest), "string_to_sign", ours.StringToSign)
	}
	if len(cmp.Diff) > 0 {
		attrs = append(attrs, "first_difference", cmp.Part, "canonical_request_diff", diagnose.FormatDiff(cmp.Diff))
	}
	if e.RequestID != "" {
		attrs = append(attrs, "aws_request_id", e.RequestID)
	}
	w.log.Warn("upstream rejected the signature (logged once a minute per cause; see `sigv4-sidecar diagnose`)", attrs...)
}

// prefixTee passes a response body through untouched while keeping its
// first limit bytes; done gets them once, at the body's end or close,
// whichever comes first.
type prefixTee struct {
	io.ReadCloser
	limit  int
	prefix []byte
	once   sync.Once
	done   func(prefix []byte)
}

func (t *prefixTee) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if room := t.limit - len(t.prefix); room > 0 && n > 0 {
		t.prefix = append(t.prefix, p[:min(n, room)]...)
	}
	if err != nil {
		t.finish()
	}
	return n, err
}

func (t *prefixTee) Close() error {
	err := t.ReadCloser.Close()
	t.finish()
	return err
}

func (t *prefixTee) finish() {
	t.once.Do(func() { t.done(t.prefix) })
}
