package diagnose

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

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
		{"payload hash", strings.Replace(serverCanonical, "\nUNSIGNED-PAYLOAD", "\n"+signer.EmptyPayloadHash, 1), "payload hash", CodePayloadHashDiffers},
		{"path and query: path first", strings.Replace(strings.Replace(serverCanonical, "a%20b", "a+b", 1), "prefix=a", "prefix=b", 1), "path", CodePathDiffers},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := CompareWithServer(signer.Result{CanonicalRequest: tc.ours}, awserror.Answer{Code: "SignatureDoesNotMatch", CanonicalRequest: serverCanonical})
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
	c := CompareWithServer(signer.Result{CanonicalRequest: ours}, awserror.Answer{CanonicalRequest: serverCanonical})
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
	same := CompareWithServer(signer.Result{StringToSign: sts}, awserror.Answer{Code: "SignatureDoesNotMatch", StringToSign: sts})
	if got := codes(same.Problems); !reflect.DeepEqual(got, []ProblemCode{CodeWrongSecret}) {
		t.Fatalf("same string to sign: %v, want wrong-secret", same.Problems)
	}
	region := CompareWithServer(signer.Result{StringToSign: sts}, awserror.Answer{StringToSign: strings.Replace(sts, "us-east-1", "eu-west-1", 1)})
	if got := codes(region.Problems); !reflect.DeepEqual(got, []ProblemCode{CodeWrongRegion}) {
		t.Fatalf("other region: %v", region.Problems)
	}
	hash := CompareWithServer(signer.Result{StringToSign: sts}, awserror.Answer{StringToSign: sts[:len(sts)-1] + "f"})
	if got := codes(hash.Problems); !reflect.DeepEqual(got, []ProblemCode{CodeCanonicalDiffers}) {
		t.Fatalf("other canonical hash: %v", hash.Problems)
	}
}

// A real versitygw v1.8.0 SignatureDoesNotMatch body: the header the client
// changed after signing is named, and the diff shows it.
func TestVersitygwRealBody(t *testing.T) {
	body, err := os.ReadFile("testdata/versitygw-header-changed.xml")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/versitygw-header-changed.req")
	if err != nil {
		t.Fatal(err)
	}
	e, ok := awserror.Parse(body)
	if !ok || e.Code != "SignatureDoesNotMatch" || e.CanonicalRequest == "" || e.StringToSign == "" {
		t.Fatalf("parsed %+v", e)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Host = req.Host
	ours, err := signer.New(nil).Recompute(req, "")
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

// FuzzAnswer: no body panics the classifier or the comparison, every
// cause is one the package declares, and the diff never shows our session
// token (awserror.FuzzRead fuzzes the reader itself).
func FuzzAnswer(f *testing.F) {
	for _, seed := range []string{
		`<Error><Code>SignatureDoesNotMatch</Code><CanonicalRequest>GET&#xA;/&#xA;&#xA;host:a&#xA;&#xA;host&#xA;UNSIGNED-PAYLOAD</CanonicalRequest><StringToSignBytes>41 57</StringToSignBytes></Error>`,
		`{"__type":"x#InvalidSignatureException","message":"The Canonical String for this request should have been\n'GET\n/\n\nhost:a\n\nhost\nabc'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n1\n2\n3'\n"}`,
		`<ErrorResponse><Error><Code>IncompleteSignature</Code><Message>Authorization=AWS4-HMAC-SHA256 Signature=` + vanillaSignature + `</Message></Error></ErrorResponse>`,
		`<Error><Code>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, _ := awserror.Parse(body)
		for _, p := range Answer(e) {
			if p.Code == "" || !slices.Contains(Codes(), p.Code) {
				t.Fatalf("incomplete problem %+v", p)
			}
		}
		if strings.Contains(e.SafeMessage(), "Signature="+vanillaSignature) {
			t.Fatalf("SafeMessage shows the signature: %q", e.SafeMessage())
		}
		ours := signer.Result{CanonicalRequest: serverCanonical, StringToSign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/s3/aws4_request\nabc"}
		c := CompareWithServer(ours, e)
		if strings.Contains(FormatDiff(c.Diff), "SESSIONTOKENVALUE") {
			t.Fatal("diff shows our session token")
		}
	})
}

// TestRedactCanonicalRequest: a canonical request recomputed from a request
// signed with a session token can be logged without the token.
func TestRedactCanonicalRequest(t *testing.T) {
	s := signer.New(nil)
	req, _ := http.NewRequest(http.MethodPut, "https://bucket.s3.eu-west-1.amazonaws.com/a%20b?x=1&a=2", strings.NewReader("hello"))
	if _, err := s.Sign(req, signer.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "TOKEN"},
		signer.Options{Service: "s3", Region: "eu-west-1", Time: vanillaTime, PayloadHash: signer.UnsignedPayload, SetContentSHA256: true, UnsignedHeaders: signer.DefaultUnsignedHeaders}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Recompute(req, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got.CanonicalRequest, "x-amz-security-token:TOKEN") {
		t.Fatalf("the recomputed canonical request lacks the token line:\n%s", got.CanonicalRequest)
	}
	if strings.Contains(RedactCanonicalRequest(got.CanonicalRequest), "TOKEN") {
		t.Fatal("RedactCanonicalRequest kept the session token")
	}
}
