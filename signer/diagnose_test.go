package signer

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// The official suite's get-vanilla request, signed with AWS's example keys.
const (
	vanillaSignature = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	vanillaAuthz     = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + vanillaSignature
	vanillaDate      = "20150830T123600Z"
)

var vanillaTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

func codes(ps []Problem) []ProblemCode {
	out := make([]ProblemCode, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Code)
	}
	return out
}

func TestDiagnoseWellFormedHasNoProblems(t *testing.T) {
	opts := DiagnoseOptions{Now: vanillaTime.Add(time.Minute), Service: "service", Region: "us-east-1"}
	if ps := DiagnoseAuthorization(vanillaAuthz, vanillaDate, opts); len(ps) != 0 {
		t.Fatalf("problems in get-vanilla: %v", ps)
	}
	req := vanillaRequest(t, vanillaAuthz)
	if ps := DiagnoseRequest(req, opts); len(ps) != 0 {
		t.Fatalf("problems in get-vanilla request: %v", ps)
	}
	// Commas without a following space are accepted by AWS.
	tight := strings.ReplaceAll(vanillaAuthz, ", ", ",")
	if ps := DiagnoseAuthorization(tight, vanillaDate, opts); len(ps) != 0 {
		t.Fatalf("problems with commas and no spaces: %v", ps)
	}
}

func vanillaRequest(t *testing.T, authz string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Date", vanillaDate)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return req
}

// TestDiagnoseEachCause crafts one broken request per cause issue 8 names
// (and the neighbours the parser tells apart) and expects exactly that
// cause, with its own message.
func TestDiagnoseEachCause(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(vanillaAuthz, old, new, 1) }
	cases := []struct {
		name   string
		authz  string
		date   string
		opts   DiagnoseOptions
		header map[string]string // when set, DiagnoseRequest on a request with these headers
		want   []ProblemCode
	}{
		{name: "missing Credential", authz: "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=" + vanillaSignature, want: []ProblemCode{CodeMissingCredential}},
		{name: "missing SignedHeaders", authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, Signature=" + vanillaSignature, want: []ProblemCode{CodeMissingSignedHeaders}},
		{name: "missing Signature", authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date", want: []ProblemCode{CodeMissingSignature}},
		{name: "empty Signature", authz: replace("Signature="+vanillaSignature, "Signature="), want: []ProblemCode{CodeMissingSignature}},
		{name: "missing space after algorithm", authz: replace("AWS4-HMAC-SHA256 ", "AWS4-HMAC-SHA256"), want: []ProblemCode{CodeMissingSpace}},
		{name: "missing commas", authz: strings.ReplaceAll(vanillaAuthz, ", ", " "), want: []ProblemCode{CodeMissingComma}},
		{name: "other algorithm", authz: replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), want: []ProblemCode{CodeUnsupportedAlgorithm}},
		{name: "lower-case algorithm", authz: replace("AWS4-HMAC-SHA256", "aws4-hmac-sha256"), want: []ProblemCode{CodeUnsupportedAlgorithm}},
		{name: "signature version 2", authz: "AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", want: []ProblemCode{CodeSignatureV2}},
		{name: "scope without terminator", authz: replace("/service/aws4_request", "/service"), want: []ProblemCode{CodeMalformedScope}},
		{name: "scope date with dashes", authz: replace("/20150830/", "/2015-08-30/"), want: []ProblemCode{CodeMalformedScope}},
		{name: "scope wrong terminator", authz: replace("aws4_request", "aws4-request"), want: []ProblemCode{CodeMalformedScope}},
		{name: "X-Amz-Date not basic format", authz: vanillaAuthz, date: "2015-08-30T12:36:00Z", want: []ProblemCode{CodeMalformedDate}},
		{name: "X-Amz-Date day differs from scope", authz: vanillaAuthz, date: "20150831T003600Z", want: []ProblemCode{CodeDateScopeMismatch}},
		{name: "host not signed", authz: replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date"), want: []ProblemCode{CodeHostNotSigned}},
		{name: "signed header absent", authz: replace("SignedHeaders=host;x-amz-date", "SignedHeaders=host;x-amz-date;x-amz-meta-color"),
			header: map[string]string{}, want: []ProblemCode{CodeSignedHeaderAbsent}},
		{name: "signature expired", authz: vanillaAuthz, date: vanillaDate, opts: DiagnoseOptions{Now: vanillaTime.Add(time.Hour)}, want: []ProblemCode{CodeSignatureExpired}},
		{name: "clock ahead", authz: vanillaAuthz, date: vanillaDate, opts: DiagnoseOptions{Now: vanillaTime.Add(-20 * time.Minute)}, want: []ProblemCode{CodeSignatureNotYetValid}},
		{name: "wrong region", authz: vanillaAuthz, opts: DiagnoseOptions{Region: "eu-west-1"}, want: []ProblemCode{CodeWrongRegion}},
		{name: "wrong service", authz: vanillaAuthz, opts: DiagnoseOptions{Service: "iam"}, want: []ProblemCode{CodeWrongService}},
		{name: "component without equals", authz: vanillaAuthz + ", Junk", want: []ProblemCode{CodeMalformedComponent}},
		{name: "component in wrong case", authz: replace("Credential=", "credential="), want: []ProblemCode{CodeMalformedComponent, CodeMissingCredential}},
		{name: "signature not hex", authz: replace(vanillaSignature, "ZZZ"), want: []ProblemCode{CodeMalformedSignature}},
		{name: "signed headers unsorted", authz: replace("host;x-amz-date", "x-amz-date;host"), want: []ProblemCode{CodeSignedHeadersOrder}},
		{name: "no date at all", authz: vanillaAuthz, header: map[string]string{"X-Amz-Date": ""}, want: []ProblemCode{CodeMissingDate}},
		{name: "s3 x-amz header not signed", authz: replace("/service/", "/s3/"),
			header: map[string]string{"X-Amz-Content-Sha256": EmptyPayloadHash, "X-Amz-Meta-Color": "red"}, want: []ProblemCode{CodeAmzHeaderNotSigned}},
		{name: "s3 without content sha256", authz: replace("/service/", "/s3/"), header: map[string]string{}, want: []ProblemCode{CodeMissingContentSHA256}},
		{name: "no authorization", authz: "", header: map[string]string{}, want: []ProblemCode{CodeAuthorizationMissing}},
	}
	messages := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []Problem
			if tc.header != nil {
				req := vanillaRequest(t, tc.authz)
				for k, v := range tc.header {
					if v == "" {
						req.Header.Del(k)
					} else {
						req.Header.Set(k, v)
					}
				}
				got = DiagnoseRequest(req, tc.opts)
			} else {
				got = DiagnoseAuthorization(tc.authz, tc.date, tc.opts)
			}
			if !reflect.DeepEqual(codes(got), tc.want) {
				t.Fatalf("codes = %v, want %v\n%v", codes(got), tc.want, got)
			}
			p := got[0]
			if p.Message == "" || p.Fix == "" {
				t.Fatalf("problem without message or fix: %+v", p)
			}
			if strings.Contains(p.Message, vanillaSignature) || strings.Contains(p.Fix, vanillaSignature) {
				t.Fatalf("message quotes the signature: %+v", p)
			}
			if other, dup := messages[p.Message]; dup {
				t.Fatalf("same message as case %q: %q", other, p.Message)
			}
			messages[p.Message] = tc.name
		})
	}
}

func TestDiagnoseEveryProblemAtOnce(t *testing.T) {
	authz := "AWS4-HMAC-SHA1 Credential=AKIDEXAMPLE/20150830/us-east-1/service SignedHeaders=x-amz-date"
	got := codes(DiagnoseAuthorization(authz, "2015-08-30", DiagnoseOptions{}))
	for _, want := range []ProblemCode{CodeUnsupportedAlgorithm, CodeMissingComma, CodeMalformedScope, CodeHostNotSigned, CodeMissingSignature, CodeMalformedDate} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s in %v", want, got)
		}
	}
}

func TestDiagnosePresigned(t *testing.T) {
	q := url.Values{
		"X-Amz-Algorithm":     {Algorithm},
		"X-Amz-Credential":    {"AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"},
		"X-Amz-Date":          {vanillaDate},
		"X-Amz-Expires":       {"3600"},
		"X-Amz-SignedHeaders": {"host"},
		"X-Amz-Signature":     {vanillaSignature},
	}
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/?"+q.Encode(), nil)
	if ps := DiagnoseRequest(req, DiagnoseOptions{Now: vanillaTime.Add(59 * time.Minute)}); len(ps) != 0 {
		t.Fatalf("valid presigned URL: %v", ps)
	}
	got := DiagnoseRequest(req, DiagnoseOptions{Now: vanillaTime.Add(61 * time.Minute)})
	if !reflect.DeepEqual(codes(got), []ProblemCode{CodeSignatureExpired}) {
		t.Fatalf("expired presigned URL: %v", got)
	}
	req.Header.Set("Authorization", vanillaAuthz)
	if got := codes(DiagnoseRequest(req, DiagnoseOptions{})); !reflect.DeepEqual(got, []ProblemCode{CodeMultipleAuth}) {
		t.Fatalf("both mechanisms: %v", got)
	}
}

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
			e, ok := ParseAWSError([]byte(tc.body))
			if !ok || e.Code != tc.code {
				t.Fatalf("ParseAWSError = %+v, %v; want code %s", e, ok, tc.code)
			}
			if got := codes(e.Problems()); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Problems = %v, want %v", got, tc.want)
			}
		})
	}
	for _, body := range []string{"", "hello", "<html><body>502</body></html>", "{}"} {
		if e, ok := ParseAWSError([]byte(body)); ok {
			t.Errorf("ParseAWSError(%q) = %+v, true; want false", body, e)
		}
	}
}

// serverCanonical is get-vanilla with a query, a signed S3 header and a
// session token, as a server would compute it.
const serverCanonical = "GET\n/photos/a%20b.jpg\nlist-type=2&prefix=a\n" +
	"host:example.amazonaws.com\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20150830T123600Z\nx-amz-security-token:SESSIONTOKENVALUE\n\n" +
	"host;x-amz-content-sha256;x-amz-date;x-amz-security-token\nUNSIGNED-PAYLOAD"

func TestCompareWithServerNamesFirstDifferingPart(t *testing.T) {
	cases := []struct {
		name, ours, part string
		code             ProblemCode
	}{
		{"method", strings.Replace(serverCanonical, "GET\n", "HEAD\n", 1), "method", CodeMethodDiffers},
		{"path double-encoded", strings.Replace(serverCanonical, "a%20b", "a%2520b", 1), "path", CodePathDiffers},
		{"query order", strings.Replace(serverCanonical, "list-type=2&prefix=a", "prefix=a&list-type=2", 1), "query", CodeQueryDiffers},
		{"header value", strings.Replace(serverCanonical, "x-amz-date:20150830T123600Z", "x-amz-date:20150830T123601Z", 1), "header x-amz-date", CodeHeaderDiffers},
		{"header we signed, server lacks", strings.Replace(serverCanonical, "x-amz-date:", "x-amz-meta-a:1\nx-amz-date:", 1), "header x-amz-meta-a", CodeHeaderDiffers},
		{"signed headers", strings.Replace(serverCanonical, "\nhost;x-amz-content-sha256", "\nhost;X-amz-content-sha256", 1), "signed headers", CodeSignedHeadersDiffer},
		{"payload hash", strings.Replace(serverCanonical, "\nUNSIGNED-PAYLOAD", "\n"+EmptyPayloadHash, 1), "payload hash", CodePayloadHashDiffers},
		{"path and query: path first", strings.Replace(strings.Replace(serverCanonical, "a%20b", "a+b", 1), "prefix=a", "prefix=b", 1), "path", CodePathDiffers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := CompareWithServer(Result{CanonicalRequest: tc.ours}, AWSError{Code: "SignatureDoesNotMatch", CanonicalRequest: serverCanonical})
			if c.Part != tc.part {
				t.Fatalf("Part = %q, want %q", c.Part, tc.part)
			}
			if got := codes(c.Problems); !reflect.DeepEqual(got, []ProblemCode{tc.code}) {
				t.Fatalf("Problems = %v, want %s", c.Problems, tc.code)
			}
			diff := FormatDiff(c.Diff)
			if strings.Contains(diff, "SESSIONTOKENVALUE") || strings.Contains(c.Problems[0].Message, "SESSIONTOKENVALUE") {
				t.Fatalf("diff shows the session token:\n%s", diff)
			}
			if !strings.Contains(diff, "\n- ") && !strings.Contains(diff, "\n+ ") {
				t.Fatalf("diff shows no difference:\n%s", diff)
			}
		})
	}
}

func TestCompareWithServerDiffLines(t *testing.T) {
	ours := strings.Replace(serverCanonical, "list-type=2&prefix=a", "prefix=a&list-type=2", 1)
	c := CompareWithServer(Result{CanonicalRequest: ours}, AWSError{CanonicalRequest: serverCanonical})
	var changed []DiffLine
	for _, l := range c.Diff {
		if l.Op != ' ' {
			changed = append(changed, l)
		}
	}
	want := []DiffLine{{'-', "list-type=2&prefix=a"}, {'+', "prefix=a&list-type=2"}}
	if !reflect.DeepEqual(changed, want) {
		t.Fatalf("changed lines = %q, want %q", changed, want)
	}
	if len(c.Diff) != strings.Count(serverCanonical, "\n")+2 {
		t.Fatalf("diff has %d lines, want every line once plus one changed", len(c.Diff))
	}
	// The token line is shown redacted, with a fingerprint equal on both sides.
	if !strings.Contains(FormatDiff(c.Diff), "  x-amz-security-token:<redacted ") {
		t.Fatalf("token line not redacted:\n%s", FormatDiff(c.Diff))
	}
}

func TestCompareWithServerStringToSign(t *testing.T) {
	sts := "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
	same := CompareWithServer(Result{StringToSign: sts}, AWSError{Code: "SignatureDoesNotMatch", StringToSign: sts})
	if got := codes(same.Problems); !reflect.DeepEqual(got, []ProblemCode{CodeWrongSecret}) {
		t.Fatalf("same string to sign: %v, want wrong-secret", same.Problems)
	}
	region := CompareWithServer(Result{StringToSign: sts}, AWSError{StringToSign: strings.Replace(sts, "us-east-1", "eu-west-1", 1)})
	if got := codes(region.Problems); !reflect.DeepEqual(got, []ProblemCode{CodeWrongRegion}) {
		t.Fatalf("other region: %v", region.Problems)
	}
	hash := CompareWithServer(Result{StringToSign: sts}, AWSError{StringToSign: sts[:len(sts)-1] + "f"})
	if got := codes(hash.Problems); !reflect.DeepEqual(got, []ProblemCode{CodeCanonicalDiffers}) {
		t.Fatalf("other canonical hash: %v", hash.Problems)
	}
}

// A versitygw SignatureDoesNotMatch body: its s3err encodes newlines as
// &#xA; and adds hex byte dumps.
func TestParseVersitygwError(t *testing.T) {
	body := `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256&#xA;20150830T123600Z&#xA;20150830/us-east-1/s3/aws4_request&#xA;abc</StringToSign><SignatureProvided>` + vanillaSignature + `</SignatureProvided><StringToSignBytes>41 57 53</StringToSignBytes><CanonicalRequest>GET&#xA;/&#xA;&#xA;host:example.amazonaws.com&#xA;&#xA;host&#xA;UNSIGNED-PAYLOAD</CanonicalRequest><RequestId>R</RequestId></Error>`
	e, ok := ParseAWSError([]byte(body))
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
	if e, _ := ParseAWSError([]byte(hexOnly)); e.CanonicalRequest != "GET\n/" {
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
	e, ok := ParseAWSError([]byte(body))
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
	if e, _ := ParseAWSError([]byte(jsonBody)); e.StringToSign == "" || e.CanonicalRequest == "" {
		t.Fatalf("JSON form not extracted: %+v", e)
	}
}

func TestSafeMessageRedactsSignatures(t *testing.T) {
	e := AWSError{Message: "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + vanillaSignature + ", X-Amz-Security-Token=TOKEN"}
	m := e.SafeMessage()
	if strings.Contains(m, vanillaSignature) || strings.Contains(m, "TOKEN") {
		t.Fatalf("SafeMessage = %q", m)
	}
	for _, p := range e.Problems() {
		if strings.Contains(p.Message, vanillaSignature) {
			t.Fatalf("problem quotes the signature: %q", p.Message)
		}
	}
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", "\n", "&#xA;").Replace(s)
}

func jsonQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// FuzzParseAuthorization: no input panics; a header found well formed
// re-assembles to the same header; no message quotes the signature.
func FuzzParseAuthorization(f *testing.F) {
	f.Add(vanillaAuthz)
	f.Add(strings.ReplaceAll(vanillaAuthz, ", ", " "))
	f.Add("AWS AKIDEXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=")
	f.Add("AWS4-HMAC-SHA256Credential=a/b/c/d/e,,,=,Signature")
	f.Add(strings.Repeat("0", 64) + " Signature=" + strings.Repeat("0", 64)) // once quoted the signature as the algorithm
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	f.Fuzz(func(t *testing.T, header string) {
		a, problems := ParseAuthorization(header)
		for _, p := range problems {
			if p.Code == "" || p.Message == "" || p.Fix == "" {
				t.Fatalf("incomplete problem %+v", p)
			}
			if len(a.Signature) >= 16 && strings.Contains(p.Message, a.Signature) {
				t.Fatalf("message quotes the signature: %q", p.Message)
			}
		}
		if len(problems) > 0 {
			return
		}
		again := Algorithm + " Credential=" + a.AccessKeyID + "/" + a.Scope + ", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
		b, problems := ParseAuthorization(again)
		if len(problems) != 0 || !reflect.DeepEqual(a, b) {
			t.Fatalf("%q parsed as %+v; re-assembled %q parsed as %+v, %v", header, a, again, b, problems)
		}
	})
}

// Recompute gives back the canonical request and string to sign of a
// request signed earlier, without the secret.
func TestRecompute(t *testing.T) {
	s := New(nil)
	req, _ := http.NewRequest(http.MethodPut, "https://bucket.s3.eu-west-1.amazonaws.com/a%20b?x=1&a=2", strings.NewReader("hello"))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("User-Agent", "app/1")
	signed, err := s.Sign(req, Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "TOKEN"},
		Options{Service: "s3", Region: "eu-west-1", Time: vanillaTime, PayloadHash: UnsignedPayload, SetContentSHA256: true, Debug: true, UnsignedHeaders: DefaultUnsignedHeaders})
	if err != nil {
		t.Fatal(err)
	}
	before := req.Header.Clone()
	got, err := s.Recompute(req, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.CanonicalRequest != signed.CanonicalRequest || got.StringToSign != signed.StringToSign {
		t.Fatalf("recomputed\n%s\n%s\nsigned\n%s\n%s", got.CanonicalRequest, got.StringToSign, signed.CanonicalRequest, signed.StringToSign)
	}
	if !reflect.DeepEqual(req.Header, before) {
		t.Fatal("Recompute modified the request")
	}
	if strings.Contains(RedactCanonicalRequest(got.CanonicalRequest), "TOKEN") {
		t.Fatal("RedactCanonicalRequest kept the session token")
	}
	req.Header.Set("Authorization", "AWS AKID:sig")
	if _, err := s.Recompute(req, ""); err == nil {
		t.Fatal("Recompute accepted a SigV2 header")
	}
}

func TestMergeProblems(t *testing.T) {
	generic := problem(CodeSignatureMismatch, "generic")
	region := problem(CodeWrongRegion, "region")
	got := codes(MergeProblems([]Problem{generic, region}, []Problem{region, problem(CodeCanonicalDiffers, "hash")}))
	if !reflect.DeepEqual(got, []ProblemCode{CodeWrongRegion, CodeCanonicalDiffers}) {
		t.Fatalf("merged %v", got)
	}
	if got := codes(MergeProblems([]Problem{generic}, []Problem{generic})); !reflect.DeepEqual(got, []ProblemCode{CodeSignatureMismatch}) {
		t.Fatalf("generic alone merged to %v", got)
	}
}

// A real versitygw v1.8.0 SignatureDoesNotMatch body: the header the client
// changed after signing is named, and the diff shows it.
func TestVersitygwRealBody(t *testing.T) {
	body, err := os.ReadFile("testdata/diagnose/versitygw-header-changed.xml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/diagnose/versitygw-header-changed.req")
	if err != nil {
		t.Fatal(err)
	}
	e, ok := ParseAWSError(body)
	if !ok || e.Code != "SignatureDoesNotMatch" || e.CanonicalRequest == "" || e.StringToSign == "" {
		t.Fatalf("parsed %+v", e)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Host = req.Host
	ours, err := New(nil).Recompute(req, "")
	if err != nil {
		t.Fatal(err)
	}
	c := CompareWithServer(ours, e)
	if c.Part != "header x-amz-meta-color" || !reflect.DeepEqual(codes(c.Problems), []ProblemCode{CodeHeaderDiffers}) {
		t.Fatalf("part %q, problems %v", c.Part, c.Problems)
	}
	if !strings.Contains(FormatDiff(c.Diff), "- x-amz-meta-color:blue\n+ x-amz-meta-color:red\n") {
		t.Fatalf("diff:\n%s", FormatDiff(c.Diff))
	}
}

// FuzzParseAWSError: no body panics the parser, the classifier or the
// comparison, and SafeMessage never shows a 64-hex signature it was given
// after "Signature=".
func FuzzParseAWSError(f *testing.F) {
	for _, seed := range []string{
		`<Error><Code>SignatureDoesNotMatch</Code><CanonicalRequest>GET&#xA;/&#xA;&#xA;host:a&#xA;&#xA;host&#xA;UNSIGNED-PAYLOAD</CanonicalRequest><StringToSignBytes>41 57</StringToSignBytes></Error>`,
		`{"__type":"x#InvalidSignatureException","message":"The Canonical String for this request should have been\n'GET\n/\n\nhost:a\n\nhost\nabc'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n1\n2\n3'\n"}`,
		`<ErrorResponse><Error><Code>IncompleteSignature</Code><Message>Authorization=AWS4-HMAC-SHA256 Signature=` + vanillaSignature + `</Message></Error></ErrorResponse>`,
		`<Error><Code>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, _ := ParseAWSError(body)
		for _, p := range e.Problems() {
			if p.Code == "" || p.Fix == "" {
				t.Fatalf("incomplete problem %+v", p)
			}
		}
		if strings.Contains(e.SafeMessage(), "Signature="+vanillaSignature) {
			t.Fatalf("SafeMessage shows the signature: %q", e.SafeMessage())
		}
		ours := Result{CanonicalRequest: serverCanonical, StringToSign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/s3/aws4_request\nabc"}
		c := CompareWithServer(ours, e)
		if strings.Contains(FormatDiff(c.Diff), "SESSIONTOKENVALUE") {
			t.Fatal("diff shows our session token")
		}
	})
}
