package signer

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Recompute returns the canonical request and string to sign behind a
// request already signed in its headers: the scope and signed headers of
// its Authorization header, its X-Amz-Date, and payloadHash ("" takes
// X-Amz-Content-Sha256, else the empty-body hash). Neither depends on the
// secret, so no credentials are needed. It does not modify req or read its
// body. A SigV4a request is recomputed for its X-Amz-Region-Set (deriving
// a key from a stand-in secret: the ECDSA signature, unlike the canonical
// request and string to sign, is not reproducible). Safe for concurrent use.
func (s *Signer) Recompute(req *http.Request, payloadHash string) (Result, error) {
	a, _ := ParseAuthorization(req.Header.Get("Authorization"))
	opts := Options{Service: a.Service, Region: a.Region}
	if a.Algorithm == AlgorithmV4a && a.Service == "aws4_request" {
		// date/service/aws4_request, read by the parser as SigV4's
		// date/region/service: the service stands where the region would.
		opts = Options{Service: a.Region, Algorithm: SigV4a}
		for _, r := range strings.Split(req.Header.Get(hdrRegionSet), ",") {
			if r = strings.TrimSpace(r); r != "" {
				opts.RegionSet = append(opts.RegionSet, r)
			}
		}
	}
	if a.AccessKeyID == "" || opts.Service == "" || opts.Region == "" && len(opts.RegionSet) == 0 || len(a.SignedHeaders) == 0 {
		return Result{}, errField("authorization", "no parsable credential scope and signed headers")
	}
	t, err := time.Parse(amzDateLayout, req.Header.Get("X-Amz-Date"))
	if err != nil {
		return Result{}, errField("time", "no ISO 8601 basic X-Amz-Date")
	}
	if payloadHash == "" {
		payloadHash = req.Header.Get("X-Amz-Content-Sha256")
	}
	if payloadHash == "" {
		payloadHash = EmptyPayloadHash
	}
	clone := req.Clone(req.Context())
	clone.Header.Del("Authorization")
	if clone.URL.Host == "" {
		clone.URL.Host = clone.Host
	}
	if a.Signs("content-length") && clone.ContentLength <= 0 {
		if n, err := strconv.ParseInt(req.Header.Get("Content-Length"), 10, 64); err == nil {
			clone.ContentLength = n
		}
	}
	keys := Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: "recompute", SessionToken: req.Header.Get("X-Amz-Security-Token")}
	opts.Time, opts.PayloadHash, opts.Debug = t, payloadHash, true
	opts.UnsignedHeaders = func(name string) bool { return !a.Signs(name) }
	return s.Sign(clone, keys, opts)
}
