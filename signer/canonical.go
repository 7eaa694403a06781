package signer

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"
)

const upperHex = "0123456789ABCDEF"

// isUnreserved reports whether c is an RFC 3986 section 2.3 unreserved
// character, the only bytes SigV4's UriEncode leaves as they are.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// appendEncoded appends c URI-encoded (uppercase hex), keeping '/' when keepSlash.
func appendEncoded(b []byte, c byte, keepSlash bool) []byte {
	if isUnreserved(c) || keepSlash && c == '/' {
		return append(b, c)
	}
	return append(b, '%', upperHex[c>>4], upperHex[c&15])
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendReencoded decodes s (percent-escapes, and '+' as a space when
// plusIsSpace, as in application/x-www-form-urlencoded query strings) and
// appends it URI-encoded. It reports false on a malformed escape.
func appendReencoded(b []byte, s string, plusIsSpace, keepSlash bool) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return b, false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return b, false
			}
			c = hi<<4 | lo
			i += 2
		case c == '+' && plusIsSpace:
			c = ' '
		}
		b = appendEncoded(b, c, keepSlash)
	}
	return b, true
}

// wirePath returns the path net/http puts on the request line for u: the
// path of u.Opaque when set, else u.EscapedPath(); "/" when empty.
func wirePath(u *url.URL) string {
	p := u.EscapedPath()
	if u.Opaque != "" {
		p = u.Opaque
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		if strings.HasPrefix(p, "//") { // "//host/path" form
			p = p[2:]
			if i := strings.IndexByte(p, '/'); i >= 0 {
				p = p[i:]
			} else {
				p = ""
			}
		}
	}
	if p == "" {
		return "/"
	}
	return p
}

// appendNormalizedPath appends p without empty, "." and ".." segments
// (RFC 3986 section 5.2.4, plus the duplicate-slash removal the official
// suite's get-slashes-normalized case expects). A trailing slash is kept.
func appendNormalizedPath(b []byte, p string) []byte {
	start := len(b)
	trailing := strings.HasSuffix(p, "/")
	for p != "" {
		var seg string
		seg, p, _ = strings.Cut(p, "/")
		switch seg {
		case "", ".":
		case "..":
			if j := lastSlash(b[start:]); j >= 0 {
				b = b[:start+j]
			}
		default:
			b = append(append(b, '/'), seg...)
		}
	}
	if len(b) == start || trailing {
		b = append(b, '/')
	}
	return b
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}

// appendCanonicalURI appends the canonical URI of u to b, using norm as
// scratch space, and returns both.
//
// With double encoding (every service but the S3 family) the path as it goes
// on the wire is, after optional normalization, URI-encoded once more, so
// "%20" becomes "%2520": "Each path segment must be URI-encoded twice"
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
// Without it (S3) the path is decoded and URI-encoded once, which is how S3
// computes it server-side: "/a$b" and "/a%24b" name the same key and both
// canonicalize to "/a%24b"
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
func appendCanonicalURI(b, norm []byte, u *url.URL, double, normalize bool) ([]byte, []byte, bool) {
	if !double && !normalize && u.Opaque == "" {
		// u.Path is the decoded form of the wire path, so encode it directly.
		if u.Path == "" {
			return append(b, '/'), norm, true
		}
		for i := 0; i < len(u.Path); i++ {
			b = appendEncoded(b, u.Path[i], true)
		}
		return b, norm, true
	}
	p := wirePath(u)
	if normalize && needsNormalizing(p) {
		norm = appendNormalizedPath(norm[:0], p)
		p = bstr(norm)
	}
	if double {
		for i := 0; i < len(p); i++ {
			b = appendEncoded(b, p[i], true)
		}
		return b, norm, true
	}
	b, ok := appendReencoded(b, p, false, true)
	return b, norm, ok
}

// needsNormalizing reports whether p has an empty, "." or ".." segment.
func needsNormalizing(p string) bool {
	if p == "" || p[0] != '/' {
		return true
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		if rest == "" {
			continue // one trailing slash is kept anyway
		}
		if rest[0] == '/' {
			return true
		}
		if rest[0] == '.' && (len(rest) == 1 || rest[1] == '/' ||
			rest[1] == '.' && (len(rest) == 2 || rest[2] == '/')) {
			return true
		}
	}
	return false
}

// queryPair locates one encoded key and value in scratch.qbuf.
type queryPair struct{ k0, k1, v0, v1 int32 }

// presignParams are the query parameters Presign owns; a request being
// presigned loses any it already had.
func isPresignParam(key string) bool {
	switch key {
	case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature":
		return true
	}
	return false
}

// addQuery decodes and re-encodes every key=value of rawQuery into sc.qbuf.
// Empty values and repeated keys are kept; "a" is "a=". It reports the
// first malformed piece.
func (sc *scratch) addQuery(rawQuery string, drop func(key string) bool) (bad string, ok bool) {
	for rawQuery != "" {
		var piece string
		piece, rawQuery, _ = strings.Cut(rawQuery, "&")
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		if drop != nil && drop(k) {
			continue
		}
		var p queryPair
		p.k0 = int32(len(sc.qbuf))
		sc.qbuf, ok = appendReencoded(sc.qbuf, k, true, false)
		if !ok {
			return piece, false
		}
		p.k1 = int32(len(sc.qbuf))
		sc.qbuf, ok = appendReencoded(sc.qbuf, v, true, false)
		if !ok {
			return piece, false
		}
		p.v1 = int32(len(sc.qbuf))
		p.v0 = p.k1
		sc.pairs = append(sc.pairs, p)
	}
	return "", true
}

// addQueryEncoded adds a pair whose key needs no encoding and whose value is
// encoded here.
func (sc *scratch) addQueryEncoded(key, value string) {
	var p queryPair
	p.k0 = int32(len(sc.qbuf))
	sc.qbuf = append(sc.qbuf, key...)
	p.k1 = int32(len(sc.qbuf))
	p.v0 = p.k1
	for i := 0; i < len(value); i++ {
		sc.qbuf = appendEncoded(sc.qbuf, value[i], false)
	}
	p.v1 = int32(len(sc.qbuf))
	sc.pairs = append(sc.pairs, p)
}

// appendCanonicalQuery sorts the pairs by encoded key, then encoded value
// ("the sorting occurs after encoding") and appends k=v&k=v.
func (sc *scratch) appendCanonicalQuery(b []byte) []byte {
	q := sc.qbuf
	if len(sc.pairs) > 1 {
		slices.SortFunc(sc.pairs, func(x, y queryPair) int {
			if c := strings.Compare(bstr(q[x.k0:x.k1]), bstr(q[y.k0:y.k1])); c != 0 {
				return c
			}
			return strings.Compare(bstr(q[x.v0:x.v1]), bstr(q[y.v0:y.v1]))
		})
	}
	for i, p := range sc.pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, q[p.k0:p.k1]...)
		b = append(b, '=')
		b = append(b, q[p.v0:p.v1]...)
	}
	return b
}

// header is one canonical header: a lowercase name and its values in order.
type header struct {
	name   string
	key    string // the http.Header key it came from, for a stable order
	values []string
	value  string // used instead of values when values is nil
}

// appendHeaderValue appends v trimmed, with each run of spaces collapsed to
// one and each folded line break (obs-fold, RFC 7230 section 3.2.4) with the
// blanks around it replaced by one space, as the official suite's
// get-header-value-multiline case expects.
func appendHeaderValue(b []byte, v string) []byte {
	if isCanonicalValue(v) {
		return append(b, v...)
	}
	i, j := 0, len(v)
	for i < j && isBlank(v[i]) {
		i++
	}
	for j > i && isBlank(v[j-1]) {
		j--
	}
	start := len(b)
	for ; i < j; i++ {
		c := v[i]
		switch c {
		case ' ':
			if len(b) > start && b[len(b)-1] == ' ' {
				continue
			}
		case '\r', '\n':
			for len(b) > start && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
				b = b[:len(b)-1]
			}
			for i+1 < j && isBlank(v[i+1]) {
				i++
			}
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// isCanonicalValue reports whether v is already trimmed, without runs of
// spaces and without line breaks: the common case, copied as is.
func isCanonicalValue(v string) bool {
	if v == "" {
		return true
	}
	if isBlank(v[0]) || isBlank(v[len(v)-1]) {
		return false
	}
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case ' ':
			if v[i-1] == ' ' {
				return false
			}
		case '\r', '\n':
			return false
		}
	}
	return true
}

func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

// lowerNames memoizes the lowercase form of header keys, so that signing
// the same headers again allocates nothing. Reads are a plain map lookup
// through an atomic pointer; a new name copies the map (rare: header names
// repeat). It stops growing at maxLowerNames so that arbitrary client
// headers cannot inflate it.
var (
	lowerNames   atomic.Pointer[map[string]string]
	lowerNamesMu sync.Mutex
)

const maxLowerNames = 1024

func lowerName(key string) string {
	hasUpper := false
	for i := 0; i < len(key); i++ {
		if 'A' <= key[i] && key[i] <= 'Z' {
			hasUpper = true
			break
		}
	}
	if !hasUpper {
		return key
	}
	if m := lowerNames.Load(); m != nil {
		if l, ok := (*m)[key]; ok {
			return l
		}
	}
	l := strings.ToLower(key)
	lowerNamesMu.Lock()
	defer lowerNamesMu.Unlock()
	old := lowerNames.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n < maxLowerNames {
		m := make(map[string]string, n+1)
		if old != nil {
			for k, v := range *old {
				m[k] = v
			}
		}
		m[strings.Clone(key)] = l
		lowerNames.Store(&m)
	}
	return l
}

// bstr views b as a string without copying; b must not change while the
// string is in use.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// setSignedQuery sets req's query to the canonical query plus signature
// (and, with AddSessionTokenAfterSigning, the unsigned token), for SigV4 and
// SigV4a alike.
func (sc *scratch) setSignedQuery(req *http.Request, creds Credentials, opts *Options, signature []byte) {
	b := sc.out[:0]
	b = append(b, sc.query...)
	b = append(b, "&X-Amz-Signature="...)
	b = append(b, signature...)
	if creds.SessionToken != "" && opts.AddSessionTokenAfterSigning {
		b = append(b, "&X-Amz-Security-Token="...)
		for i := 0; i < len(creds.SessionToken); i++ {
			b = appendEncoded(b, creds.SessionToken[i], false)
		}
	}
	sc.out = b
	req.URL.RawQuery = string(b)
	req.URL.ForceQuery = false
}
