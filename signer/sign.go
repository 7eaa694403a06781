package signer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Canonical header keys the signer sets.
const (
	hdrAuthorization = "Authorization"
	hdrDate          = "X-Amz-Date"
	hdrToken         = "X-Amz-Security-Token"
	hdrContentSHA256 = "X-Amz-Content-Sha256"
)

// scratch is the per-signature working memory, pooled so that a signature
// allocates only the header strings it hands to the request.
type scratch struct {
	h       hash.Hash
	order   []int32 // header indices, sorted
	signed  []byte  // signed-headers list
	canon   []byte  // canonical headers block
	creq    []byte  // canonical request
	uri     []byte
	norm    []byte
	qbuf    []byte
	pairs   []queryPair
	query   []byte
	sts     []byte
	out     []byte
	scratch [2 * sha256.Size]byte
	sum     [sha256.Size]byte
	inner   [sha256.Size]byte
	amzDate [16]byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{h: sha256.New()} }}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func (sc *scratch) release() {
	const maxKeep = 64 << 10 // do not pin memory a freak request grew
	if cap(sc.qbuf) > maxKeep || cap(sc.canon) > maxKeep || cap(sc.creq) > maxKeep || cap(sc.uri) > maxKeep || cap(sc.norm) > maxKeep || cap(sc.query) > maxKeep {
		return
	}
	scratchPool.Put(sc)
}

// mode says where the signature goes.
type mode uint8

const (
	modeHeader mode = iota
	modeQuery
)

// signed is what one signing computed, for the callers that go on with it.
type signed struct {
	result    Result
	signature [64]byte // hex
	key       *signingKey
	amzDate   [16]byte
}

// dateNumber reads yyyymmdd from the front of an X-Amz-Date.
func dateNumber(amzDate []byte) uint32 {
	var n uint32
	for _, c := range amzDate[:8] {
		n = n*10 + uint32(c-'0')
	}
	return n
}

// formatAmzDate writes t (UTC) as ISO 8601 basic format, 20060102T150405Z.
func formatAmzDate(t time.Time) (d [16]byte) {
	y, mo, day := t.Date()
	h, mi, s := t.Clock()
	put := func(i, v, n int) {
		for k := n - 1; k >= 0; k-- {
			d[i+k] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	put(4, int(mo), 2)
	put(6, day, 2)
	d[8] = 'T'
	put(9, h, 2)
	put(11, mi, 2)
	put(13, s, 2)
	d[15] = 'Z'
	return d
}

// IsScopeName reports whether s may stand as the region or the service of a
// credential scope (date/region/service/aws4_request): one or more ASCII
// letters, digits, '-', '_' and '.'. It is the one rule for a valid region or
// signing name: the signer refuses to sign with any other (a SigV4a region
// set's entries included), the proxy refuses any other --region or --service
// at start, and the diagnosis reads a client's scope with it. It takes every region and signing name of the
// endpoint table (upper case included: IoTSecuredTunneling) and refuses
// what cannot stand between the scope's slashes or in a header: '/',
// white space, control bytes, the empty string. Safe for concurrent use.
func IsScopeName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func validPayloadHash(h string) bool {
	switch h {
	case UnsignedPayload, StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedPayloadTrailer:
		return true
	}
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func validate(req *http.Request, creds Credentials, opts *Options) error {
	switch {
	case req == nil || req.URL == nil:
		return errField("request", "nil request or URL")
	case creds.AccessKeyID == "":
		return errField("credentials", "access key id is empty")
	case creds.SecretAccessKey == "":
		return errField("credentials", "secret access key is empty")
	case !validAccessKeyID(creds.AccessKeyID):
		return errField("credentials", "access key id contains '/', ',', '=' or a control or space character")
	case strings.IndexByte(creds.SessionToken, '\n') >= 0 || strings.IndexByte(creds.SessionToken, '\r') >= 0:
		return errField("credentials", "session token contains a line break")
	case !IsScopeName(opts.Service):
		return errField("service", "empty, or not made of letters, digits, '-', '_' and '.': "+strconv.Quote(opts.Service))
	case opts.Algorithm == SigV4 && !IsScopeName(opts.Region): // SigV4a: see regionSetOf
		return errField("region", "empty, or not made of letters, digits, '-', '_' and '.': "+strconv.Quote(opts.Region))
	case opts.Time.IsZero():
		return errField("time", "signing time is zero (the signer has no clock: pass one)")
	case !validYear(opts.Time):
		return errField("time", "year outside 1000-9999")
	case opts.PayloadHash == "":
		return errField("payload hash", "empty: pass the hex SHA-256 of the body, EmptyPayloadHash or UnsignedPayload")
	case !validPayloadHash(opts.PayloadHash):
		return errField("payload hash", "not 64 lowercase hex digits nor a known constant: "+strconv.Quote(opts.PayloadHash))
	case req.Host == "" && req.URL.Host == "":
		return errField("host", "request has neither Host nor URL.Host")
	}
	return nil
}

func validAccessKeyID(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '/' || c == ',' || c == '=' {
			return false
		}
	}
	return true
}

func validYear(t time.Time) bool {
	y := t.UTC().Year()
	return 1000 <= y && y <= 9999
}

// rules resolves the per-service URI rules.
func rules(service string, double, normalize Setting) (bool, bool) {
	s3 := IsS3Family(service)
	return resolve(double, !s3), resolve(normalize, !s3)
}

func resolve(s Setting, def bool) bool {
	switch s {
	case Enabled:
		return true
	case Disabled:
		return false
	}
	return def
}

// managedHeader reports whether lower names a header the signer sets itself
// in header mode (and so takes from its own values, not the request's).
func (o *Options) managedHeader(lower string, hasToken bool) bool {
	switch lower {
	case "x-amz-date":
		return true
	case "x-amz-security-token":
		return true // replaced, or removed when there is no token
	case "x-amz-content-sha256":
		return o.SetContentSHA256
	}
	return false
}

// collectHeaders appends the headers to sign to hs, sorted, including
// host and content-length, and in header mode the signer's own headers.
// Header-map keys that differ only in case from a managed header are
// deleted so no stale copy is sent.
func (sc *scratch) collectHeaders(hs []header, req *http.Request, creds Credentials, opts *Options, m mode, amzDate string) ([]header, error) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	hs = append(hs, header{name: "host", value: host})
	if req.ContentLength > 0 && (opts.UnsignedHeaders == nil || !opts.UnsignedHeaders("content-length")) {
		hs = append(hs, header{name: "content-length", value: strconv.FormatInt(req.ContentLength, 10)})
	}
	hasToken := creds.SessionToken != "" && !opts.AddSessionTokenAfterSigning
	if m == modeHeader {
		hs = append(hs, header{name: "x-amz-date", value: amzDate})
		if hasToken {
			hs = append(hs, header{name: "x-amz-security-token", value: creds.SessionToken})
		}
		if opts.SetContentSHA256 {
			hs = append(hs, header{name: "x-amz-content-sha256", value: opts.PayloadHash})
		}
	}
	for key, values := range req.Header {
		if !isToken(key) {
			return hs, errField("header", "invalid header name "+strconv.Quote(key))
		}
		name := lowerName(key)
		switch name {
		case "host", "content-length", "authorization":
			// net/http sends req.Host and req.ContentLength, never these
			// map entries; Authorization is what is being computed.
			continue
		}
		if m == modeHeader && opts.managedHeader(name, hasToken) {
			if key != canonicalManaged(name) {
				delete(req.Header, key)
			}
			continue
		}
		if opts.UnsignedHeaders != nil && opts.UnsignedHeaders(name) {
			continue
		}
		hs = append(hs, header{name: name, key: key, values: values})
	}
	sc.sortHeaders(hs)
	return hs, nil
}

// sortHeaders orders sc.order by header name, then map key. It sorts
// indices rather than the entries, whose strings would each cost a GC
// write barrier to move.
func (sc *scratch) sortHeaders(hs []header) {
	sc.order = sc.order[:0]
	for i := range hs {
		sc.order = append(sc.order, int32(i))
	}
	slices.SortFunc(sc.order, func(i, j int32) int {
		if c := strings.Compare(hs[i].name, hs[j].name); c != 0 {
			return c
		}
		return strings.Compare(hs[i].key, hs[j].key)
	})
}

// isToken reports whether s is an RFC 9110 section 5.6.2 token, the only
// valid header name; anything else could not be sent, and ';' or ','
// would corrupt the signed-headers list.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

func canonicalManaged(lower string) string {
	switch lower {
	case "x-amz-date":
		return hdrDate
	case "x-amz-security-token":
		return hdrToken
	case "x-amz-content-sha256":
		return hdrContentSHA256
	}
	return ""
}

// appendHeaders writes the canonical headers block into sc.canon and the
// signed-headers list into sc.signed. Keys differing only in case are
// merged, their values joined with ',' in key order.
func (sc *scratch) appendHeaders(hs []header) {
	prev := ""
	for i, idx := range sc.order {
		h := &hs[idx]
		if i > 0 && prev == h.name {
			sc.canon = sc.canon[:len(sc.canon)-1] // reopen the line
			sc.canon = append(sc.canon, ',')
		} else {
			if len(sc.signed) > 0 {
				sc.signed = append(sc.signed, ';')
			}
			sc.signed = append(sc.signed, h.name...)
			sc.canon = append(sc.canon, h.name...)
			sc.canon = append(sc.canon, ':')
		}
		if h.values == nil {
			sc.canon = appendHeaderValue(sc.canon, h.value)
		} else {
			for j, v := range h.values {
				if j > 0 {
					sc.canon = append(sc.canon, ',')
				}
				sc.canon = appendHeaderValue(sc.canon, v)
			}
		}
		sc.canon = append(sc.canon, '\n')
		prev = h.name
	}
}

// hmacSign computes HMAC-SHA256(key, msg) from the key's precomputed pad
// states into out.
func (sc *scratch) hmacSign(k *signingKey, msg []byte, out *[sha256.Size]byte) {
	h := sc.h
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok || k.inner == nil || u.UnmarshalBinary(k.inner) != nil {
		// Not expected with crypto/sha256; stay correct if it ever changes.
		m := hmac.New(sha256.New, k.key[:])
		m.Write(msg)
		copy(out[:], m.Sum(nil))
		return
	}
	h.Write(msg)
	inner := h.Sum(sc.inner[:0])
	if u.UnmarshalBinary(k.outer) != nil {
		h.Reset()
		_, opad := pads(k.key[:])
		h.Write(opad[:])
	}
	h.Write(inner)
	copy(out[:], h.Sum(sc.sum[:0]))
}

// appendStringToSign appends the SigV4 string to sign for the canonical
// request whose hash is creqHash (hex).
func appendStringToSign(b []byte, amzDate []byte, scope string, creqHashHex []byte) []byte {
	return appendStringToSignAs(b, Algorithm, amzDate, scope, creqHashHex)
}

// appendStringToSignAs appends a string to sign under algorithm: SigV4 and
// SigV4a differ in nothing else.
func appendStringToSignAs(b []byte, algorithm string, amzDate []byte, scope string, creqHashHex []byte) []byte {
	b = append(b, algorithm...)
	b = append(b, '\n')
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	return append(b, creqHashHex...)
}

// core computes the signature of req without touching it; apply writes it.
func (s *Signer) core(sc *scratch, req *http.Request, creds Credentials, opts *Options, m mode, expires time.Duration) (signed, error) {
	var out signed
	if err := validate(req, creds, opts); err != nil {
		return out, err
	}
	if m == modeQuery {
		if err := checkExpires(expires); err != nil {
			return out, err
		}
	}
	double, normalize := rules(opts.Service, opts.DoubleEncodePath, opts.NormalizePath)
	t := opts.Time.UTC()
	out.result.Time = t
	out.amzDate = formatAmzDate(t)
	sc.amzDate = out.amzDate
	amzDate := sc.amzDate[:]

	var drop func(string) bool
	if m == modeQuery {
		drop = isPresignParam
	}
	if err := sc.uriAndQuery(req, double, normalize, drop); err != nil {
		return out, err
	}

	key := s.keys.get(keyID{
		accessKeyID: creds.AccessKeyID, secret: creds.SecretAccessKey,
		region: opts.Region, service: opts.Service,
		date: dateNumber(amzDate),
	}, amzDate[:8])
	out.key = key
	out.result.Scope = key.scope

	// The entries live on the stack: storing their strings into a heap
	// slice would cost a GC write barrier each.
	var arr [24]header
	sc.signed, sc.canon = sc.signed[:0], sc.canon[:0]
	hs, err := sc.collectHeaders(arr[:0], req, creds, opts, m, bstr(amzDate))
	if err != nil {
		return out, err
	}
	sc.appendHeaders(hs)

	if m == modeQuery {
		sc.addQueryEncoded("X-Amz-Algorithm", Algorithm)
		sc.addQueryEncoded("X-Amz-Credential", key.credential)
		sc.addQueryEncoded("X-Amz-Date", bstr(amzDate))
		var n [20]byte
		sc.addQueryEncoded("X-Amz-Expires", bstr(strconv.AppendInt(n[:0], int64(expires/time.Second), 10)))
		sc.addQueryEncoded("X-Amz-SignedHeaders", bstr(sc.signed))
		if creds.SessionToken != "" && !opts.AddSessionTokenAfterSigning {
			sc.addQueryEncoded("X-Amz-Security-Token", creds.SessionToken)
		}
	}
	sc.query = sc.appendCanonicalQuery(sc.query[:0])

	sc.finishCanonicalRequest(req.Method, opts.PayloadHash)
	if opts.Debug {
		out.result.CanonicalRequest = string(sc.creq)
	}

	sc.sts = appendStringToSign(sc.sts[:0], amzDate, key.scope, sc.scratch[:])
	if opts.Debug {
		out.result.StringToSign = string(sc.sts)
	}
	sc.hmacSign(key, sc.sts, &sc.inner)
	hex.Encode(out.signature[:], sc.inner[:])
	return out, nil
}

// checkExpires refuses a presigned URL's lifetime outside what AWS accepts.
func checkExpires(expires time.Duration) error {
	secs := int64(expires / time.Second)
	if secs < 1 || secs > 7*24*3600 || expires%time.Second != 0 {
		return errField("expires", "must be whole seconds from 1s to 168h (7 days), got "+expires.String())
	}
	return nil
}

// uriAndQuery writes the canonical URI and collects the query pairs,
// leaving out the keys drop reports.
func (sc *scratch) uriAndQuery(req *http.Request, double, normalize bool, drop func(string) bool) error {
	var ok bool
	sc.uri, sc.norm, ok = appendCanonicalURI(sc.uri[:0], sc.norm[:0], req.URL, double, normalize)
	if !ok {
		return errField("path", "malformed percent-encoding in "+strconv.Quote(wirePath(req.URL)))
	}
	sc.qbuf, sc.pairs = sc.qbuf[:0], sc.pairs[:0]
	if bad, ok := sc.addQuery(req.URL.RawQuery, drop); !ok {
		if k, _, _ := strings.Cut(bad, "="); len(k) >= 6 && strings.EqualFold(k[:6], "x-amz-") {
			// Do not echo what may be a token or a signature.
			return errField("query", "malformed percent-encoding in the parameter "+strconv.Quote(k))
		}
		return errField("query", "malformed percent-encoding in "+strconv.Quote(bad))
	}
	return nil
}

// finishCanonicalRequest assembles the canonical request in sc.creq from
// the parts already built, and its hex SHA-256 in sc.scratch.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
func (sc *scratch) finishCanonicalRequest(method, payloadHash string) {
	if method == "" {
		method = http.MethodGet
	}
	c := sc.creq[:0]
	c = append(c, method...)
	c = append(c, '\n')
	c = append(c, sc.uri...)
	c = append(c, '\n')
	c = append(c, sc.query...)
	c = append(c, '\n')
	c = append(c, sc.canon...)
	c = append(c, '\n')
	c = append(c, sc.signed...)
	c = append(c, '\n')
	c = append(c, payloadHash...)
	sc.creq = c
	h := sc.h
	h.Reset()
	h.Write(c)
	hex.Encode(sc.scratch[:], h.Sum(sc.sum[:0]))
}

// sign is Sign and Presign: compute, then write the signature into req.
func (s *Signer) sign(req *http.Request, creds Credentials, opts Options, presign bool, expires time.Duration) (Result, error) {
	sc := getScratch()
	defer sc.release()
	m := modeHeader
	if presign {
		m = modeQuery
	}
	out, err := s.core(sc, req, creds, &opts, m, expires)
	if err != nil {
		return Result{}, err
	}
	if m == modeQuery {
		s.applyQuery(sc, req, creds, &opts, &out)
	} else {
		applyHeaders(sc, req, creds, &opts, &out)
	}
	return out.result, nil
}

// applyHeaders writes X-Amz-Date, Authorization and the token and payload
// headers. The date and the Authorization value share one allocation, and
// the four value slices another.
func applyHeaders(sc *scratch, req *http.Request, creds Credentials, opts *Options, out *signed) {
	const (
		credPart = " Credential="
		shPart   = ", SignedHeaders="
		sigPart  = ", Signature="
	)
	b := sc.out[:0]
	b = append(b, out.amzDate[:]...)
	b = append(b, Algorithm...)
	b = append(b, credPart...)
	b = append(b, out.key.credential...)
	b = append(b, shPart...)
	shStart := len(b)
	b = append(b, sc.signed...)
	shEnd := len(b)
	b = append(b, sigPart...)
	b = append(b, out.signature[:]...)
	sc.out = b
	all := string(b)
	auth := all[16:]
	out.result.SignedHeaders = all[shStart:shEnd]

	if req.Header == nil {
		req.Header = make(http.Header, 4)
	}
	vals := new([4]string)
	vals[0], vals[1] = all[:16], auth
	req.Header[hdrDate] = vals[0:1:1]
	req.Header[hdrAuthorization] = vals[1:2:2]
	if creds.SessionToken != "" {
		vals[2] = creds.SessionToken
		req.Header[hdrToken] = vals[2:3:3]
	} else {
		delete(req.Header, hdrToken)
	}
	if opts.SetContentSHA256 {
		vals[3] = opts.PayloadHash
		req.Header[hdrContentSHA256] = vals[3:4:4]
	}
}

// applyQuery replaces req.URL.RawQuery with the canonical query plus the
// signature (and, with AddSessionTokenAfterSigning, the unsigned token).
func (s *Signer) applyQuery(sc *scratch, req *http.Request, creds Credentials, opts *Options, out *signed) {
	sc.setSignedQuery(req, creds, opts, out.signature[:])
	// Presigned URLs carry the list in the query; report it for logs.
	out.result.SignedHeaders = string(sc.signed)
}
