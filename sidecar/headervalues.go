package sidecar

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Header values that verifiers canonicalize differently (issue 14, item 4).
//
// SigV4 says to trim a header value and "convert sequential spaces to a
// single space" (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html),
// and implementations read "spaces" three ways:
//
//   - the ASCII space only: aws-sdk-go-v2 (v4.StripExcessSpaces), and this
//     proxy's signer;
//   - ASCII white space, TAB included: the Java SDK, and for ASCII the
//     JavaScript SDK's @smithy/signature-v4 (value.trim().replace(/\s+/g, " "));
//   - Unicode white space: botocore (" ".join(value.split()), which on a
//     server that decodes headers as ISO-8859-1 also splits at the bytes
//     0x85 and 0xA0), MinIO and SeaweedFS (strings.Fields on the UTF-8
//     bytes: U+00A0, U+3000, ...), JavaScript's \s (which adds U+FEFF).
//
// Which one AWS itself applies is not documented. A value whose canonical
// form differs between these readings gets a signature that some verifiers
// reject (a TAB through the proxy: SignatureDoesNotMatch on MinIO and
// SeaweedFS). Changing the value on the wire would be a silent change to
// the request, so the proxy does neither: such a header is sent as it came
// and left out of the signature, which every verifier accepts whatever its
// reading; a header that must be signed is refused instead.

// CodeHeaderValue is the error code (400) of a header that must be signed
// but whose value verifiers canonicalize differently.
const CodeHeaderValue = "ambiguous_header_value"

// ambiguousRune returns a description of the first character of v that
// the readings above canonicalize differently, or "" when v reads the same
// under all of them. ASCII without controls, the common case, is one pass
// over the bytes.
func ambiguousRune(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\t':
			return "a TAB"
		case c < 0x20 || c == 0x7f:
			return fmt.Sprintf("the control character 0x%02X", c)
		case c < 0x80:
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r != utf8.RuneError && (unicode.IsSpace(r) || r == '\uFEFF' || r == '\u180E') {
			return fmt.Sprintf("U+%04X, white space to some verifiers", r)
		}
		for _, b := range []byte(v[i : i+max(size, 1)]) {
			if b == 0x85 || b == 0xA0 {
				return fmt.Sprintf("the byte 0x%02X, white space to a verifier reading ISO-8859-1", b)
			}
		}
		i += max(size, 1) - 1
	}
	return ""
}

// mustBeSigned reports whether the lowercase header name must be in the
// signature whatever its value: S3 requires Content-Type and every
// x-amz-* header signed ("The CanonicalHeaders list must include ... If the
// Content-Type header is present in the request ... Any x-amz-* headers",
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html),
// other services read x-amz-* headers as part of the call (x-amz-target),
// and Content-MD5 guards the body.
func mustBeSigned(name string) bool {
	return strings.HasPrefix(name, "x-amz-") || name == "content-type" || name == "content-md5"
}

// headerValueError refuses a header that must be signed but whose value
// verifiers canonicalize differently (400). It names the header and the
// character, never the value.
func headerValueError(name, what string) error {
	return &RequestError{Code: CodeHeaderValue, Message: fmt.Sprintf("the %s header's value holds %s: SigV4 verifiers canonicalize it differently, so no one signature is valid for all of them, and this header must be signed: remove the character, or encode the value (as S3 clients do for metadata, RFC 2047)", name, what)}
}

// UnsignedForValues returns the UnsignedHeaders function to sign h with:
// base, plus every header base signs whose value verifiers canonicalize
// differently (see ambiguousRune). For such a header that mustBeSigned it
// returns a *RequestError with CodeHeaderValue. It does not change h. Exported so that
// commands signing as the proxy does (explain) use the same rule. Safe for
// concurrent use.
func UnsignedForValues(h http.Header, base func(lowerName string) bool) (func(lowerName string) bool, error) {
	var unsigned []string
	for key, values := range h {
		what := ""
		for _, v := range values {
			if what = ambiguousRune(v); what != "" {
				break
			}
		}
		if what == "" {
			continue // the common case: no name lowered, nothing allocated
		}
		name := strings.ToLower(key)
		switch {
		case name == "host" || name == "content-length" || base(name):
		case mustBeSigned(name):
			return nil, headerValueError(name, what)
		default:
			unsigned = append(unsigned, name)
		}
	}
	if len(unsigned) == 0 {
		return base, nil
	}
	return func(name string) bool {
		for _, u := range unsigned {
			if u == name {
				return true
			}
		}
		return base(name)
	}, nil
}
