package signer

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookupTest(id string) (Credentials, bool) {
	if id == testCreds.AccessKeyID {
		return testCreds, true
	}
	return Credentials{}, false
}

// TestVerifySuiteSignedRequests verifies every signed request the official
// suite ships, header and query variants.
func TestVerifySuiteSignedRequests(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/v4/*")
	if len(dirs) != 38 {
		t.Fatalf("want 38 cases, got %d", len(dirs))
	}
	s := New(nil)
	n := 0
	for _, dir := range dirs {
		var c suiteContext
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "context.json"))), &c); err != nil {
			t.Fatal(err)
		}
		now, _ := time.Parse(time.RFC3339, c.Timestamp)
		lookup := func(id string) (Credentials, bool) {
			return Credentials{AccessKeyID: id, SecretAccessKey: c.Credentials.SecretAccessKey}, id == c.Credentials.AccessKeyID
		}
		for _, variant := range []string{"header", "query"} {
			if variant == "query" && c.OmitSessionToken {
				// The token parameter was added after signing; which query
				// parameters a service leaves out of the canonical query is
				// service-specific, and Verify signs them all.
				continue
			}
			n++
			t.Run(filepath.Base(dir)+"/"+variant, func(t *testing.T) {
				sr := parseSuiteRequest(t, []byte(readFile(t, filepath.Join(dir, variant+"-signed-request.txt"))))
				req := sr.httpRequest()
				opts := VerifyOptions{Now: now.Add(time.Minute), Service: c.Service, Region: c.Region,
					DoubleEncodePath: Enabled, NormalizePath: setting(c.Normalize), PayloadHash: EmptyPayloadHash}
				if c.SignBody {
					opts.PayloadHash = sha256Hex([]byte("Param1=value1"))
				}
				res, err := s.Verify(req, lookup, opts)
				if err != nil {
					t.Fatalf("%v\n%s", err, res.CanonicalRequest)
				}
				if want := readFile(t, filepath.Join(dir, variant+"-canonical-request.txt")); variant == "header" && res.CanonicalRequest != want {
					t.Fatalf("canonical request\n got %q\nwant %q", res.CanonicalRequest, want)
				}
			})
		}
	}
	if n != 75 {
		t.Fatalf("verified %d requests, want 75", n)
	}
}

func signedGet(t testing.TB, presign bool) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/a/b?x=1&y=two", nil)
	req.Header.Set("X-Amz-Meta-Thing", "v")
	opts := Options{Service: "service", Region: "us-east-1", Time: testTime, PayloadHash: EmptyPayloadHash}
	var err error
	if presign {
		_, err = New(nil).Presign(req, testCreds, opts, time.Hour)
	} else {
		_, err = New(nil).Sign(req, testCreds, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestVerifyReasons(t *testing.T) {
	vo := VerifyOptions{Now: testTime.Add(time.Minute), PayloadHash: EmptyPayloadHash}
	for _, tc := range []struct {
		name    string
		presign bool
		mutate  func(r *http.Request, o *VerifyOptions)
		want    Reason // 0: valid
	}{
		{"valid header", false, func(*http.Request, *VerifyOptions) {}, 0},
		{"valid presigned", true, func(*http.Request, *VerifyOptions) {}, 0},
		{"no signature", false, func(r *http.Request, _ *VerifyOptions) { r.Header.Del("Authorization") }, ReasonMissing},
		{"garbled header", false, func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("Authorization", Algorithm+" Credential=x")
		}, ReasonMalformed},
		// The verifier reads the header with ParseAuthorization and keeps
		// the reasons its own reader gave before.
		{"empty component", false, func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("Authorization", r.Header.Get("Authorization")+",")
		}, ReasonMalformed},
		{"missing comma", false, func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ", Signature=", " Signature=", 1))
		}, ReasonMalformed},
		{"no space after the algorithm", false, func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), Algorithm+" ", Algorithm, 1))
		}, ReasonUnsupportedAlgorithm},
		{"presigned signature not hex", true, func(r *http.Request, _ *VerifyOptions) {
			q := r.URL.Query()
			q.Set("X-Amz-Signature", strings.ToUpper(q.Get("X-Amz-Signature")))
			r.URL.RawQuery = q.Encode()
		}, ReasonMalformed},
		{"other algorithm", false, func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA512 Credential=x") // SigV4a is supported: v4a_test.go
		}, ReasonUnsupportedAlgorithm},
		{"unknown key", false, func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AKIDEXAMPLE", "AKIDOTHER", 1))
		}, ReasonUnknownKey},
		{"wrong region", false, func(_ *http.Request, o *VerifyOptions) { o.Region = "eu-west-1" }, ReasonScopeMismatch},
		{"wrong service", true, func(_ *http.Request, o *VerifyOptions) { o.Service = "s3" }, ReasonScopeMismatch},
		{"scope date differs", false, func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("X-Amz-Date", "20150831T000100Z")
		}, ReasonScopeMismatch},
		{"too old", false, func(_ *http.Request, o *VerifyOptions) { o.Now = testTime.Add(16 * time.Minute) }, ReasonExpired},
		{"too new", false, func(_ *http.Request, o *VerifyOptions) { o.Now = testTime.Add(-16 * time.Minute) }, ReasonNotYetValid},
		{"presign expired", true, func(_ *http.Request, o *VerifyOptions) { o.Now = testTime.Add(61 * time.Minute) }, ReasonExpired},
		{"presign still valid near expiry", true, func(_ *http.Request, o *VerifyOptions) { o.Now = testTime.Add(59 * time.Minute) }, 0},
		{"header changed", false, func(r *http.Request, _ *VerifyOptions) { r.Header.Set("X-Amz-Meta-Thing", "w") }, ReasonSignatureMismatch},
		{"query changed", true, func(r *http.Request, _ *VerifyOptions) { r.URL.RawQuery += "&z=3" }, ReasonSignatureMismatch},
		{"path changed", false, func(r *http.Request, _ *VerifyOptions) { r.URL.Path = "/a/c" }, ReasonSignatureMismatch},
		{"payload assumed differently", false, func(_ *http.Request, o *VerifyOptions) { o.PayloadHash = UnsignedPayload }, ReasonSignatureMismatch},
		{"host not signed", false, func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=host;", "SignedHeaders=", 1))
		}, ReasonUnsignedHeader},
		{"body does not match declared hash", false, func(r *http.Request, o *VerifyOptions) {
			r.Header.Set("X-Amz-Content-Sha256", EmptyPayloadHash)
			r.Body = nopBody("not empty")
			o.HashBody = true
		}, ReasonPayloadMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := signedGet(t, tc.presign)
			o := vo
			tc.mutate(req, &o)
			res, err := New(nil).Verify(req, lookupTest, o)
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v\n%s", err, res.CanonicalRequest)
				}
				if res.Scope != "20150830/us-east-1/service/aws4_request" {
					t.Fatalf("scope %q", res.Scope)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("want *VerifyError %v, got %v", tc.want, err)
			}
			if ve.Reason != tc.want {
				t.Fatalf("reason %v (%s), want %v", ve.Reason, ve.Detail, tc.want)
			}
			if strings.Contains(ve.Error(), testCreds.SecretAccessKey) {
				t.Fatal("error mentions the secret")
			}
		})
	}
}

func TestVerifyHashesBodyOnlyWhenAsked(t *testing.T) {
	body := "hello"
	req, _ := http.NewRequest(http.MethodPut, "https://example.amazonaws.com/x", strings.NewReader(body))
	_, err := New(nil).Sign(req, testCreds, Options{Service: "service", Region: "us-east-1", Time: testTime, PayloadHash: HashPayload([]byte(body))})
	if err != nil {
		t.Fatal(err)
	}
	r := &countingBody{r: strings.NewReader(body)}
	req.Body = r
	_, err = New(nil).Verify(req, lookupTest, VerifyOptions{Now: testTime})
	if !errors.As(err, new(*VerifyError)) || r.n != 0 {
		t.Fatalf("without HashBody: err %v, read %d bytes (want a mismatch and no read)", err, r.n)
	}
	if _, err := New(nil).Verify(req, lookupTest, VerifyOptions{Now: testTime, HashBody: true}); err != nil {
		t.Fatalf("with HashBody: %v", err)
	}
	if r.n != len(body) {
		t.Fatalf("read %d bytes", r.n)
	}
}
