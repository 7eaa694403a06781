package creds

import "strings"

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
// credentials would not change the answer.
//
// awsErrorCode is the Code element of an XML error or the __type field or
// X-Amzn-ErrorType header of a JSON one, as they arrive: a namespace before
// '#' ("com.amazon.coral.service#ExpiredTokenException") and anything after
// ':' ("ExpiredTokenException:http://internal.amazon.com/...") are ignored.
func IsCredentialRejection(awsErrorCode string) bool {
	_, ok := credentialRejections[ErrorCodeName(awsErrorCode)]
	return ok
}

// CredentialRejectionReason says in a few words what a code that
// IsCredentialRejection accepts means, for logs and error bodies; "" for any
// other code.
func CredentialRejectionReason(awsErrorCode string) string {
	return credentialRejections[ErrorCodeName(awsErrorCode)]
}

// ErrorCodeName returns an AWS error code without the decorations the
// protocols put around it: the namespace before '#' of a JSON __type
// ("com.amazon.coral.service#ExpiredTokenException") and what follows ':'
// in an X-Amzn-ErrorType header ("ExpiredTokenException:http://internal.amazon.com/...");
// surrounding space is trimmed. A plain code is returned as is, so applying
// it twice changes nothing.
// https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html#operation-error-serialization
//
// It lives here, with the codes it is compared against, because creds
// imports nothing of the proxy's: sidecar/resilience normalizes with it too.
func ErrorCodeName(code string) string {
	code = strings.TrimSpace(code)
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	return code
}
