package signer

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefectKind names one way the signature parameters of a request (an
// Authorization header or presigned X-Amz-* query parameters) are
// malformed. Package diagnose maps each to a cause with its fix.
type DefectKind uint8

// The kinds ParseAuthorization and ParsePresigned report.
const (
	// DefectAbsent: no Authorization header at all.
	DefectAbsent DefectKind = iota + 1
	// DefectSignatureV2: the retired "AWS <access key>:<signature>" form.
	DefectSignatureV2
	// DefectUnsupportedAlgorithm: not AWS4-HMAC-SHA256.
	DefectUnsupportedAlgorithm
	// DefectMissingSpace: no space between the algorithm and Credential.
	DefectMissingSpace
	// DefectMissingComma: components separated by spaces only.
	DefectMissingComma
	// DefectMalformedComponent: a component without '=', unknown, misspelt
	// or repeated.
	DefectMalformedComponent
	// DefectMissingCredential: no Credential.
	DefectMissingCredential
	// DefectMalformedScope: the credential is not
	// <access key id>/YYYYMMDD/<region>/<service>/aws4_request.
	DefectMalformedScope
	// DefectMissingSignedHeaders: no SignedHeaders.
	DefectMissingSignedHeaders
	// DefectSignedHeadersOrder: SignedHeaders not lower case, sorted and
	// distinct.
	DefectSignedHeadersOrder
	// DefectHostNotSigned: host is not in SignedHeaders.
	DefectHostNotSigned
	// DefectMissingSignature: no Signature, or an empty one.
	DefectMissingSignature
	// DefectMalformedSignature: the signature is not 64 lowercase hex digits.
	DefectMalformedSignature
)

// AuthorizationDefect is one thing wrong with the form of a request's
// signature parameters: its Kind and a Message saying what was found. The
// message never quotes the signature.
type AuthorizationDefect struct {
	Kind    DefectKind
	Message string
}

func defect(kind DefectKind, message string) AuthorizationDefect {
	return AuthorizationDefect{Kind: kind, Message: message}
}

// Authorization is a parsed SigV4 Authorization header. Signature is
// present only so that callers can compare it; never log it.
type Authorization struct {
	Algorithm     string
	AccessKeyID   string
	Scope         string // date/region/service/terminator, as given
	Date          string // YYYYMMDD from the scope
	Region        string
	Service       string
	Terminator    string // "aws4_request" when well formed
	SignedHeaders []string
	Signature     string
}

// ParseAuthorization parses an Authorization header of the form
//
//	AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>
//
// and returns what it could read together with every defect it found, at
// most one of each kind, in the order they appear; a header with no defects
// is a well-formed SigV4 header. It never fails outright and never panics,
// whatever the input. Messages never quote the signature. It is the one
// reader of the header: Verify and Recompute use it, and package diagnose
// turns its defects into causes. A SigV4a header (AWS4-ECDSA-P256-SHA256)
// parses the same way but is reported as DefectUnsupportedAlgorithm, as
// diagnose has always named it; Verify, which verifies SigV4a, disregards
// that defect and checks the longer signature itself.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#add-signature-to-request
func ParseAuthorization(header string) (Authorization, []AuthorizationDefect) {
	var a Authorization
	var defects []AuthorizationDefect
	add := func(p AuthorizationDefect) {
		for _, q := range defects {
			if q.Kind == p.Kind {
				return
			}
		}
		defects = append(defects, p)
	}
	h := strings.TrimSpace(header)
	if h == "" {
		return a, []AuthorizationDefect{defect(DefectAbsent, "the request has no Authorization header")}
	}

	algo, rest, hasSpace := strings.Cut(h, " ")
	if !hasSpace {
		algo, rest = h, ""
	}
	if i := strings.Index(algo, "Credential="); i > 0 {
		// "AWS4-HMAC-SHA256Credential=..." or "AWS4-HMAC-SHA256,Credential=..."
		add(defect(DefectMissingSpace, "no space between the algorithm and Credential"))
		algo, rest = strings.TrimRight(algo[:i], ","), algo[i:]+" "+rest
	}
	a.Algorithm = algo
	switch {
	case algo == Algorithm:
	case algo == "AWS":
		add(defect(DefectSignatureV2, `the Authorization header is the Signature Version 2 form "AWS <access key>:<signature>"`))
		return a, defects
	case algo == "AWS4-ECDSA-P256-SHA256":
		add(defect(DefectUnsupportedAlgorithm, `the algorithm is "AWS4-ECDSA-P256-SHA256" (SigV4a), not "AWS4-HMAC-SHA256"`))
	default:
		add(defect(DefectUnsupportedAlgorithm, "the algorithm is "+QuoteShort(algo)+`, not "AWS4-HMAC-SHA256"`))
	}

	seen := map[string]bool{}
	for _, part := range strings.Split(rest, ",") {
		fields := strings.Fields(part)
		if len(fields) == 0 && strings.TrimSpace(rest) != "" {
			add(defect(DefectMalformedComponent, "an empty component (a doubled, leading or trailing ',')"))
		}
		if len(fields) > 1 {
			add(defect(DefectMissingComma, "components are separated by spaces where a comma is required"))
		}
		for _, f := range fields {
			name, value, ok := strings.Cut(f, "=")
			if !ok {
				add(defect(DefectMalformedComponent, "component "+QuoteShort(redactSignatureLike(f))+" has no '='"))
				continue
			}
			switch name {
			case "Credential", "SignedHeaders", "Signature":
			default:
				msg := "unknown component " + QuoteShort(name)
				if canon := canonicalComponent(name); canon != "" {
					msg = "component " + QuoteShort(name) + " must be spelled " + QuoteShort(canon) + " (names are case-sensitive)"
				}
				add(defect(DefectMalformedComponent, msg))
				continue
			}
			if seen[name] {
				add(defect(DefectMalformedComponent, "component "+name+" appears more than once"))
				continue
			}
			seen[name] = true
			switch name {
			case "Credential":
				a.parseCredential(value)
			case "SignedHeaders":
				if value != "" {
					a.SignedHeaders = strings.Split(value, ";")
				}
			case "Signature":
				a.Signature = value
			}
		}
	}

	if a.Scope == "" && a.AccessKeyID == "" {
		add(defect(DefectMissingCredential, "the Authorization header has no Credential"))
	} else if msg := a.scopeDefect(); msg != "" {
		add(defect(DefectMalformedScope, msg))
	}
	if len(a.SignedHeaders) == 0 {
		add(defect(DefectMissingSignedHeaders, "the Authorization header has no SignedHeaders"))
	} else {
		if msg := signedHeadersDefect(a.SignedHeaders); msg != "" {
			add(defect(DefectSignedHeadersOrder, msg))
		}
		if !a.Signs("host") && !a.Signs(":authority") {
			add(defect(DefectHostNotSigned, "host is not in SignedHeaders ("+QuoteShort(strings.Join(a.SignedHeaders, ";"))+")"))
		}
	}
	if a.Signature == "" && seen["Signature"] {
		add(defect(DefectMissingSignature, "the Authorization header's Signature is empty"))
	} else if a.Signature == "" {
		add(defect(DefectMissingSignature, "the Authorization header has no Signature"))
	} else if !isLowerHex(a.Signature, 64) {
		add(defect(DefectMalformedSignature, "the signature is "+strconv.Itoa(len(a.Signature))+" characters, not 64 lowercase hex digits"))
	}
	if a.Signature != "" {
		// Whatever a malformed header put where, the signature stays out of messages.
		for i := range defects {
			defects[i].Message = strings.ReplaceAll(defects[i].Message, a.Signature, "<redacted>")
		}
	}
	return a, defects
}

// ParsePresigned reads the signature parameters of a presigned URL
// (X-Amz-Algorithm, X-Amz-Credential, X-Amz-SignedHeaders, X-Amz-Signature;
// the first value of each) as ParseAuthorization reads the header, and
// returns what it could read with every defect it found, in that order.
// X-Amz-Date and X-Amz-Expires are the caller's to judge. It never panics.
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
func ParsePresigned(q url.Values) (Authorization, []AuthorizationDefect) {
	var defects []AuthorizationDefect
	a := Authorization{Algorithm: q.Get("X-Amz-Algorithm"), Signature: q.Get("X-Amz-Signature")}
	switch {
	case a.Algorithm == "":
		defects = append(defects, defect(DefectUnsupportedAlgorithm, "the presigned URL has no X-Amz-Algorithm"))
	case a.Algorithm != Algorithm:
		defects = append(defects, defect(DefectUnsupportedAlgorithm, "X-Amz-Algorithm is "+QuoteShort(a.Algorithm)+`, not "AWS4-HMAC-SHA256"`))
	}
	if c := q.Get("X-Amz-Credential"); c == "" {
		defects = append(defects, defect(DefectMissingCredential, "the presigned URL has no X-Amz-Credential"))
	} else {
		a.parseCredential(c)
		if msg := a.scopeDefect(); msg != "" {
			defects = append(defects, defect(DefectMalformedScope, msg))
		}
	}
	if sh := q.Get("X-Amz-SignedHeaders"); sh == "" {
		defects = append(defects, defect(DefectMissingSignedHeaders, "the presigned URL has no X-Amz-SignedHeaders"))
	} else {
		a.SignedHeaders = strings.Split(sh, ";")
		if msg := signedHeadersDefect(a.SignedHeaders); msg != "" {
			defects = append(defects, defect(DefectSignedHeadersOrder, msg))
		}
		if !a.Signs("host") {
			defects = append(defects, defect(DefectHostNotSigned, "host is not in X-Amz-SignedHeaders"))
		}
	}
	if a.Signature == "" {
		defects = append(defects, defect(DefectMissingSignature, "the presigned URL has no X-Amz-Signature"))
	} else if !isLowerHex(a.Signature, 64) {
		defects = append(defects, defect(DefectMalformedSignature, "X-Amz-Signature is "+strconv.Itoa(len(a.Signature))+" characters, not 64 lowercase hex digits"))
	}
	return a, defects
}

// Signs reports whether name (lower case) is in SignedHeaders.
func (a Authorization) Signs(name string) bool {
	for _, h := range a.SignedHeaders {
		if h == name {
			return true
		}
	}
	return false
}

func canonicalComponent(name string) string {
	for _, c := range []string{"Credential", "SignedHeaders", "Signature"} {
		if strings.EqualFold(name, c) {
			return c
		}
	}
	return ""
}

func (a *Authorization) parseCredential(value string) {
	key, scope, _ := strings.Cut(value, "/")
	a.AccessKeyID, a.Scope = key, scope
	parts := strings.Split(scope, "/")
	if len(parts) > 0 {
		a.Date = parts[0]
	}
	if len(parts) > 1 {
		a.Region = parts[1]
	}
	if len(parts) > 2 {
		a.Service = parts[2]
	}
	if len(parts) > 3 {
		a.Terminator = parts[3]
	}
}

// scopeDefect says what is wrong with the credential, or "".
func (a Authorization) scopeDefect() string {
	const want = "; expected <access key id>/YYYYMMDD/<region>/<service>/aws4_request"
	if a.AccessKeyID == "" {
		return "the credential has no access key id before the scope" + want
	}
	if n := strings.Count(a.Scope, "/") + 1; a.Scope == "" || n != 4 {
		return "the credential scope " + QuoteShort(a.Scope) + " has " + strconv.Itoa(n) + " parts, not 4" + want
	}
	if _, err := time.Parse("20060102", a.Date); err != nil || len(a.Date) != 8 {
		return "the credential scope's date " + QuoteShort(a.Date) + " is not YYYYMMDD" + want
	}
	if !IsScopeName(a.Region) {
		return "the credential scope's region " + QuoteShort(a.Region) + " is not a region name such as us-east-1" + want
	}
	if !IsScopeName(a.Service) {
		return "the credential scope's service " + QuoteShort(a.Service) + " is not a signing name such as s3 or execute-api" + want
	}
	if a.Terminator != "aws4_request" {
		return "the credential scope ends in " + QuoteShort(a.Terminator) + ", not aws4_request" + want
	}
	return ""
}

func signedHeadersDefect(names []string) string {
	for i, n := range names {
		switch {
		case n == "":
			return "SignedHeaders has an empty name (a doubled, leading or trailing ';')"
		case strings.ToLower(n) != n:
			return "SignedHeaders names " + QuoteShort(n) + " in upper case"
		case strings.TrimSpace(n) != n:
			return "SignedHeaders has spaces around " + QuoteShort(strings.TrimSpace(n))
		case i > 0 && names[i-1] == n:
			return "SignedHeaders names " + QuoteShort(n) + " twice"
		case i > 0 && names[i-1] > n:
			return "SignedHeaders is not sorted: " + QuoteShort(names[i-1]) + " comes before " + QuoteShort(n)
		}
	}
	return ""
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// QuoteShort quotes s for a message, cut to 80 bytes so a hostile header
// cannot flood a log line. Package diagnose quotes with it too, so that
// every message about a request cuts alike.
func QuoteShort(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// redactSignatureLike hides a 64-hex-digit run (a signature) in s.
func redactSignatureLike(s string) string {
	out := []byte(s)
	run := 0
	for i := 0; i <= len(out); i++ {
		if i < len(out) && isHexByte(out[i]) {
			run++
			continue
		}
		if run >= 32 {
			for j := i - run; j < i; j++ {
				out[j] = '*'
			}
		}
		run = 0
	}
	return string(out)
}

func isHexByte(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}
