package diagnose

import "github.com/sigv4-sidecar/sigv4-sidecar/signer"

// ProblemCode names one cause of a rejected signature. Codes are stable:
// scripts and metrics may key on them.
type ProblemCode string

// The causes Request, Authorization, Answer and CompareWithServer report.
const (
	CodeAuthorizationMissing   ProblemCode = "authorization-missing"
	CodeSignatureV2            ProblemCode = "signature-v2"
	CodeUnsupportedAlgorithm   ProblemCode = "unsupported-algorithm"
	CodeMissingSpace           ProblemCode = "missing-space"
	CodeMissingComma           ProblemCode = "missing-comma"
	CodeMalformedComponent     ProblemCode = "malformed-component"
	CodeMissingCredential      ProblemCode = "missing-credential"
	CodeMissingSignedHeaders   ProblemCode = "missing-signed-headers"
	CodeMissingSignature       ProblemCode = "missing-signature"
	CodeMalformedScope         ProblemCode = "malformed-credential-scope"
	CodeMalformedSignature     ProblemCode = "malformed-signature"
	CodeSignedHeadersOrder     ProblemCode = "signed-headers-not-canonical"
	CodeMissingDate            ProblemCode = "missing-date"
	CodeMalformedDate          ProblemCode = "malformed-date"
	CodeDateScopeMismatch      ProblemCode = "date-scope-mismatch"
	CodeHostNotSigned          ProblemCode = "host-not-signed"
	CodeSignedHeaderAbsent     ProblemCode = "signed-header-absent"
	CodeAmzHeaderNotSigned     ProblemCode = "x-amz-header-not-signed"
	CodeMissingContentSHA256   ProblemCode = "missing-content-sha256"
	CodeSignatureExpired       ProblemCode = "signature-expired"
	CodeSignatureNotYetValid   ProblemCode = "signature-not-yet-valid"
	CodeClockSkew              ProblemCode = "clock-skew"
	CodeWrongRegion            ProblemCode = "wrong-region"
	CodeWrongService           ProblemCode = "wrong-service"
	CodeMultipleAuth           ProblemCode = "multiple-auth-mechanisms"
	CodeUnknownAccessKey       ProblemCode = "unknown-access-key"
	CodeExpiredToken           ProblemCode = "expired-token"
	CodePayloadHashMismatch    ProblemCode = "payload-hash-mismatch"
	CodeAccessDenied           ProblemCode = "access-denied"
	CodeWrongSecret            ProblemCode = "wrong-secret"
	CodeSignatureMismatch      ProblemCode = "signature-mismatch"
	CodeMalformedAuthorization ProblemCode = "malformed-authorization"
	CodeMethodDiffers          ProblemCode = "canonical-method-differs"
	CodePathDiffers            ProblemCode = "canonical-path-differs"
	CodeQueryDiffers           ProblemCode = "canonical-query-differs"
	CodeHeaderDiffers          ProblemCode = "canonical-header-differs"
	CodeSignedHeadersDiffer    ProblemCode = "canonical-signed-headers-differ"
	CodePayloadHashDiffers     ProblemCode = "canonical-payload-hash-differs"
	CodeCanonicalDiffers       ProblemCode = "canonical-request-differs"
	CodeTimestampDiffers       ProblemCode = "timestamp-differs"
)

// Problem is one thing wrong with a signed request: a stable Code (the
// cause) and a Message saying what was found. The message holds no secret,
// no signature and no session token, and names no option or command: what
// to do about a cause is the caller's to say (the proxy and the CLI share
// one table of advice, keyed by Code).
type Problem struct {
	Code    ProblemCode
	Message string
}

func (p Problem) String() string { return string(p.Code) + ": " + p.Message }

func problem(code ProblemCode, message string) Problem {
	return Problem{Code: code, Message: message}
}

// Codes lists every cause this package reports, in declaration order: what
// a table of advice must cover.
func Codes() []ProblemCode {
	return []ProblemCode{
		CodeAuthorizationMissing,
		CodeSignatureV2,
		CodeUnsupportedAlgorithm,
		CodeMissingSpace,
		CodeMissingComma,
		CodeMalformedComponent,
		CodeMissingCredential,
		CodeMissingSignedHeaders,
		CodeMissingSignature,
		CodeMalformedScope,
		CodeMalformedSignature,
		CodeSignedHeadersOrder,
		CodeMissingDate,
		CodeMalformedDate,
		CodeDateScopeMismatch,
		CodeHostNotSigned,
		CodeSignedHeaderAbsent,
		CodeAmzHeaderNotSigned,
		CodeMissingContentSHA256,
		CodeSignatureExpired,
		CodeSignatureNotYetValid,
		CodeClockSkew,
		CodeWrongRegion,
		CodeWrongService,
		CodeMultipleAuth,
		CodeUnknownAccessKey,
		CodeExpiredToken,
		CodePayloadHashMismatch,
		CodeAccessDenied,
		CodeWrongSecret,
		CodeSignatureMismatch,
		CodeMalformedAuthorization,
		CodeMethodDiffers,
		CodePathDiffers,
		CodeQueryDiffers,
		CodeHeaderDiffers,
		CodeSignedHeadersDiffer,
		CodePayloadHashDiffers,
		CodeCanonicalDiffers,
		CodeTimestampDiffers,
	}
}

// defectCodes is the cause of each defect the signer's parsers report.
var defectCodes = map[signer.DefectKind]ProblemCode{
	signer.DefectAbsent:               CodeAuthorizationMissing,
	signer.DefectSignatureV2:          CodeSignatureV2,
	signer.DefectUnsupportedAlgorithm: CodeUnsupportedAlgorithm,
	signer.DefectMissingSpace:         CodeMissingSpace,
	signer.DefectMissingComma:         CodeMissingComma,
	signer.DefectMalformedComponent:   CodeMalformedComponent,
	signer.DefectMissingCredential:    CodeMissingCredential,
	signer.DefectMalformedScope:       CodeMalformedScope,
	signer.DefectMissingSignedHeaders: CodeMissingSignedHeaders,
	signer.DefectSignedHeadersOrder:   CodeSignedHeadersOrder,
	signer.DefectHostNotSigned:        CodeHostNotSigned,
	signer.DefectMissingSignature:     CodeMissingSignature,
	signer.DefectMalformedSignature:   CodeMalformedSignature,
}

// fromDefects turns the signer's parse defects into problems, in order.
func fromDefects(defects []signer.AuthorizationDefect) []Problem {
	problems := make([]Problem, 0, len(defects))
	for _, d := range defects {
		problems = append(problems, problem(defectCodes[d.Kind], d.Message))
	}
	return problems
}

// MergeProblems joins problem lists in order, keeping the first problem of
// each code, and drops the generic codes (signature-mismatch,
// malformed-authorization) once a more specific cause is known.
func MergeProblems(lists ...[]Problem) []Problem {
	generic := func(c ProblemCode) bool { return c == CodeSignatureMismatch || c == CodeMalformedAuthorization }
	specific := false
	for _, l := range lists {
		for _, p := range l {
			if !generic(p.Code) && p.Code != CodeCanonicalDiffers {
				specific = true
			}
		}
	}
	seen := map[ProblemCode]bool{}
	var out []Problem
	for _, l := range lists {
		for _, p := range l {
			if seen[p.Code] || (specific && generic(p.Code)) {
				continue
			}
			seen[p.Code] = true
			out = append(out, p)
		}
	}
	return out
}
