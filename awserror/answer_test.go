package awserror

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// vanillaSignature is the signature of the official suite's get-vanilla
// request, signed with AWS's example keys.
const vanillaSignature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"

func TestParseRejectsNonAWSBodies(t *testing.T) {
	for _, body := range []string{"", "hello", "<html><body>502</body></html>", "{}"} {
		if a, ok := Parse([]byte(body)); ok {
			t.Errorf("Parse(%q) = %+v, true; want false", body, a)
		}
	}
}

// TestRead: the code comes from the x-amzn-ErrorType header, else the body
// (XML or JSON, possibly cut short), else X-Amz-Error-Code, without
// decorations.
func TestRead(t *testing.T) {
	serverTime := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name          string
		header        http.Header
		body          string
		code, message string
		serverTime    time.Time
	}{
		{name: "s3 xml", body: `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>1</RequestId></Error>`,
			code: "SlowDown", message: "Please reduce your request rate."},
		{name: "query xml", body: `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>`,
			code: "Throttling", message: "Rate exceeded"},
		{name: "ec2 xml", body: `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>`,
			code: "RequestLimitExceeded", message: "Request limit exceeded."},
		{name: "json __type with namespace", body: `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`,
			code: "ThrottlingException", message: "Rate of requests exceeds the allowed throughput."},
		{name: "json code field", body: `{"code":"TooManyRequestsException","Message":"slow down"}`, code: "TooManyRequestsException", message: "slow down"},
		{name: "json __type before code whatever the order", body: `{"code":"Second","__type":"First"}`, code: "First"},
		{name: "json errorType and errorMessage", body: `{"errorType":"X:y","errorMessage":"m"}`, code: "X", message: "m"},
		{name: "x-amzn-ErrorType header wins",
			header: http.Header{"X-Amzn-Errortype": {"ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"}},
			body:   `{"message":"Rate exceeded","__type":"Other"}`, code: "ThrottlingException", message: "Rate exceeded"},
		{name: "X-Amz-Error-Code when nothing else", header: http.Header{"X-Amz-Error-Code": {"NoSuchKey"}}, code: "NoSuchKey"},
		{name: "body before X-Amz-Error-Code", header: http.Header{"X-Amz-Error-Code": {"Other"}}, body: `<Error><Code>NoSuchKey</Code></Error>`, code: "NoSuchKey"},
		{name: "s3 skew server time", body: `<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><RequestTime>20261122T130000Z</RequestTime><ServerTime>2026-11-22T14:00:00Z</ServerTime></Error>`,
			code: "RequestTimeTooSkewed", message: "The difference between the request time and the current time is too large.", serverTime: serverTime},
		{name: "truncated json keeps what it has", body: `{"__type":"ThrottlingException","message":"Rate exc`, code: "ThrottlingException"},
		{name: "truncated xml keeps what it has", body: `<Error><Code>SlowDown</Code><Message>Please red`, code: "SlowDown"},
		{name: "nested json value skipped", body: `{"details":{"code":"Nope"},"__type":"SlowDown"}`, code: "SlowDown"},
		{name: "html error page", body: `<html><body>Bad Gateway</body></html>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Read(tc.header, []byte(tc.body))
			if a.Code != tc.code || a.Message != tc.message || !a.ServerTime.Equal(tc.serverTime) {
				t.Errorf("Read = code %q message %q server time %v; want %q %q %v", a.Code, a.Message, a.ServerTime, tc.code, tc.message, tc.serverTime)
			}
		})
	}
}

// A versitygw SignatureDoesNotMatch body: its s3err encodes newlines as
// &#xA; and adds hex byte dumps.
func TestParseVersitygwError(t *testing.T) {
	body := `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256&#xA;20150830T123600Z&#xA;20150830/us-east-1/s3/aws4_request&#xA;abc</StringToSign><SignatureProvided>` + vanillaSignature + `</SignatureProvided><StringToSignBytes>41 57 53</StringToSignBytes><CanonicalRequest>GET&#xA;/&#xA;&#xA;host:example.amazonaws.com&#xA;&#xA;host&#xA;UNSIGNED-PAYLOAD</CanonicalRequest><RequestId>R</RequestId></Error>`
	e, ok := Parse([]byte(body))
	if !ok {
		t.Fatal("not parsed")
	}
	if e.CanonicalRequest != "GET\n/\n\nhost:example.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD" {
		t.Fatalf("CanonicalRequest = %q", e.CanonicalRequest)
	}
	if !strings.HasPrefix(e.StringToSign, "AWS4-HMAC-SHA256\n20150830T123600Z\n") || e.AccessKeyID != "AKIDEXAMPLE" || e.RequestID != "R" {
		t.Fatalf("parsed %+v", e)
	}
	// Only the hex form: decoded.
	hexOnly := `<Error><Code>SignatureDoesNotMatch</Code><CanonicalRequestBytes>47 45 54 0a 2f</CanonicalRequestBytes></Error>`
	if e, _ := Parse([]byte(hexOnly)); e.CanonicalRequest != "GET\n/" {
		t.Fatalf("from bytes: %q", e.CanonicalRequest)
	}
}

// AWS query and JSON APIs quote what the canonical request and string to
// sign should have been in the message itself.
func TestParseQueryAPIShouldHaveBeen(t *testing.T) {
	msg := "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n" +
		"The Canonical String for this request should have been\n'POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:sts.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\nabc'\n\n" +
		"The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/sts/aws4_request\ndef'\n"
	body := `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code><Message>` +
		xmlEscape(msg) + `</Message></Error><RequestId>R</RequestId></ErrorResponse>`
	e, ok := Parse([]byte(body))
	if !ok {
		t.Fatal("not parsed")
	}
	if !strings.HasPrefix(e.CanonicalRequest, "POST\n/\n\ncontent-type:") || !strings.HasSuffix(e.CanonicalRequest, "\nabc") {
		t.Fatalf("CanonicalRequest = %q", e.CanonicalRequest)
	}
	if e.StringToSign != "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/sts/aws4_request\ndef" {
		t.Fatalf("StringToSign = %q", e.StringToSign)
	}
	if strings.Contains(e.SafeMessage(), "POST") {
		t.Fatalf("SafeMessage quotes the canonical request: %q", e.SafeMessage())
	}
	jsonBody := `{"__type":"InvalidSignatureException","message":` + jsonQuote(msg) + `}`
	if e, _ := Parse([]byte(jsonBody)); e.StringToSign == "" || e.CanonicalRequest == "" {
		t.Fatalf("JSON form not extracted: %+v", e)
	}
}

func TestSafeMessageRedactsSignatures(t *testing.T) {
	e := Answer{Message: "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + vanillaSignature + ", X-Amz-Security-Token=TOKEN"}
	m := e.SafeMessage()
	if strings.Contains(m, vanillaSignature) || strings.Contains(m, "TOKEN") {
		t.Fatalf("SafeMessage = %q", m)
	}
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", "\n", "&#xA;").Replace(s)
}

func jsonQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
