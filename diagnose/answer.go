package diagnose

import (
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// messageRules map fragments of AWS error messages (lower-cased) to causes.
var messageRules = []struct {
	fragment string
	code     ProblemCode
}{
	{"requires 'credential'", CodeMissingCredential},
	{"requires 'signedheaders'", CodeMissingSignedHeaders},
	{"requires 'signature'", CodeMissingSignature},
	{"requires existence of either a 'x-amz-date' or a 'date' header", CodeMissingDate},
	{"missing equal-sign", CodeMalformedComponent},
	{"invalid key=value pair", CodeMalformedComponent},
	{"unsupported aws 'algorithm'", CodeUnsupportedAlgorithm},
	{"algorithm is not supported", CodeUnsupportedAlgorithm},
	{"please use aws4-hmac-sha256", CodeSignatureV2},
	{"signature version 2", CodeSignatureV2},
	{"credential should be scoped to a valid region", CodeWrongRegion},
	{"is wrong; expecting", CodeWrongRegion},
	{"credential should be scoped to correct service", CodeWrongService},
	{"incorrect service", CodeWrongService},
	{"credential should be scoped with a valid terminator", CodeMalformedScope},
	{"credential is mal-formed", CodeMalformedScope},
	{"credential is malformed", CodeMalformedScope},
	{"date must be in iso-8601 'basic format'", CodeMalformedDate},
	{"invalid credential date", CodeDateScopeMismatch},
	{"date is not the same as x-amz-date", CodeDateScopeMismatch},
	{"credential should be scoped to a valid date", CodeDateScopeMismatch},
	{"must be a 'signedheader'", CodeHostNotSigned},
	{"signature expired", CodeSignatureExpired},
	{"request has expired", CodeSignatureExpired},
	{"signature not yet current", CodeSignatureNotYetValid},
	{"difference between the request time and the current time is too large", CodeClockSkew},
	{"headers present in the request which were not signed", CodeAmzHeaderNotSigned},
	{"missing required header for this request: x-amz-content-sha256", CodeMissingContentSHA256},
	{"x-amz-content-sha256' header does not match", CodePayloadHashMismatch},
	{"only one auth mechanism allowed", CodeMultipleAuth},
	{"missing authentication token", CodeAuthorizationMissing},
	{"security token included in the request is expired", CodeExpiredToken},
	{"security token included in the request is invalid", CodeUnknownAccessKey},
	{"access key id you provided does not exist", CodeUnknownAccessKey},
	{"signature we calculated does not match", CodeSignatureMismatch},
}

// codeRules map AWS error codes to causes when the message says no more.
var codeRules = map[string]ProblemCode{
	"RequestTimeTooSkewed":                CodeClockSkew,
	"RequestExpired":                      CodeSignatureExpired,
	"InvalidAccessKeyId":                  CodeUnknownAccessKey,
	"UnrecognizedClientException":         CodeUnknownAccessKey,
	"InvalidClientTokenId":                CodeUnknownAccessKey,
	"ExpiredToken":                        CodeExpiredToken,
	"ExpiredTokenException":               CodeExpiredToken,
	"MissingAuthenticationToken":          CodeAuthorizationMissing,
	"MissingAuthenticationTokenException": CodeAuthorizationMissing,
	"XAmzContentSHA256Mismatch":           CodePayloadHashMismatch,
	"SignatureDoesNotMatch":               CodeSignatureMismatch,
	"InvalidSignatureException":           CodeSignatureMismatch,
	"InvalidSignature":                    CodeSignatureMismatch,
	"IncompleteSignature":                 CodeMalformedAuthorization,
	"IncompleteSignatureException":        CodeMalformedAuthorization,
	"AuthorizationHeaderMalformed":        CodeMalformedAuthorization,
	"AccessDenied":                        CodeAccessDenied,
	"AccessDeniedException":               CodeAccessDenied,
	"UnauthorizedOperation":               CodeAccessDenied,
}

// Answer classifies what a server answered into causes: one per cause its
// message names, else one for its code. A generic signature-mismatch is
// dropped when a more specific cause was found. It returns nil for errors
// that are not about authentication. Messages quote the server's message
// through SafeMessage only.
func Answer(e awserror.Answer) []Problem {
	msg := strings.ToLower(e.Message)
	var problems []Problem
	seen := map[ProblemCode]bool{}
	add := func(code ProblemCode, message string) {
		if code == "" || seen[code] {
			return
		}
		seen[code] = true
		problems = append(problems, problem(code, message))
	}
	said := "the server answered " + e.Code
	if e.Code == "" {
		said = "the server answered"
	}
	if m := e.SafeMessage(); m != "" {
		said += ": " + signer.QuoteShort(firstLine(m))
	}
	for _, r := range messageRules {
		if strings.Contains(msg, r.fragment) {
			add(r.code, said)
		}
	}
	if len(problems) == 0 {
		add(codeRules[e.Code], said)
	}
	if len(problems) > 1 && seen[CodeSignatureMismatch] {
		out := problems[:0]
		for _, p := range problems {
			if p.Code != CodeSignatureMismatch {
				out = append(out, p)
			}
		}
		problems = out
	}
	return problems
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
