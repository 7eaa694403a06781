package signer

import (
	"reflect"
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
			if p.Kind == 0 || p.Kind > DefectMalformedSignature || p.Message == "" {
				t.Fatalf("incomplete defect %+v", p)
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
