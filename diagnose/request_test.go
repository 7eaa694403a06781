package diagnose

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
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
	opts := Options{Now: vanillaTime.Add(time.Minute), Service: "service", Region: "us-east-1"}
	if ps := Authorization(vanillaAuthz, vanillaDate, opts); len(ps) != 0 {
		t.Fatalf("problems in get-vanilla: %v", ps)
	}
	req := vanillaRequest(t, vanillaAuthz)
	if ps := Request(req, opts); len(ps) != 0 {
		t.Fatalf("problems in get-vanilla request: %v", ps)
	}
	// Commas without a following space are accepted by AWS.
	tight := strings.ReplaceAll(vanillaAuthz, ", ", ",")
	if ps := Authorization(tight, vanillaDate, opts); len(ps) != 0 {
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
		opts   Options
		header map[string]string // when set, Request on a request with these headers
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
		{name: "signature expired", authz: vanillaAuthz, date: vanillaDate, opts: Options{Now: vanillaTime.Add(time.Hour)}, want: []ProblemCode{CodeSignatureExpired}},
		{name: "clock ahead", authz: vanillaAuthz, date: vanillaDate, opts: Options{Now: vanillaTime.Add(-20 * time.Minute)}, want: []ProblemCode{CodeSignatureNotYetValid}},
		{name: "wrong region", authz: vanillaAuthz, opts: Options{Region: "eu-west-1"}, want: []ProblemCode{CodeWrongRegion}},
		{name: "wrong service", authz: vanillaAuthz, opts: Options{Service: "iam"}, want: []ProblemCode{CodeWrongService}},
		{name: "component without equals", authz: vanillaAuthz + ", Junk", want: []ProblemCode{CodeMalformedComponent}},
		{name: "empty component", authz: vanillaAuthz + ",", want: []ProblemCode{CodeMalformedComponent}},
		{name: "component in wrong case", authz: replace("Credential=", "credential="), want: []ProblemCode{CodeMalformedComponent, CodeMissingCredential}},
		{name: "signature not hex", authz: replace(vanillaSignature, "ZZZ"), want: []ProblemCode{CodeMalformedSignature}},
		{name: "signed headers unsorted", authz: replace("host;x-amz-date", "x-amz-date;host"), want: []ProblemCode{CodeSignedHeadersOrder}},
		{name: "no date at all", authz: vanillaAuthz, header: map[string]string{"X-Amz-Date": ""}, want: []ProblemCode{CodeMissingDate}},
		{name: "s3 x-amz header not signed", authz: replace("/service/", "/s3/"),
			header: map[string]string{"X-Amz-Content-Sha256": signer.EmptyPayloadHash, "X-Amz-Meta-Color": "red"}, want: []ProblemCode{CodeAmzHeaderNotSigned}},
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
				got = Request(req, tc.opts)
			} else {
				got = Authorization(tc.authz, tc.date, tc.opts)
			}
			if !reflect.DeepEqual(codes(got), tc.want) {
				t.Fatalf("codes = %v, want %v\n%v", codes(got), tc.want, got)
			}
			p := got[0]
			// Every code has its fix in the advice table of the HTTP and CLI
			// side (sidecar.TestAdviceForEveryCause); here it must be one the
			// package declares.
			if p.Message == "" || !slices.Contains(Codes(), p.Code) {
				t.Fatalf("problem without message or with an undeclared code: %+v", p)
			}
			if strings.Contains(p.Message, vanillaSignature) {
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
	got := codes(Authorization(authz, "2015-08-30", Options{}))
	for _, want := range []ProblemCode{CodeUnsupportedAlgorithm, CodeMissingComma, CodeMalformedScope, CodeHostNotSigned, CodeMissingSignature, CodeMalformedDate} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s in %v", want, got)
		}
	}
}

func TestDiagnosePresigned(t *testing.T) {
	q := url.Values{
		"X-Amz-Algorithm":     {signer.Algorithm},
		"X-Amz-Credential":    {"AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"},
		"X-Amz-Date":          {vanillaDate},
		"X-Amz-Expires":       {"3600"},
		"X-Amz-SignedHeaders": {"host"},
		"X-Amz-Signature":     {vanillaSignature},
	}
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/?"+q.Encode(), nil)
	if ps := Request(req, Options{Now: vanillaTime.Add(59 * time.Minute)}); len(ps) != 0 {
		t.Fatalf("valid presigned URL: %v", ps)
	}
	got := Request(req, Options{Now: vanillaTime.Add(61 * time.Minute)})
	if !reflect.DeepEqual(codes(got), []ProblemCode{CodeSignatureExpired}) {
		t.Fatalf("expired presigned URL: %v", got)
	}
	req.Header.Set("Authorization", vanillaAuthz)
	if got := codes(Request(req, Options{})); !reflect.DeepEqual(got, []ProblemCode{CodeMultipleAuth}) {
		t.Fatalf("both mechanisms: %v", got)
	}
}
