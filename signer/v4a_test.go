package signer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// v4aCase is one case of the official SigV4a suite (testdata/v4a).
type v4aCase struct {
	name string
	dir  string
	ctx  suiteContext
	time time.Time
	req  suiteRequest
	full bool // ships expected files, not only request.txt and context.json
}

func loadV4aSuite(t *testing.T) []v4aCase {
	t.Helper()
	dirs, err := filepath.Glob("testdata/v4a/*/context.json")
	if err != nil || len(dirs) != 40 {
		t.Fatalf("want 40 v4a cases, got %d (%v)", len(dirs), err)
	}
	var cases []v4aCase
	full := 0
	for _, ctxPath := range dirs {
		dir := filepath.Dir(ctxPath)
		c := v4aCase{name: filepath.Base(dir), dir: dir}
		if err := json.Unmarshal([]byte(readFile(t, ctxPath)), &c.ctx); err != nil {
			t.Fatal(err)
		}
		if c.time, err = time.Parse(time.RFC3339, c.ctx.Timestamp); err != nil {
			t.Fatal(err)
		}
		c.req = parseSuiteRequest(t, []byte(readFile(t, filepath.Join(dir, "request.txt"))))
		_, err := os.Stat(filepath.Join(dir, "header-canonical-request.txt"))
		c.full = err == nil
		if c.full {
			full++
		}
		cases = append(cases, c)
	}
	if full != 38 {
		t.Fatalf("want 38 v4a cases with expected files, got %d", full)
	}
	return cases
}

func (c *v4aCase) file(t *testing.T, name string) string {
	t.Helper()
	return readFile(t, filepath.Join(c.dir, name))
}

func (c *v4aCase) creds() Credentials {
	return Credentials{c.ctx.Credentials.AccessKeyID, c.ctx.Credentials.SecretAccessKey, c.ctx.Credentials.Token}
}

// options are the harness's: double encoding always, normalization as the
// context says, the body hashed (and x-amz-content-sha256 signed in the
// header variant) with sign_body.
func (c *v4aCase) options(variant string) Options {
	o := Options{
		Algorithm: SigV4a, RegionSet: []string{c.ctx.Region},
		Service: c.ctx.Service, Time: c.time, PayloadHash: EmptyPayloadHash, Debug: true,
		DoubleEncodePath: Enabled, NormalizePath: setting(c.ctx.Normalize),
		AddSessionTokenAfterSigning: c.ctx.OmitSessionToken,
	}
	if c.ctx.SignBody {
		o.PayloadHash = sha256Hex(c.req.body)
		o.SetContentSHA256 = variant == "header"
	}
	return o
}

func (c *v4aCase) verifyOptions() VerifyOptions {
	o := VerifyOptions{Now: c.time.Add(time.Minute), Service: c.ctx.Service, Region: c.ctx.Region,
		DoubleEncodePath: Enabled, NormalizePath: setting(c.ctx.Normalize), PayloadHash: EmptyPayloadHash}
	if c.ctx.SignBody {
		o.PayloadHash = sha256Hex(c.req.body)
	}
	return o
}

func (c *v4aCase) lookup(id string) (Credentials, bool) {
	return c.creds(), id == c.ctx.Credentials.AccessKeyID
}

// suitePublicKey reads a case's public-key.json.
func suitePublicKey(t *testing.T, dir string) *ecdsa.PublicKey {
	t.Helper()
	var pk struct{ X, Y string }
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "public-key.json"))), &pk); err != nil {
		t.Fatal(err)
	}
	x, err1 := hex.DecodeString(pk.X)
	y, err2 := hex.DecodeString(pk.Y)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		t.Fatalf("%s: bad public-key.json", dir)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// verifyDigest checks a hex DER signature of sts with pub, as AWS does.
func verifyDigest(pub *ecdsa.PublicKey, sts, sigHex string) bool {
	der, err := hex.DecodeString(sigHex)
	digest := sha256.Sum256([]byte(sts))
	return err == nil && ecdsa.VerifyASN1(pub, digest[:], der)
}

// TestV4aDerivedKeyMatchesSuite derives the SigV4a key of every full case's
// credentials and compares its public point with public-key.json; the
// test's own derivation from the specification must agree too.
func TestV4aDerivedKeyMatchesSuite(t *testing.T) {
	for _, c := range loadV4aSuite(t) {
		if !c.full {
			continue
		}
		want := suitePublicKey(t, c.dir)
		priv, err := deriveV4aKey(c.ctx.Credentials.AccessKeyID, c.ctx.Credentials.SecretAccessKey)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !priv.PublicKey.Equal(want) {
			t.Fatalf("%s: derived public key differs from public-key.json", c.name)
		}
		spec, err := specV4aPublicKey(c.ctx.Credentials.AccessKeyID, c.ctx.Credentials.SecretAccessKey)
		if err != nil || !spec.Equal(want) {
			t.Fatalf("%s: the test's own derivation differs from public-key.json (%v)", c.name, err)
		}
	}
}

// TestV4aSuite signs every case of the official SigV4a suite in both forms
// and compares the canonical request and string to sign byte for byte, and
// every other part of the signed request the suite ships (Authorization
// but its signature, X-Amz-Date, X-Amz-Region-Set, token, payload header;
// the presigned query but its signature). Our signature must verify with
// public-key.json, with our verifier and with the test's independent one.
func TestV4aSuite(t *testing.T) {
	cases := loadV4aSuite(t)
	pub := suitePublicKey(t, "testdata/v4a/get-vanilla")
	s := New(nil)
	checked := 0
	for _, c := range cases {
		for _, variant := range []string{"header", "query"} {
			t.Run(c.name+"/"+variant, func(t *testing.T) {
				req := c.req.httpRequest()
				var res Result
				var err error
				if variant == "header" {
					res, err = s.Sign(req, c.creds(), c.options(variant))
				} else {
					res, err = s.Presign(req, c.creds(), c.options(variant), time.Duration(c.ctx.Expiration)*time.Second)
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.RegionSet != c.ctx.Region {
					t.Fatalf("Result.RegionSet %q", res.RegionSet)
				}
				var sig string
				if variant == "header" {
					sig = signatureOf(req.Header.Get("Authorization"))
				} else {
					sig = req.URL.Query().Get("X-Amz-Signature")
				}
				if !verifyDigest(pub, res.StringToSign, sig) {
					t.Fatalf("our signature does not verify with public-key.json over our string to sign")
				}
				if c.full {
					if want := c.file(t, variant+"-canonical-request.txt"); res.CanonicalRequest != want {
						t.Fatalf("canonical request:\n got %q\nwant %q", res.CanonicalRequest, want)
					}
					if want := c.file(t, variant+"-string-to-sign.txt"); res.StringToSign != want {
						t.Fatalf("string to sign:\n got %q\nwant %q", res.StringToSign, want)
					}
					compareSignedRequest(t, req, parseSuiteRequest(t, []byte(c.file(t, variant+"-signed-request.txt"))).httpRequest(), variant)
				}
				if variant == "query" && c.ctx.OmitSessionToken {
					// The token parameter was added after signing; Verify
					// (as AWS's services that expect this) signs every parameter.
					q := req.URL.Query()
					q.Del("X-Amz-Security-Token")
					req.URL.RawQuery = q.Encode()
				}
				if _, err := s.Verify(req, c.lookup, c.verifyOptions()); err != nil {
					t.Fatalf("our verifier rejects our signature: %v", err)
				}
				if err := specV4aVerify(req, pub, c.verifyOptions().PayloadHash, c.ctx.Normalize); err != nil {
					t.Fatalf("the independent verifier rejects our signature: %v", err)
				}
				checked++
			})
		}
	}
	if checked != 80 {
		t.Fatalf("checked %d signings, want 80", checked)
	}
}

// compareSignedRequest compares what we signed with the suite's signed
// request on everything but the (randomized) signature.
func compareSignedRequest(t *testing.T, got, want *http.Request, variant string) {
	t.Helper()
	if variant == "query" {
		g, w := got.URL.Query(), want.URL.Query()
		g.Del("X-Amz-Signature")
		w.Del("X-Amz-Signature")
		if g.Encode() != w.Encode() {
			t.Fatalf("presigned query\n got %s\nwant %s", g.Encode(), w.Encode())
		}
		return
	}
	before := func(auth string) string { a, _, _ := strings.Cut(auth, "Signature="); return a }
	if g, w := before(got.Header.Get("Authorization")), before(want.Header.Get("Authorization")); g != w || g == "" {
		t.Fatalf("Authorization\n got %q\nwant %q", g, w)
	}
	for _, h := range []string{"X-Amz-Date", "X-Amz-Region-Set", "X-Amz-Security-Token", "X-Amz-Content-Sha256"} {
		if g, w := got.Header.Values(h), want.Header.Values(h); strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Fatalf("%s = %q, want %q", h, g, w)
		}
	}
}

// withSignature returns a clone of req carrying sig instead of its signature.
func withSignature(req *http.Request, sig string) *http.Request {
	r := req.Clone(req.Context())
	if auth := r.Header.Get("Authorization"); auth != "" {
		a, _, _ := strings.Cut(auth, "Signature=")
		r.Header.Set("Authorization", a+"Signature="+sig)
		return r
	}
	q := r.URL.Query()
	q.Set("X-Amz-Signature", sig)
	r.URL.RawQuery = q.Encode()
	return r
}

// TestV4aVerifySuiteSignatures verifies every signature the suite ships:
// for each case and form, the one inside *-signed-request.txt and the one
// in *-signature.txt, each with our Verify on the signed request and with
// public-key.json over the suite's string to sign (152 signatures).
func TestV4aVerifySuiteSignatures(t *testing.T) {
	s := New(nil)
	verified := 0
	for _, c := range loadV4aSuite(t) {
		if !c.full {
			continue
		}
		pub := suitePublicKey(t, c.dir)
		for _, variant := range []string{"header", "query"} {
			t.Run(c.name+"/"+variant, func(t *testing.T) {
				req := parseSuiteRequest(t, []byte(c.file(t, variant+"-signed-request.txt"))).httpRequest()
				if variant == "query" && c.ctx.OmitSessionToken {
					// Added after signing (see TestV4aSuite).
					q := req.URL.Query()
					q.Del("X-Amz-Security-Token")
					req.URL.RawQuery = q.Encode()
				}
				sts := c.file(t, variant+"-string-to-sign.txt")
				inRequest := signatureOf(req.Header.Get("Authorization"))
				if variant == "query" {
					inRequest = req.URL.Query().Get("X-Amz-Signature")
				}
				for _, sig := range []string{inRequest, c.file(t, variant+"-signature.txt")} {
					if !verifyDigest(pub, sts, sig) {
						t.Fatalf("signature %s… does not verify with public-key.json", sig[:16])
					}
					res, err := s.Verify(withSignature(req, sig), c.lookup, c.verifyOptions())
					if err != nil {
						t.Fatalf("Verify: %v\n%s", err, res.CanonicalRequest)
					}
					if want := c.file(t, variant+"-canonical-request.txt"); res.CanonicalRequest != want {
						t.Fatalf("canonical request\n got %q\nwant %q", res.CanonicalRequest, want)
					}
					if res.StringToSign != sts {
						t.Fatalf("string to sign\n got %q\nwant %q", res.StringToSign, sts)
					}
					verified++
				}
			})
		}
	}
	if verified != 152 {
		t.Fatalf("verified %d signatures, want 152", verified)
	}
}

// v4aTestRequest is a GET with a query, a header and a session token,
// signed with SigV4a for {us-east-1, eu-*}.
func v4aTestRequest(t testing.TB, presign bool) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://mrap.accesspoint.s3-global.amazonaws.com/a/b%20c?x=1&y=two", nil)
	req.Header.Set("X-Amz-Meta-Thing", "v")
	creds := testCreds
	creds.SessionToken = "token/with+chars="
	opts := Options{Algorithm: SigV4a, RegionSet: []string{"us-east-1", "eu-*"}, Service: "service", Time: testTime, PayloadHash: EmptyPayloadHash}
	var err error
	if presign {
		_, err = New(nil).Presign(req, creds, opts, time.Hour)
	} else {
		_, err = New(nil).Sign(req, creds, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestV4aVerifyReasons(t *testing.T) {
	vo := VerifyOptions{Now: testTime.Add(time.Minute), PayloadHash: EmptyPayloadHash}
	replaceAuth := func(old, new string) func(*http.Request, *VerifyOptions) {
		return func(r *http.Request, _ *VerifyOptions) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
		}
	}
	setQuery := func(k, v string) func(*http.Request, *VerifyOptions) {
		return func(r *http.Request, _ *VerifyOptions) {
			q := r.URL.Query()
			q.Set(k, v)
			r.URL.RawQuery = q.Encode()
		}
	}
	flipSignatureByte := func(r *http.Request, _ *VerifyOptions) {
		// One byte of the DER signature, inside the integer s at its end.
		sig := []byte(signatureOf(r.Header.Get("Authorization")))
		if sig[len(sig)-1] == '0' {
			sig[len(sig)-1] = '1'
		} else {
			sig[len(sig)-1] = '0'
		}
		replaceAuth(signatureOf(r.Header.Get("Authorization")), string(sig))(r, nil)
	}
	for _, tc := range []struct {
		name    string
		presign bool
		mutate  func(r *http.Request, o *VerifyOptions)
		want    Reason // 0: valid
	}{
		{"valid header", false, func(*http.Request, *VerifyOptions) {}, 0},
		{"valid presigned", true, func(*http.Request, *VerifyOptions) {}, 0},
		{"region in the set", false, func(_ *http.Request, o *VerifyOptions) { o.Region = "us-east-1" }, 0},
		{"region matched by a wildcard", true, func(_ *http.Request, o *VerifyOptions) { o.Region = "eu-west-3" }, 0},
		{"region not in the set", false, func(_ *http.Request, o *VerifyOptions) { o.Region = "us-west-2" }, ReasonScopeMismatch},
		{"wrong service", true, func(_ *http.Request, o *VerifyOptions) { o.Service = "s3" }, ReasonScopeMismatch},
		{"one byte of the signature", false, flipSignatureByte, ReasonSignatureMismatch},
		{"signature cut short", false, replaceAuth("Signature=30", "Signature="), ReasonSignatureMismatch},
		{"signature not hex", false, replaceAuth("Signature=30", "Signature=3z"), ReasonMalformed},
		{"header changed", false, func(r *http.Request, _ *VerifyOptions) { r.Header.Set("X-Amz-Meta-Thing", "w") }, ReasonSignatureMismatch},
		{"region set header changed", false, func(r *http.Request, _ *VerifyOptions) { r.Header.Set("X-Amz-Region-Set", "*") }, ReasonSignatureMismatch},
		{"region set header removed", false, func(r *http.Request, _ *VerifyOptions) { r.Header.Del("X-Amz-Region-Set") }, ReasonMalformed},
		{"region set not signed", false, replaceAuth(";x-amz-region-set", ""), ReasonUnsignedHeader},
		{"region set query changed", true, setQuery("X-Amz-Region-Set", "*"), ReasonSignatureMismatch},
		{"region set query malformed", true, setQuery("X-Amz-Region-Set", "us east"), ReasonMalformed},
		{"query changed", true, func(r *http.Request, _ *VerifyOptions) { r.URL.RawQuery += "&z=3" }, ReasonSignatureMismatch},
		{"token changed", false, func(r *http.Request, _ *VerifyOptions) { r.Header.Set("X-Amz-Security-Token", "other") }, ReasonSignatureMismatch},
		{"scope with a region (SigV4's)", false, replaceAuth("/20150830/service/", "/20150830/us-east-1/service/"), ReasonMalformed},
		{"scope date differs", false, func(r *http.Request, _ *VerifyOptions) { r.Header.Set("X-Amz-Date", "20150831T000100Z") }, ReasonScopeMismatch},
		{"too old", false, func(_ *http.Request, o *VerifyOptions) { o.Now = testTime.Add(16 * time.Minute) }, ReasonExpired},
		{"presign expired", true, func(_ *http.Request, o *VerifyOptions) { o.Now = testTime.Add(61 * time.Minute) }, ReasonExpired},
		{"unknown key", false, replaceAuth("AKIDEXAMPLE", "AKIDOTHER"), ReasonUnknownKey},
		{"SigV4 signature under the SigV4a name", false, func(r *http.Request, _ *VerifyOptions) {
			v4 := signedGet(t, false)
			r.Header.Set("Authorization", strings.Replace(v4.Header.Get("Authorization"), Algorithm, AlgorithmV4a, 1))
		}, ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, opts := v4aTestRequest(t, tc.presign), vo
			tc.mutate(req, &opts)
			lookup := func(id string) (Credentials, bool) { return testCreds, id == testCreds.AccessKeyID }
			res, err := New(nil).Verify(req, lookup, opts)
			if tc.want == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if res.RegionSet != "us-east-1,eu-*" {
					t.Fatalf("Result.RegionSet %q", res.RegionSet)
				}
				return
			}
			var ve *VerifyError
			if err == nil || !asVerifyError(err, &ve) || ve.Reason != tc.want {
				t.Fatalf("got %v, want reason %v", err, tc.want)
			}
		})
	}
}

func asVerifyError(err error, target **VerifyError) bool {
	ve, ok := err.(*VerifyError)
	*target = ve
	return ok
}

// TestV4aTamperingIsRejectedByTheIndependentVerifier checks that the
// independent verifier is not a rubber stamp: it rejects what ours rejects.
func TestV4aTamperingIsRejectedByTheIndependentVerifier(t *testing.T) {
	pub, err := specV4aPublicKey(testCreds.AccessKeyID, testCreds.SecretAccessKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, presign := range []bool{false, true} {
		req := v4aTestRequest(t, presign)
		if err := specV4aVerify(req, pub, EmptyPayloadHash, true); err != nil {
			t.Fatalf("presign=%v: %v", presign, err)
		}
		tampered := req.Clone(req.Context())
		if presign {
			q := tampered.URL.Query()
			q.Set("X-Amz-Region-Set", "*")
			tampered.URL.RawQuery = q.Encode()
		} else {
			tampered.Header.Set("X-Amz-Region-Set", "*")
		}
		if specV4aVerify(tampered, pub, EmptyPayloadHash, true) == nil {
			t.Fatalf("presign=%v: a changed region set verifies", presign)
		}
		if !presign {
			changed := req.Clone(req.Context())
			changed.Header.Set("X-Amz-Meta-Thing", "w")
			sig := []byte(signatureOf(req.Header.Get("Authorization")))
			if sig[len(sig)-1] == '0' { // one byte of the DER, still hex
				sig[len(sig)-1] = '1'
			} else {
				sig[len(sig)-1] = '0'
			}
			if specV4aVerify(changed, pub, EmptyPayloadHash, true) == nil || specV4aVerify(withSignature(req, string(sig)), pub, EmptyPayloadHash, true) == nil {
				t.Fatal("a changed header or signature byte verifies")
			}
		}
		other, _ := specV4aPublicKey("AKIDOTHER", testCreds.SecretAccessKey)
		if specV4aVerify(req, other, EmptyPayloadHash, true) == nil {
			t.Fatalf("presign=%v: another key verifies", presign)
		}
	}
}

// TestV4aRegionSetDefaultsToRegion: with no RegionSet, the set is Region.
func TestV4aRegionSetDefaultsToRegion(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	res, err := New(nil).Sign(req, testCreds, Options{Algorithm: SigV4a, Region: "eu-west-1", Service: "service", Time: testTime, PayloadHash: EmptyPayloadHash})
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("X-Amz-Region-Set"); got != "eu-west-1" || res.RegionSet != got {
		t.Fatalf("X-Amz-Region-Set %q, Result.RegionSet %q", got, res.RegionSet)
	}
	if res.Scope != "20150830/service/aws4_request" {
		t.Fatalf("scope %q", res.Scope)
	}
}

// TestV4aClientRegionSetHeaderIsReplaced: a client's X-Amz-Region-Set in
// any spelling does not survive beside the signer's.
func TestV4aClientRegionSetHeaderIsReplaced(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	req.Header["x-amz-region-set"] = []string{"us-west-2"}
	req.Header["X-Amz-Region-Set"] = []string{"us-west-1"}
	if _, err := New(nil).Sign(req, testCreds, Options{Algorithm: SigV4a, RegionSet: []string{"*"}, Service: "service", Time: testTime, PayloadHash: EmptyPayloadHash}); err != nil {
		t.Fatal(err)
	}
	if len(req.Header) != 3 || strings.Join(req.Header["X-Amz-Region-Set"], ",") != "*" {
		t.Fatalf("headers after signing: %v", req.Header)
	}
	if _, err := New(nil).Verify(req, lookupTest, VerifyOptions{Now: testTime, Region: "ap-south-2"}); err != nil {
		t.Fatal(err)
	}
}

// TestV4aSigningErrors: bad input gets a *SigningError naming the field,
// and the request is left unsigned.
func TestV4aSigningErrors(t *testing.T) {
	base := Options{Algorithm: SigV4a, RegionSet: []string{"*"}, Service: "service", Time: testTime, PayloadHash: EmptyPayloadHash}
	for _, tc := range []struct {
		name  string
		opts  func(o *Options)
		field string
	}{
		{"no region set nor region", func(o *Options) { o.RegionSet = nil }, "region set"},
		{"empty entry", func(o *Options) { o.RegionSet = []string{"us-east-1", ""} }, "region set"},
		{"comma inside an entry", func(o *Options) { o.RegionSet = []string{"us-east-1,eu-west-1"} }, "region set"},
		{"space inside an entry", func(o *Options) { o.RegionSet = []string{"us east"} }, "region set"},
		{"unknown algorithm", func(o *Options) { o.Algorithm = 9 }, "algorithm"},
		{"no service", func(o *Options) { o.Service = "" }, "service"},
		{"no time", func(o *Options) { o.Time = time.Time{} }, "time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.opts(&o)
			req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/?a=b", nil)
			_, err := New(nil).Sign(req, testCreds, o)
			se, ok := err.(*SigningError)
			if !ok || se.Field != tc.field {
				t.Fatalf("got %v, want a *SigningError on %q", err, tc.field)
			}
			if len(req.Header) != 0 {
				t.Fatalf("request changed: %v", req.Header)
			}
			if _, err := New(nil).Presign(req, testCreds, o, time.Hour); err == nil || req.URL.RawQuery != "a=b" {
				t.Fatalf("presign: %v, query %q", err, req.URL.RawQuery)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	if _, err := New(nil).Presign(req, testCreds, base, 8*24*time.Hour); err == nil || req.URL.RawQuery != "" {
		t.Fatalf("8-day presign: %v", err)
	}
}

// TestV4aStreamingIsRefused: aws-chunked signing and chunk verification
// stay SigV4-only, with a clear error rather than a SigV4 signature.
func TestV4aStreamingIsRefused(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", strings.NewReader("data"))
	_, err := New(nil).SignStreaming(req, testCreds, Options{Algorithm: SigV4a, RegionSet: []string{"*"}, Service: "s3", Time: testTime}, StreamingOptions{DecodedLength: 4})
	if se, ok := err.(*SigningError); !ok || se.Field != "algorithm" || len(req.Header) != 0 {
		t.Fatalf("SignStreaming: %v, headers %v", err, req.Header)
	}

	req, _ = http.NewRequest(http.MethodPut, "https://b.s3.amazonaws.com/k", strings.NewReader("data"))
	req.Header.Set("X-Amz-Content-Sha256", StreamingUnsignedPayloadTrailer)
	req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	if _, err := New(nil).Sign(req, testCreds, Options{Algorithm: SigV4a, RegionSet: []string{"*"}, Service: "s3", Time: testTime, PayloadHash: StreamingUnsignedPayloadTrailer, SetContentSHA256: true}); err != nil {
		t.Fatal(err)
	}
	_, err = New(nil).VerifyStreaming(req, lookupTest, VerifyOptions{Now: testTime})
	var ve *VerifyError
	if !asVerifyError(err, &ve) || ve.Reason != ReasonUnsupportedAlgorithm {
		t.Fatalf("VerifyStreaming: %v", err)
	}
	// A plain SigV4a request still verifies through VerifyStreaming.
	if _, err := New(nil).VerifyStreaming(v4aTestRequest(t, false), func(id string) (Credentials, bool) { return testCreds, true },
		VerifyOptions{Now: testTime, PayloadHash: EmptyPayloadHash}); err != nil {
		t.Fatal(err)
	}
}

// TestV4aSignatureIsRandomized: two signatures of the same request differ
// (ECDSA with crypto/rand) and both verify.
func TestV4aSignatureIsRandomized(t *testing.T) {
	a, b := v4aTestRequest(t, false), v4aTestRequest(t, false)
	if a.Header.Get("Authorization") == b.Header.Get("Authorization") {
		t.Fatal("two SigV4a signatures of one request are equal")
	}
	lookup := func(string) (Credentials, bool) { return testCreds, true }
	for _, r := range []*http.Request{a, b} {
		if _, err := New(nil).Verify(r, lookup, VerifyOptions{Now: testTime, PayloadHash: EmptyPayloadHash}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestV4aResultAndErrorsHoldNoSecret: neither a Result (with Debug) nor a
// VerifyError carries the secret, the private key or the signature, and
// an error's text not the session token either (a Debug canonical request
// holds it as a signed header, as with SigV4).
func TestV4aResultAndErrorsHoldNoSecret(t *testing.T) {
	priv, err := deriveV4aKey(testCreds.AccessKeyID, testCreds.SecretAccessKey)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := priv.Bytes()
	secrets := []string{testCreds.SecretAccessKey, hex.EncodeToString(d)}
	req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
	res, err := New(nil).Sign(req, testCreds, Options{Algorithm: SigV4a, RegionSet: []string{"*"}, Service: "service", Time: testTime, PayloadHash: EmptyPayloadHash, Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, signatureOf(req.Header.Get("Authorization")))
	signed := v4aTestRequest(t, false)
	signed.Header.Set("X-Amz-Meta-Thing", "changed")
	_, verr := New(nil).Verify(signed, lookupTest, VerifyOptions{Now: testTime, PayloadHash: EmptyPayloadHash})
	if verr == nil {
		t.Fatal("tampered request verified")
	}
	if strings.Contains(verr.Error(), "token/with+chars=") {
		t.Fatalf("%q leaks the session token", verr.Error())
	}
	for _, text := range []string{fmtResult(res), verr.Error(), fmtResult(verr.(*VerifyError).Result)} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Fatalf("%q leaks %q", text, s)
			}
		}
	}
}

func fmtResult(r Result) string {
	return strings.Join([]string{r.Scope, r.SignedHeaders, r.CanonicalRequest, r.StringToSign, r.RegionSet}, "\n")
}

// TestV4aKeyCache: keys are cached per access key and secret (a rotated
// secret gets its own), the cache stays within its bound, and concurrent
// signers share it (run under -race).
func TestV4aKeyCache(t *testing.T) {
	keys := NewKeyCache(0)
	s := New(keys)
	sign := func(c Credentials) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
		if _, err := s.Sign(req, c, Options{Algorithm: SigV4a, RegionSet: []string{"*"}, Service: "service", Time: testTime, PayloadHash: EmptyPayloadHash}); err != nil {
			t.Fatal(err)
		}
		return req
	}
	sign(testCreds)
	sign(testCreds)
	if st := keys.SigV4aStats(); st.Misses != 1 || st.Hits != 1 || keys.SigV4aLen() != 1 {
		t.Fatalf("stats %+v, len %d", st, keys.SigV4aLen())
	}
	if keys.Stats() != (CacheStats{}) {
		t.Fatalf("SigV4a signing touched the SigV4 key stats: %+v", keys.Stats())
	}
	rotated := testCreds
	rotated.SecretAccessKey = "rotated-secret"
	req := sign(rotated)
	if _, err := s.Verify(req, lookupTest, VerifyOptions{Now: testTime, PayloadHash: EmptyPayloadHash}); err == nil {
		t.Fatal("a signature by the rotated secret verifies with the old one")
	}
	if _, err := s.Verify(req, func(string) (Credentials, bool) { return rotated, true }, VerifyOptions{Now: testTime, PayloadHash: EmptyPayloadHash}); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < DefaultSigV4aKeyCacheSize/2+8; i++ {
				c := testCreds
				c.AccessKeyID = "AKID" + url.PathEscape(string(rune('A'+g))) + itoa(i)
				req, _ := http.NewRequest(http.MethodGet, "https://example.amazonaws.com/", nil)
				if _, err := s.Sign(req, c, Options{Algorithm: SigV4a, RegionSet: []string{"*"}, Service: "service", Time: testTime, PayloadHash: EmptyPayloadHash}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	if n := keys.SigV4aLen(); n > DefaultSigV4aKeyCacheSize {
		t.Fatalf("%d SigV4a keys cached, bound %d", n, DefaultSigV4aKeyCacheSize)
	}
}

// TestV4aOwnSignaturesVerifyIndependently signs generated requests (random
// credentials, paths with escapes, repeated and encoded query parameters,
// odd header spacing, tokens, region sets with wildcards, both forms) and
// checks each signature with our verifier and with the independent one,
// whose key comes from its own derivation.
func TestV4aOwnSignaturesVerifyIndependently(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 4))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	s := New(nil)
	for i := 0; i < 150; i++ {
		secret := make([]byte, 40)
		for j := range secret {
			secret[j] = alphabet[r.IntN(len(alphabet))]
		}
		creds := Credentials{AccessKeyID: "AKIA" + itoa(100000+r.IntN(900000)), SecretAccessKey: string(secret)}
		if r.IntN(3) == 0 {
			creds.SessionToken = pick("tok", "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+ex/=")
		}
		path := ""
		for n := r.IntN(4); n >= 0; n-- {
			path += "/" + pick("a", "photos", "b%20c", "caf%C3%A9", "x-y_z.w~v", "100%25", "k%2Fslash", "$", "(1)")
		}
		if r.IntN(4) == 0 {
			path += "/"
		}
		var query []string
		for n := r.IntN(4); n > 0; n-- {
			query = append(query, pick("a", "b=1", "b=0", "c=x%20y", "d=x+y", "e=%E2%82%AC", "f=", "P=v/w", "k=a=b", "list-type=2"))
		}
		method := pick(http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete)
		req, err := http.NewRequest(method, "https://"+pick("mrap.accesspoint.s3-global.amazonaws.com", "abc.cloudfront-kvs.global.api.aws", "x.endpoint.events.amazonaws.com")+path+"?"+strings.Join(query, "&"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(2) == 0 {
			req.Header.Set("X-Amz-Meta-A", pick(" spaced   value ", "v", "a  b  c"))
		}
		if r.IntN(3) == 0 {
			req.Header.Add("X-Multi", "one")
			req.Header.Add("X-Multi", " two ")
		}
		opts := Options{Algorithm: SigV4a, Service: pick("service", "kvs", "events", "execute-api"), Time: testTime.Add(time.Duration(r.IntN(1e6)) * time.Second),
			PayloadHash: EmptyPayloadHash, UnsignedHeaders: DefaultUnsignedHeaders}
		opts.RegionSet = [][]string{{"*"}, {"us-east-1"}, {"us-east-1", "eu-west-1"}, {"us-*"}}[r.IntN(4)]
		if method != http.MethodGet && r.IntN(2) == 0 {
			body := "payload " + itoa(i)
			req.ContentLength = int64(len(body))
			opts.PayloadHash = sha256Hex([]byte(body))
			opts.SetContentSHA256 = r.IntN(2) == 0
		}
		presign := r.IntN(3) == 0
		if presign {
			_, err = s.Presign(req, creds, opts, time.Duration(1+r.IntN(7*24*3600))*time.Second)
		} else {
			_, err = s.Sign(req, creds, opts)
		}
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		pub, err := specV4aPublicKey(creds.AccessKeyID, creds.SecretAccessKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := specV4aVerify(req, pub, opts.PayloadHash, true); err != nil {
			t.Fatalf("%d: %s %s: the independent verifier rejects our signature: %v", i, method, req.URL, err)
		}
		lookup := func(id string) (Credentials, bool) { return creds, id == creds.AccessKeyID }
		if _, err := s.Verify(req, lookup, VerifyOptions{Now: opts.Time, PayloadHash: opts.PayloadHash, Region: "us-east-1"}); err != nil {
			t.Fatalf("%d: %s %s: our verifier rejects our signature: %v", i, method, req.URL, err)
		}
	}
}
