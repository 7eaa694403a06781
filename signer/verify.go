package signer

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VerifyOptions say how Verify judges a request.
type VerifyOptions struct {
	// Now is the verifier's current time. Required: the package has no clock.
	Now time.Time
	// MaxSkew is how far X-Amz-Date may be from Now for header-signed
	// requests (and before Now for presigned ones); 0 means 15 minutes, as AWS.
	MaxSkew time.Duration
	// Service and Region, when set, must match the credential scope (for
	// SigV4a: Region must be in X-Amz-Region-Set, or match a '*' pattern).
	Service, Region string
	// PayloadHash is assumed when the request has no X-Amz-Content-Sha256.
	// "" assumes EmptyPayloadHash for header-signed requests and
	// UnsignedPayload for presigned ones, unless HashBody.
	PayloadHash string
	// HashBody lets Verify read req.Body to hash it (and put it back) when
	// the request has no X-Amz-Content-Sha256; it also checks that a hex
	// X-Amz-Content-Sha256 matches the body.
	HashBody bool
	// DoubleEncodePath and NormalizePath override the per-service URI rules
	// as in Options.
	DoubleEncodePath, NormalizePath Setting
}

// Reason classifies why Verify rejected a request.
type Reason uint8

const (
	// ReasonMissing: no Authorization header and no X-Amz-Signature parameter.
	ReasonMissing Reason = iota + 1
	// ReasonMalformed: the Authorization header or the presign parameters cannot be parsed.
	ReasonMalformed
	// ReasonUnsupportedAlgorithm: neither AWS4-HMAC-SHA256 nor AWS4-ECDSA-P256-SHA256.
	ReasonUnsupportedAlgorithm
	// ReasonUnknownKey: the lookup does not know the access key id.
	ReasonUnknownKey
	// ReasonScopeMismatch: the credential scope's date, region, service or
	// terminator does not match X-Amz-Date or VerifyOptions.
	ReasonScopeMismatch
	// ReasonExpired: a presigned URL past its expiry, or a date too far in the past.
	ReasonExpired
	// ReasonNotYetValid: a date too far in the future.
	ReasonNotYetValid
	// ReasonUnsignedHeader: a header that must be signed (host, x-amz-*) is not.
	ReasonUnsignedHeader
	// ReasonPayloadMismatch: X-Amz-Content-Sha256 does not match the body.
	ReasonPayloadMismatch
	// ReasonSignatureMismatch: everything parses, the signature differs.
	ReasonSignatureMismatch
)

var reasonNames = [...]string{
	ReasonMissing:              "missing signature",
	ReasonMalformed:            "malformed authorization",
	ReasonUnsupportedAlgorithm: "unsupported algorithm",
	ReasonUnknownKey:           "unknown access key",
	ReasonScopeMismatch:        "credential scope mismatch",
	ReasonExpired:              "expired",
	ReasonNotYetValid:          "not yet valid",
	ReasonUnsignedHeader:       "required header not signed",
	ReasonPayloadMismatch:      "payload hash mismatch",
	ReasonSignatureMismatch:    "signature mismatch",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "unknown reason"
}

// VerifyError says why a request's signature was rejected. It never holds
// the expected signature or a key.
type VerifyError struct {
	Reason Reason
	// Detail names the offending part, e.g. `X-Amz-Date "2015..."`.
	Detail string
	// Result describes what the verifier computed (canonical request and
	// string to sign included), for diagnosis; zero before parsing succeeded.
	Result Result
}

func (e *VerifyError) Error() string {
	if e.Detail == "" {
		return "sigv4: " + e.Reason.String()
	}
	return "sigv4: " + e.Reason.String() + ": " + e.Detail
}

// Verify checks the SigV4 or SigV4a signature of a header-signed or presigned req,
// looking its secret up by access key id. Header-signed requests must carry
// X-Amz-Date (the Date header fallback some services accept is not
// supported). Presigned requests are checked on every query parameter but
// X-Amz-Signature, so a token added after signing does not verify. It returns a *VerifyError when the
// signature is not valid, naming the part that is wrong. It reads req.Body
// only with opts.HashBody (and then replaces it with an equivalent reader);
// it does not otherwise modify req. The Result carries the canonical
// request and string to sign the verifier computed. Safe for concurrent use.
func (s *Signer) Verify(req *http.Request, lookup func(accessKeyID string) (Credentials, bool), opts VerifyOptions) (Result, error) {
	res, _, err := s.verify(req, lookup, opts)
	return res, err
}

// verified is what a successful verification leaves for chunk checking.
type verified struct {
	key       *signingKey
	signature [64]byte
	amzDate   [16]byte
}

func (s *Signer) verify(req *http.Request, lookup func(accessKeyID string) (Credentials, bool), opts VerifyOptions) (Result, verified, error) {
	var v verified
	res, err := s.verifyInto(req, lookup, opts, &v)
	return res, v, err
}

func (s *Signer) verifyInto(req *http.Request, lookup func(accessKeyID string) (Credentials, bool), opts VerifyOptions, v *verified) (Result, error) {
	if req == nil || req.URL == nil {
		return Result{}, &VerifyError{Reason: ReasonMalformed, Detail: "nil request or URL"}
	}
	if opts.Now.IsZero() {
		return Result{}, &VerifyError{Reason: ReasonMalformed, Detail: "VerifyOptions.Now is zero (the signer has no clock)"}
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 15 * time.Minute
	}
	a, verr := parseAuth(req)
	if verr != nil {
		return Result{}, verr
	}
	if a.algorithm == AlgorithmV4a {
		return s.verifyV4a(req, &a, lookup, opts) // leaves v zero: no chunk chain
	}
	res := Result{Scope: a.scope, SignedHeaders: a.signedHeaders, Time: a.time}
	fail := func(r Reason, detail string) (Result, error) {
		return res, &VerifyError{Reason: r, Detail: detail, Result: res}
	}

	// Scope: date/region/service/aws4_request, matching X-Amz-Date and the verifier.
	parts := strings.Split(a.scope, "/")
	if len(parts) != 4 || parts[3] != "aws4_request" {
		return fail(ReasonMalformed, "credential scope "+strconv.Quote(a.scope)+" is not date/region/service/aws4_request")
	}
	if parts[0] != a.amzDate[:8] {
		return fail(ReasonScopeMismatch, "scope date "+parts[0]+" is not the date of X-Amz-Date "+a.amzDate)
	}
	if opts.Region != "" && parts[1] != opts.Region {
		return fail(ReasonScopeMismatch, "scope region "+strconv.Quote(parts[1])+", expected "+strconv.Quote(opts.Region))
	}
	if opts.Service != "" && parts[2] != opts.Service {
		return fail(ReasonScopeMismatch, "scope service "+strconv.Quote(parts[2])+", expected "+strconv.Quote(opts.Service))
	}

	if r, detail := a.checkTime(&opts); r != 0 {
		return fail(r, detail)
	}
	names, r, detail := a.signedHeaderNames()
	if r != 0 {
		return fail(r, detail)
	}

	sc := getScratch()
	defer sc.release()
	creds, absent, r, detail := sc.received(req, &a, parts[2], names, lookup, &opts)
	if r != 0 {
		return fail(r, detail)
	}
	res.CanonicalRequest = string(sc.creq)

	key := s.keys.get(keyID{
		accessKeyID: a.accessKeyID, secret: creds.SecretAccessKey,
		region: parts[1], service: parts[2], date: a.date,
	}, []byte(parts[0]))
	sc.sts = appendStringToSign(sc.sts[:0], []byte(a.amzDate), key.scope, sc.scratch[:])
	res.StringToSign = string(sc.sts)
	var sum [sha256.Size]byte
	sc.hmacSign(key, sc.sts, &sum)
	var want [64]byte
	hex.Encode(want[:], sum[:])
	if !hmac.Equal(want[:], []byte(a.signature)) {
		return fail(ReasonSignatureMismatch, mismatch("the request's signature does not match the one computed from its canonical request", absent))
	}
	v.key, v.signature = key, want
	copy(v.amzDate[:], a.amzDate)
	return res, nil
}

// received looks up the key a names, hashes the payload as opts say, and
// builds into sc the canonical request the client's signature must cover;
// absent names a signed header the request lacks. A non-zero Reason says
// why it could not.
func (sc *scratch) received(req *http.Request, a *authParts, service string, names []string, lookup func(accessKeyID string) (Credentials, bool), opts *VerifyOptions) (creds Credentials, absent string, r Reason, detail string) {
	creds, ok := lookup(a.accessKeyID)
	if !ok || creds.SecretAccessKey == "" {
		return creds, "", ReasonUnknownKey, "access key id " + strconv.Quote(a.accessKeyID)
	}
	payload, err := payloadHashFor(req, a.presigned, opts)
	if err != nil {
		return creds, "", ReasonPayloadMismatch, err.Error()
	}
	if absent, err = sc.receivedCanonicalRequest(req, a.presigned, service, names, payload, opts); err != nil {
		return creds, "", ReasonMalformed, err.Error()
	}
	return creds, absent, 0, ""
}

// mismatch is the detail of a signature that does not verify, naming a
// signed header the request lacks (the likeliest cause) when there is one.
func mismatch(detail, absent string) string {
	if absent != "" {
		detail += " (signed header " + absent + " is absent from the request)"
	}
	return detail
}

// checkTime says whether a's date is acceptable at opts.Now: header-signed
// within MaxSkew of Now; presigned from X-Amz-Date (less the skew) until
// X-Amz-Date + X-Amz-Expires. It returns 0 when it is.
func (a *authParts) checkTime(opts *VerifyOptions) (Reason, string) {
	if a.time.After(opts.Now.Add(opts.MaxSkew)) {
		return ReasonNotYetValid, "X-Amz-Date " + a.amzDate + " is more than " + opts.MaxSkew.String() + " after now " + opts.Now.UTC().Format(amzDateLayout)
	}
	if a.presigned {
		if end := a.time.Add(a.expires); opts.Now.After(end) {
			return ReasonExpired, "presigned URL expired at " + end.UTC().Format(amzDateLayout)
		}
	} else if a.time.Before(opts.Now.Add(-opts.MaxSkew)) {
		return ReasonExpired, "X-Amz-Date " + a.amzDate + " is more than " + opts.MaxSkew.String() + " before now " + opts.Now.UTC().Format(amzDateLayout)
	}
	return 0, ""
}

// signedHeaderNames splits a's SignedHeaders and checks that they are a
// sorted list of distinct lowercase names including host (and x-amz-date
// when header-signed). The Reason is 0 when they are.
func (a *authParts) signedHeaderNames() ([]string, Reason, string) {
	names := strings.Split(a.signedHeaders, ";")
	if !slices.IsSorted(names) || slices.Contains(names, "") || len(slices.Compact(slices.Clone(names))) != len(names) {
		return nil, ReasonMalformed, "SignedHeaders " + strconv.Quote(a.signedHeaders) + " is not a sorted list of distinct names"
	}
	for _, n := range names {
		if n != strings.ToLower(n) {
			return nil, ReasonMalformed, "SignedHeaders " + strconv.Quote(a.signedHeaders) + " is not lowercase"
		}
	}
	if !slices.Contains(names, "host") {
		return nil, ReasonUnsignedHeader, "host is not in SignedHeaders"
	}
	if !a.presigned && !slices.Contains(names, "x-amz-date") {
		return nil, ReasonUnsignedHeader, "x-amz-date is not in SignedHeaders"
	}
	return names, 0, ""
}

// receivedCanonicalRequest builds in sc the canonical request of req as
// received, signed with the headers names, for service and payload. A
// presigned request's canonical query has every parameter but
// X-Amz-Signature. It returns the first signed header absent from req, if
// any, for the diagnosis of a mismatch.
func (sc *scratch) receivedCanonicalRequest(req *http.Request, presigned bool, service string, names []string, payload string, opts *VerifyOptions) (absent string, err error) {
	double, normalize := rules(service, opts.DoubleEncodePath, opts.NormalizePath)
	var drop func(string) bool
	if presigned {
		drop = func(k string) bool { return k == "X-Amz-Signature" }
	}
	canonReq := req
	if u := receivedPath(req.URL); u != nil && req.RequestURI != "" {
		r := *req
		r.URL = u
		canonReq = &r
	}
	if err := sc.uriAndQuery(canonReq, double, normalize, drop); err != nil {
		return "", err
	}
	sc.query = sc.appendCanonicalQuery(sc.query[:0])
	sc.signed, sc.canon = sc.signed[:0], sc.canon[:0]
	hs := make([]header, 0, len(names))
	for _, n := range names {
		h := header{name: n}
		switch n {
		case "host":
			h.value = req.Host
			if h.value == "" {
				h.value = req.URL.Host
			}
		default:
			for _, k := range sortedKeys(req.Header) {
				if strings.EqualFold(k, n) {
					h.values = append(h.values, req.Header[k]...)
				}
			}
			if h.values == nil {
				if n == "content-length" && req.ContentLength >= 0 {
					h.value = strconv.FormatInt(req.ContentLength, 10)
				} else if absent == "" {
					absent = n
				}
			}
		}
		hs = append(hs, h)
	}
	sc.sortHeaders(hs) // already sorted by name; fills sc.order
	sc.appendHeaders(hs)
	sc.finishCanonicalRequest(req.Method, payload)
	return absent, nil
}

const amzDateLayout = "20060102T150405Z"

// authParts is what a request says about its own signature.
type authParts struct {
	presigned                         bool
	algorithm                         string // Algorithm or AlgorithmV4a
	accessKeyID, scope, signedHeaders string
	signature, amzDate                string
	time                              time.Time
	date                              uint32
	expires                           time.Duration
}

// parseAuth reads the Authorization header, or the presign parameters when
// the request has none, with ParseAuthorization or ParsePresigned, and
// refuses what the verifier cannot go on with: another algorithm
// (ReasonUnsupportedAlgorithm), a header it cannot read, no credential, no
// signed headers, a signature that is not 64 lowercase hex digits (for
// SigV4a: not the hex of an ECDSA signature), no X-Amz-Date
// (ReasonMalformed). The scope, the signed headers' order and
// host are judged later, against the request.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#add-signature-to-request
func parseAuth(req *http.Request) (authParts, *VerifyError) {
	var a authParts
	malformed := func(d string) (authParts, *VerifyError) {
		return a, &VerifyError{Reason: ReasonMalformed, Detail: d}
	}
	var parsed Authorization
	var defects []AuthorizationDefect
	if auth := req.Header.Get("Authorization"); auth != "" {
		parsed, defects = ParseAuthorization(auth)
		if d, ok := unsupportedAlgorithm(parsed, defects); ok {
			return a, &VerifyError{Reason: ReasonUnsupportedAlgorithm, Detail: "Authorization: " + d.Message}
		}
		if d, ok := unreadable(parsed, defects); ok {
			return malformed("Authorization: " + d.Message)
		}
		if a.amzDate = req.Header.Get("X-Amz-Date"); a.amzDate == "" {
			return malformed("no X-Amz-Date header")
		}
	} else {
		q := req.URL.Query()
		if !q.Has("X-Amz-Signature") && !q.Has("X-Amz-Algorithm") {
			return a, &VerifyError{Reason: ReasonMissing, Detail: "no Authorization header and no X-Amz-Signature parameter"}
		}
		a.presigned = true
		for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
			if len(q[k]) != 1 {
				return malformed("query parameter " + k + " must appear exactly once")
			}
		}
		parsed, defects = ParsePresigned(q)
		if d, ok := unsupportedAlgorithm(parsed, defects); ok {
			return a, &VerifyError{Reason: ReasonUnsupportedAlgorithm, Detail: d.Message}
		}
		a.amzDate = q.Get("X-Amz-Date")
		secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
		if err != nil || secs < 1 || secs > 7*24*3600 {
			return malformed("X-Amz-Expires " + strconv.Quote(q.Get("X-Amz-Expires")) + " is not 1-604800 seconds")
		}
		a.expires = time.Duration(secs) * time.Second
		if d, ok := unreadable(parsed, defects); ok {
			return malformed(d.Message)
		}
	}
	if parsed.Algorithm == AlgorithmV4a && !validV4aSignatureHex(parsed.Signature) {
		return malformed("Signature is not the lowercase hex of an ECDSA P-256 signature (at most 144 digits)")
	}
	if parsed.AccessKeyID == "" || parsed.Scope == "" {
		return malformed("Credential " + strconv.Quote(parsed.AccessKeyID+"/"+parsed.Scope) + " is not accesskey/scope")
	}
	a.algorithm = parsed.Algorithm
	a.accessKeyID, a.scope = parsed.AccessKeyID, parsed.Scope
	a.signedHeaders, a.signature = strings.Join(parsed.SignedHeaders, ";"), parsed.Signature
	t, err := time.Parse(amzDateLayout, a.amzDate)
	if err != nil {
		return malformed("X-Amz-Date " + strconv.Quote(a.amzDate) + " is not yyyymmddThhmmssZ")
	}
	a.time = t
	a.date = uint32(t.Year()*10000 + int(t.Month())*100 + t.Day())
	return a, nil
}

// unsupportedAlgorithm returns the defect that says the algorithm is not one
// the verifier knows. The parsers read the SigV4 form and report SigV4a
// (AWS4-ECDSA-P256-SHA256) as another algorithm; the verifier verifies both.
func unsupportedAlgorithm(a Authorization, defects []AuthorizationDefect) (AuthorizationDefect, bool) {
	for _, d := range defects {
		switch d.Kind {
		case DefectAbsent, DefectSignatureV2, DefectMissingSpace:
			return d, true
		case DefectUnsupportedAlgorithm:
			if a.Algorithm != AlgorithmV4a {
				return d, true
			}
		}
	}
	return AuthorizationDefect{}, false
}

// unreadable returns the first defect that leaves the verifier nothing to
// check: the header cannot be read, or a part the signature needs is absent
// or malformed. A SigV4a signature is longer than 64 digits; parseAuth
// checks it on its own. The other defects (scope, order of the signed
// headers, host) are judged against the request, with their own reasons.
func unreadable(a Authorization, defects []AuthorizationDefect) (AuthorizationDefect, bool) {
	for _, d := range defects {
		switch d.Kind {
		case DefectMissingComma, DefectMalformedComponent, DefectMissingCredential,
			DefectMissingSignedHeaders, DefectMissingSignature:
			return d, true
		case DefectMalformedSignature:
			if a.Algorithm != AlgorithmV4a {
				return d, true
			}
		}
	}
	return AuthorizationDefect{}, false
}

// payloadHashFor is the payload hash the signer must have used.
func payloadHashFor(req *http.Request, presigned bool, opts *VerifyOptions) (string, error) {
	declared := req.Header.Get("X-Amz-Content-Sha256")
	if declared == "" {
		switch {
		case opts.PayloadHash != "":
			return opts.PayloadHash, nil
		case opts.HashBody:
			sum, err := hashBody(req)
			return sum, err
		case presigned:
			return UnsignedPayload, nil
		}
		return EmptyPayloadHash, nil
	}
	if opts.HashBody && len(declared) == 64 && validPayloadHash(declared) {
		sum, err := hashBody(req)
		if err != nil {
			return "", err
		}
		if sum != declared {
			return "", &VerifyError{Reason: ReasonPayloadMismatch, Detail: "X-Amz-Content-Sha256 " + declared + " but the body hashes to " + sum}
		}
	}
	return declared, nil
}

// hashBody reads req.Body, hashes it and puts an equivalent reader back.
func hashBody(req *http.Request) (string, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return EmptyPayloadHash, nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	return HashPayload(b), nil
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// receivedPath returns a copy of u whose Opaque is the path a server
// received (for a request a server read, with RequestURI set: a client's
// request goes out as EscapedPath), when EscapedPath would not give those
// bytes back. net/http's server keeps them in RawPath, but EscapedPath
// re-escapes from the decoded Path once they hold a byte net/url escapes
// itself (| { ^ " or non-ASCII), which turns %2F into / and changes the
// canonical URI. It returns nil when EscapedPath is the received path
// already, when RawPath does not decode to Path (not a server's), and for a
// path starting with "//", which Opaque would read as an authority.
func receivedPath(u *url.URL) *url.URL {
	if u.Opaque != "" || u.RawPath == "" || strings.HasPrefix(u.RawPath, "//") || u.EscapedPath() == u.RawPath {
		return nil
	}
	if p, err := url.PathUnescape(u.RawPath); err != nil || p != u.Path {
		return nil
	}
	c := *u
	c.Opaque = u.RawPath
	return &c
}
