package signer

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SigV4a (AWS4-ECDSA-P256-SHA256) signs with an ECDSA P-256 key derived
// from the secret instead of an HMAC key derived per date, region and
// service, so that one signature is valid in a set of regions: S3
// Multi-Region Access Points, CloudFront KeyValueStore, EventBridge global
// endpoints. Everything else is SigV4's: the canonical request (with
// X-Amz-Region-Set signed), the string to sign under the algorithm's name,
// and a credential scope without a region (date/service/aws4_request).
// The signature is randomized (crypto/ecdsa with crypto/rand) and sent as
// the lowercase hex of its ASN.1 DER encoding.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html (SigV4a);
// key derivation and signing as in aws-c-auth and aws-sdk-go-v2 internal/v4a.
// Test suite: aws-c-auth tests/aws-signing-test-suite/v4a (testdata/v4a).

// AlgorithmV4a is the SigV4a algorithm identifier that opens the string to
// sign and the Authorization header.
const AlgorithmV4a = "AWS4-ECDSA-P256-SHA256"

// SigningAlgorithm selects how Sign and Presign sign (Options.Algorithm).
type SigningAlgorithm uint8

const (
	// SigV4 is AWS4-HMAC-SHA256, scoped to one region: the default.
	SigV4 SigningAlgorithm = iota
	// SigV4a is AWS4-ECDSA-P256-SHA256, valid in Options.RegionSet.
	SigV4a
)

func (a SigningAlgorithm) String() string {
	switch a {
	case SigV4:
		return Algorithm
	case SigV4a:
		return AlgorithmV4a
	}
	return "SigningAlgorithm(" + strconv.Itoa(int(a)) + ")"
}

const hdrRegionSet = "X-Amz-Region-Set"

// regionSetOf returns the X-Amz-Region-Set value opts sign for: RegionSet
// joined with ',', or Region alone when RegionSet is empty.
func regionSetOf(opts *Options) (string, error) {
	set := opts.RegionSet
	if len(set) == 0 {
		if opts.Region == "" {
			return "", errField("region set", "empty: SigV4a needs Options.RegionSet (or Options.Region), e.g. [\"*\"]")
		}
		set = []string{opts.Region}
	}
	for _, r := range set {
		if !IsRegionSetEntry(r) {
			return "", errField("region set", "entry "+strconv.Quote(r)+" is empty, or not made of letters, digits, '-', '_', '.' and the wildcard '*'")
		}
	}
	return strings.Join(set, ","), nil
}

// IsRegionSetEntry reports whether r may be one entry of a SigV4a region
// set (X-Amz-Region-Set): a region name by the one rule for them
// (IsScopeName) in which '*' may stand for any part: "*", "us-*",
// "us-east-1". That leaves out ',' (the list separator) and anything that
// would need trimming or escaping in a header. The signer refuses to sign
// with any other entry, and the proxy refuses any other --region-set at
// start. Safe for concurrent use.
func IsRegionSetEntry(r string) bool {
	return IsScopeName(strings.ReplaceAll(r, "*", "x"))
}

// isV4aPresignParam names the query parameters a SigV4a Presign owns.
func isV4aPresignParam(key string) bool { return key == hdrRegionSet || isPresignParam(key) }

// v4aScope returns date/service/aws4_request: SigV4a scopes have no region.
func v4aScope(date8 []byte, service string) string {
	b := make([]byte, 0, len(date8)+1+len(service)+len("/aws4_request"))
	b = append(b, date8...)
	b = append(append(b, '/'), service...)
	return string(append(b, "/aws4_request"...))
}

// appendStringToSignV4a appends the SigV4a string to sign: SigV4's under
// the SigV4a algorithm name.
func appendStringToSignV4a(b []byte, amzDate []byte, scope string, creqHashHex []byte) []byte {
	return appendStringToSignAs(b, AlgorithmV4a, amzDate, scope, creqHashHex)
}

// signV4a is Sign and Presign with SigV4a: the canonical request is built
// by the same code as SigV4's, with X-Amz-Region-Set as a signed header (or
// a query parameter when presigning); the string to sign is hashed with
// SHA-256 and signed with the cached ECDSA key.
func (s *Signer) signV4a(req *http.Request, creds Credentials, opts Options, m mode, expires time.Duration) (Result, error) {
	if opts.Algorithm != SigV4a {
		return Result{}, errField("algorithm", "unknown signing algorithm "+opts.Algorithm.String())
	}
	if err := validate(req, creds, &opts); err != nil {
		return Result{}, err
	}
	regionSet, err := regionSetOf(&opts)
	if err != nil {
		return Result{}, err
	}
	if m == modeQuery {
		if err := checkExpires(expires); err != nil {
			return Result{}, err
		}
	}
	sc := getScratch()
	defer sc.release()
	double, normalize := rules(opts.Service, opts.DoubleEncodePath, opts.NormalizePath)
	res := Result{Time: opts.Time.UTC(), RegionSet: regionSet}
	sc.amzDate = formatAmzDate(res.Time)
	amzDate := sc.amzDate[:]

	var drop func(string) bool
	if m == modeQuery {
		drop = isV4aPresignParam
	}
	if err := sc.uriAndQuery(req, double, normalize, drop); err != nil {
		return Result{}, err
	}
	key, err := s.keys.v4a.get(creds.AccessKeyID, creds.SecretAccessKey)
	if err != nil {
		return Result{}, errField("credentials", "cannot derive a SigV4a key: "+err.Error())
	}
	res.Scope = v4aScope(amzDate[:8], opts.Service)
	credential := creds.AccessKeyID + "/" + res.Scope

	o := opts
	if m == modeHeader {
		// The region set is the signer's header, like X-Amz-Date: a
		// client's own is replaced (in applyV4aHeaders), never signed.
		unsigned := opts.UnsignedHeaders
		o.UnsignedHeaders = func(name string) bool {
			return name == "x-amz-region-set" || unsigned != nil && unsigned(name)
		}
	}
	var arr [24]header
	sc.signed, sc.canon = sc.signed[:0], sc.canon[:0]
	hs, err := sc.collectHeaders(arr[:0], req, creds, &o, m, string(amzDate))
	if err != nil {
		return Result{}, err
	}
	if m == modeHeader {
		hs = append(hs, header{name: "x-amz-region-set", value: regionSet})
		sc.sortHeaders(hs)
	}
	sc.appendHeaders(hs)
	res.SignedHeaders = string(sc.signed)

	if m == modeQuery {
		sc.addQueryEncoded("X-Amz-Algorithm", AlgorithmV4a)
		sc.addQueryEncoded("X-Amz-Credential", credential)
		sc.addQueryEncoded("X-Amz-Date", string(amzDate))
		sc.addQueryEncoded("X-Amz-Expires", strconv.FormatInt(int64(expires/time.Second), 10))
		sc.addQueryEncoded(hdrRegionSet, regionSet)
		sc.addQueryEncoded("X-Amz-SignedHeaders", res.SignedHeaders)
		if creds.SessionToken != "" && !opts.AddSessionTokenAfterSigning {
			sc.addQueryEncoded("X-Amz-Security-Token", creds.SessionToken)
		}
	}
	sc.query = sc.appendCanonicalQuery(sc.query[:0])
	sc.finishCanonicalRequest(req.Method, opts.PayloadHash)
	sc.sts = appendStringToSignV4a(sc.sts[:0], amzDate, res.Scope, sc.scratch[:])
	if opts.Debug {
		res.CanonicalRequest, res.StringToSign = string(sc.creq), string(sc.sts)
	}
	digest := sha256.Sum256(sc.sts)
	der, err := ecdsa.SignASN1(rand.Reader, key.priv, digest[:])
	if err != nil {
		return Result{}, errField("credentials", "ECDSA signing failed: "+err.Error())
	}
	signature := hex.EncodeToString(der)

	if m == modeQuery {
		sc.setSignedQuery(req, creds, &opts, []byte(signature))
		return res, nil
	}
	applyV4aHeaders(req, creds, &opts, string(amzDate), regionSet,
		AlgorithmV4a+" Credential="+credential+", SignedHeaders="+res.SignedHeaders+", Signature="+signature)
	return res, nil
}

// applyV4aHeaders writes X-Amz-Date, X-Amz-Region-Set (dropping a client's
// other spellings of it), Authorization and the token and payload headers,
// as applyHeaders does for SigV4.
func applyV4aHeaders(req *http.Request, creds Credentials, opts *Options, amzDate, regionSet, auth string) {
	if req.Header == nil {
		req.Header = make(http.Header, 5)
	}
	for k := range req.Header {
		if k != hdrRegionSet && strings.EqualFold(k, hdrRegionSet) {
			delete(req.Header, k)
		}
	}
	req.Header[hdrDate] = []string{amzDate}
	req.Header[hdrRegionSet] = []string{regionSet}
	req.Header[hdrAuthorization] = []string{auth}
	if creds.SessionToken != "" {
		req.Header[hdrToken] = []string{creds.SessionToken}
	} else {
		delete(req.Header, hdrToken)
	}
	if opts.SetContentSHA256 {
		req.Header[hdrContentSHA256] = []string{opts.PayloadHash}
	}
}
