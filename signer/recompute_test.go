package signer

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

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
	// RedactCanonicalRequest's assertion on this result moved with it:
	// diagnose.TestRedactCanonicalRequest.
	req.Header.Set("Authorization", "AWS AKID:sig")
	if _, err := s.Recompute(req, ""); err == nil {
		t.Fatal("Recompute accepted a SigV2 header")
	}
}

// A SigV4a request's canonical request and string to sign are recomputed
// for its region set, as --debug-signing logs them.
func TestRecomputeSigV4a(t *testing.T) {
	s := New(nil)
	req, _ := http.NewRequest(http.MethodGet, "https://mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com/a%20b?x=1", nil)
	signed, err := s.Sign(req, Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "TOKEN"},
		Options{Service: "s3", Time: vanillaTime, PayloadHash: UnsignedPayload, SetContentSHA256: true, Debug: true,
			Algorithm: SigV4a, RegionSet: []string{"us-east-1", "eu-*"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Recompute(req, "")
	if err != nil {
		t.Fatal(err)
	}
	if got.CanonicalRequest != signed.CanonicalRequest || got.StringToSign != signed.StringToSign || got.Scope != signed.Scope || got.RegionSet != "us-east-1,eu-*" {
		t.Fatalf("recomputed\n%s\n%s\n%s\nsigned\n%s\n%s\n%s", got.Scope, got.CanonicalRequest, got.StringToSign, signed.Scope, signed.CanonicalRequest, signed.StringToSign)
	}
}
