package signer

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
)

// validV4aSignatureHex reports whether sig can be the lowercase hex of an
// ASN.1 DER ECDSA P-256 signature: at most 72 bytes (two 33-byte INTEGERs
// and their headers). ecdsa.VerifyASN1 checks the DER itself.
func validV4aSignatureHex(sig string) bool {
	if len(sig) < 16 || len(sig) > 144 || len(sig)%2 != 0 {
		return false
	}
	for i := 0; i < len(sig); i++ {
		if c := sig[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// regionSetOfRequest returns the X-Amz-Region-Set the request was signed
// for: the query parameter when presigned, else the header, which must be
// signed (it is what makes the signature valid in a region).
func regionSetOfRequest(req *http.Request, a *authParts, names []string) (string, Reason, string) {
	var set string
	if a.presigned {
		vs := req.URL.Query()[hdrRegionSet]
		if len(vs) != 1 {
			return "", ReasonMalformed, "query parameter " + hdrRegionSet + " must appear exactly once"
		}
		set = vs[0]
	} else {
		if !slices.Contains(names, "x-amz-region-set") {
			return "", ReasonUnsignedHeader, "x-amz-region-set is not in SignedHeaders"
		}
		vs := req.Header.Values(hdrRegionSet)
		if len(vs) != 1 {
			return "", ReasonMalformed, "header " + hdrRegionSet + " must appear exactly once"
		}
		set = strings.TrimSpace(vs[0])
	}
	for _, r := range strings.Split(set, ",") {
		if !IsRegionSetEntry(strings.TrimSpace(r)) {
			return "", ReasonMalformed, hdrRegionSet + " " + strconv.Quote(set) + " is not a comma-separated list of regions"
		}
	}
	return set, 0, ""
}

// regionSetAllows reports whether the region set names region, or has an
// entry whose '*' wildcards match it ("*", "us-*").
func regionSetAllows(set, region string) bool {
	for _, r := range strings.Split(set, ",") {
		if ok, _ := path.Match(strings.TrimSpace(r), region); ok {
			return true
		}
	}
	return false
}

// verifyV4a is Verify for a request whose algorithm is AlgorithmV4a: the
// checks and the canonical request are SigV4's; the scope has no region,
// X-Amz-Region-Set must be signed and (with opts.Region) allow the region,
// and the signature is checked with the public half of the key derived
// from the secret lookup returns.
func (s *Signer) verifyV4a(req *http.Request, a *authParts, lookup func(accessKeyID string) (Credentials, bool), opts VerifyOptions) (Result, error) {
	res := Result{Scope: a.scope, SignedHeaders: a.signedHeaders, Time: a.time}
	fail := func(r Reason, detail string) (Result, error) {
		return res, &VerifyError{Reason: r, Detail: detail, Result: res}
	}
	parts := strings.Split(a.scope, "/")
	if len(parts) != 3 || parts[2] != "aws4_request" {
		return fail(ReasonMalformed, "credential scope "+strconv.Quote(a.scope)+" is not date/service/aws4_request (a SigV4a scope has no region)")
	}
	if parts[0] != a.amzDate[:8] {
		return fail(ReasonScopeMismatch, "scope date "+parts[0]+" is not the date of X-Amz-Date "+a.amzDate)
	}
	if opts.Service != "" && parts[1] != opts.Service {
		return fail(ReasonScopeMismatch, "scope service "+strconv.Quote(parts[1])+", expected "+strconv.Quote(opts.Service))
	}
	if r, detail := a.checkTime(&opts); r != 0 {
		return fail(r, detail)
	}
	names, r, detail := a.signedHeaderNames()
	if r != 0 {
		return fail(r, detail)
	}
	set, r, detail := regionSetOfRequest(req, a, names)
	if r != 0 {
		return fail(r, detail)
	}
	res.RegionSet = set
	if opts.Region != "" && !regionSetAllows(set, opts.Region) {
		return fail(ReasonScopeMismatch, hdrRegionSet+" "+strconv.Quote(set)+" does not include "+strconv.Quote(opts.Region))
	}

	sc := getScratch()
	defer sc.release()
	creds, absent, r, detail := sc.received(req, a, parts[1], names, lookup, &opts)
	if r != 0 {
		return fail(r, detail)
	}
	res.CanonicalRequest = string(sc.creq)
	sc.sts = appendStringToSignV4a(sc.sts[:0], []byte(a.amzDate), a.scope, sc.scratch[:])
	res.StringToSign = string(sc.sts)

	key, err := s.keys.v4a.get(a.accessKeyID, creds.SecretAccessKey)
	if err != nil {
		return fail(ReasonUnknownKey, "no SigV4a key can be derived for access key id "+strconv.Quote(a.accessKeyID))
	}
	der, err := hex.DecodeString(a.signature)
	digest := sha256.Sum256(sc.sts)
	if err != nil || !ecdsa.VerifyASN1(&key.priv.PublicKey, digest[:], der) {
		return fail(ReasonSignatureMismatch, mismatch("the request's ECDSA signature does not verify against its canonical request", absent))
	}
	return res, nil
}
