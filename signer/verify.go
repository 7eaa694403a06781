package signer

import (
	"net/http"
	"time"
)

// VerifyOptions say how Verify judges a request.
type VerifyOptions struct {
	// Now is the verifier's current time. Required: the package has no clock.
	Now time.Time
	// MaxSkew is how far X-Amz-Date may be from Now for header-signed
	// requests (and before Now for presigned ones); 0 means 15 minutes, as AWS.
	MaxSkew time.Duration
	// Service and Region, when set, must match the credential scope.
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
	// ReasonUnsupportedAlgorithm: not AWS4-HMAC-SHA256.
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

// Verify checks the SigV4 signature of a header-signed or presigned req,
// looking its secret up by access key id. It returns a *VerifyError when the
// signature is not valid. It reads req.Body only with opts.HashBody (and
// then replaces it with an equivalent reader); it does not otherwise modify
// req. Safe for concurrent use.
func (s *Signer) Verify(req *http.Request, lookup func(accessKeyID string) (Credentials, bool), opts VerifyOptions) (Result, error) {
	return Result{}, &VerifyError{Reason: ReasonMalformed, Detail: "not implemented yet"}
}
