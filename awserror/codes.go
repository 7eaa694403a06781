package awserror

import "strings"

// CodeName returns an AWS error code without the decorations the
// protocols put around it: the namespace before '#' of a JSON __type
// ("com.amazon.coral.service#ExpiredTokenException") and what follows ':'
// in an X-Amzn-ErrorType header ("ExpiredTokenException:http://internal.amazon.com/...");
// surrounding space is trimmed, also around what is left. A plain code is returned as is, so applying
// it twice changes nothing. Every code this package returns has been
// through it, and every family below applies it to what it is given.
// https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html#operation-error-serialization
func CodeName(code string) string {
	code = strings.TrimSpace(code)
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	return strings.TrimSpace(code)
}

// throttlingCodes are the codes aws-sdk-go-v2 treats as throttling
// (aws/retry/throttle_error.go, DefaultThrottleErrorCodes).
var throttlingCodes = map[string]bool{
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"TransactionInProgressException":         true,
	"RequestLimitExceeded":                   true,
	"BandwidthLimitExceeded":                 true,
	"LimitExceededException":                 true,
	"RequestThrottled":                       true,
	"SlowDown":                               true,
	"PriorRequestNotComplete":                true,
	"EC2ThrottledException":                  true,
}

// IsThrottling reports whether code is an AWS throttling error code.
func IsThrottling(code string) bool { return throttlingCodes[CodeName(code)] }

// credentialRejections are the AWS error codes that mean "these credentials
// are no good", as opposed to "you may not do this" (AccessDenied) or "your
// signature is wrong" (SignatureDoesNotMatch, which fresh credentials do not
// cure). On any of them the proxy invalidates the key id it signed with and
// retries once with fresh credentials. Each value says why the code is here.
var credentialRejections = map[string]string{
	// STS session tokens past their expiry: S3, STS and the XML and query
	// protocol services.
	"ExpiredToken": "the session token has expired",
	// The same from JSON-protocol services (DynamoDB, Kinesis, ...).
	"ExpiredTokenException": "the session token has expired",
	// STS, IAM and query services: the access key id or session token does
	// not exist (deleted key, another partition, revoked role session).
	"InvalidClientTokenId": "the access key id or session token is not valid",
	// S3's name for an access key id it does not know.
	"InvalidAccessKeyId": "the access key id does not exist in AWS records",
	// JSON-protocol services' name for an unknown key id or invalid token
	// ("The security token included in the request is invalid").
	"UnrecognizedClientException": "the security token included in the request is invalid",
	// The request's X-Amz-Date is more than 5 minutes from the service's
	// clock, or a presigned URL is past X-Amz-Expires. Not the credentials'
	// fault, but the retry re-signs with a fresh timestamp, which is what
	// cures a stale signature; the invalidation costs one fetch.
	"RequestExpired": "the request's timestamp is outside the service's window",
	// S3: "The provided token must be refreshed."
	"TokenRefreshRequired": "the service asks for a refreshed session token",
	// S3: "The provided token is malformed or otherwise invalid" (a token
	// from another partition, or truncated).
	"InvalidToken": "the session token is malformed or otherwise invalid",
	// EC2 and ECR: "AWS was not able to validate the provided access
	// credentials" (an unknown or disabled key).
	"AuthFailure": "the access credentials could not be validated",
}

// IsCredentialRejection reports whether an AWS error code says the
// credentials themselves were rejected, so that fresh ones may succeed:
// ExpiredToken, ExpiredTokenException, InvalidClientTokenId,
// InvalidAccessKeyId, UnrecognizedClientException, RequestExpired,
// TokenRefreshRequired, InvalidToken, AuthFailure (see credentialRejections
// for what each means). AccessDenied and SignatureDoesNotMatch are not: new
// credentials would not change the answer. The code may arrive decorated
// (see CodeName).
func IsCredentialRejection(code string) bool {
	_, ok := credentialRejections[CodeName(code)]
	return ok
}

// CredentialRejectionReason says in a few words what a code that
// IsCredentialRejection accepts means, for logs and error bodies; "" for any
// other code.
func CredentialRejectionReason(code string) string {
	return credentialRejections[CodeName(code)]
}

// IsSignatureRejection reports whether code is one of the errors AWS
// answers when it rejects a signature (issue 8): SignatureDoesNotMatch,
// InvalidSignatureException, InvalidSignature, IncompleteSignature(Exception)
// and AuthorizationHeaderMalformed.
func IsSignatureRejection(code string) bool {
	switch CodeName(code) {
	case "SignatureDoesNotMatch", "InvalidSignatureException", "InvalidSignature",
		"IncompleteSignature", "IncompleteSignatureException", "AuthorizationHeaderMalformed":
		return true
	}
	return false
}

// IsClockSkew reports whether an answer says the signing time is out of the
// server's window: S3's RequestTimeTooSkewed code, and the query and JSON
// protocols' "Signature expired: ... is now earlier than ..." and
// "Signature not yet current: ... is still later than ..." messages
// (InvalidSignatureException, SignatureDoesNotMatch).
func IsClockSkew(code, message string) bool {
	return CodeName(code) == "RequestTimeTooSkewed" ||
		strings.Contains(message, "Signature expired") ||
		strings.Contains(message, "Signature not yet current")
}
