package diagnose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
)

func TestClassifyAWSErrors(t *testing.T) {
	cases := []struct {
		name, body string
		code       string
		want       []ProblemCode
	}{
		{"s3 wrong region", `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region><RequestId>X</RequestId></Error>`,
			"AuthorizationHeaderMalformed", []ProblemCode{CodeWrongRegion}},
		{"json expired", `{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"Signature expired: 20150830T123600Z is now earlier than 20150830T124000Z (20150830T125500Z - 15 min.)"}`,
			"InvalidSignatureException", []ProblemCode{CodeSignatureExpired}},
		{"json not yet current", `{"__type":"InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/","message":"Signature not yet current: 20150830T130000Z is still later than 20150830T124500Z (20150830T123000Z + 15 min.)"}`,
			"InvalidSignatureException", []ProblemCode{CodeSignatureNotYetValid}},
		{"incomplete signature lists two", `<ErrorResponse><Error><Type>Sender</Type><Code>IncompleteSignature</Code><Message>Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host</Message></Error></ErrorResponse>`,
			"IncompleteSignature", []ProblemCode{CodeMissingCredential, CodeMissingSignature}},
		{"wrong service", `<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>Credential should be scoped to correct service: 'sqs'. </Message></Error></ErrorResponse>`,
			"SignatureDoesNotMatch", []ProblemCode{CodeWrongService}},
		{"basic format", `{"__type":"IncompleteSignatureException","message":"Date must be in ISO-8601 'basic format'. Got '2015-08-30'. See http://en.wikipedia.org/wiki/ISO_8601"}`,
			"IncompleteSignatureException", []ProblemCode{CodeMalformedDate}},
		{"host not signed", `{"__type":"InvalidSignatureException","message":"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."}`,
			"InvalidSignatureException", []ProblemCode{CodeHostNotSigned}},
		{"skewed", `<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`,
			"RequestTimeTooSkewed", []ProblemCode{CodeClockSkew}},
		{"unknown key", `<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`,
			"InvalidAccessKeyId", []ProblemCode{CodeUnknownAccessKey}},
		{"expired token", `{"__type":"com.amazonaws.dynamodb.v20120810#ExpiredTokenException","message":"The security token included in the request is expired"}`,
			"ExpiredTokenException", []ProblemCode{CodeExpiredToken}},
		{"sigv2", `<Error><Code>InvalidRequest</Code><Message>The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.</Message></Error>`,
			"InvalidRequest", []ProblemCode{CodeSignatureV2}},
		{"generic mismatch", `{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.","__type":"InvalidSignatureException"}`,
			"InvalidSignatureException", []ProblemCode{CodeSignatureMismatch}},
		{"truncated", `<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not`,
			"SignatureDoesNotMatch", []ProblemCode{CodeSignatureMismatch}},
		{"plain access denied", `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`,
			"AccessDenied", []ProblemCode{CodeAccessDenied}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := awserror.Parse([]byte(tc.body))
			if !ok || e.Code != tc.code {
				t.Fatalf("awserror.Parse = %+v, %v; want code %s", e, ok, tc.code)
			}
			if got := codes(Answer(e)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Problems = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAnswerRedactsSignatures: the causes read from an answer never quote
// the signature it quotes (awserror.TestSafeMessageRedactsSignatures checks
// SafeMessage itself).
func TestAnswerRedactsSignatures(t *testing.T) {
	e := awserror.Answer{Message: "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + vanillaSignature + ", X-Amz-Security-Token=TOKEN"}
	if len(Answer(e)) == 0 {
		t.Fatal("no cause read from an IncompleteSignature message")
	}
	for _, p := range Answer(e) {
		if strings.Contains(p.Message, vanillaSignature) {
			t.Fatalf("problem quotes the signature: %q", p.Message)
		}
	}
}
