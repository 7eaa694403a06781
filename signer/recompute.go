package signer

import (
	"net/http"
	"strconv"
	"time"
)

// Recompute returns the canonical request and string to sign behind a
// request already signed in its headers: the scope and signed headers of
// its Authorization header, its X-Amz-Date, and payloadHash ("" takes
// X-Amz-Content-Sha256, else the empty-body hash). Neither depends on the
// secret, so no credentials are needed. It does not modify req or read its
// body. Safe for concurrent use.
func (s *Signer) Recompute(req *http.Request, payloadHash string) (Result, error) {
	a, _ := ParseAuthorization(req.Header.Get("Authorization"))
	if a.AccessKeyID == "" || a.Service == "" || a.Region == "" || len(a.SignedHeaders) == 0 {
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
	return s.Sign(clone, keys, Options{
		Service: a.Service, Region: a.Region, Time: t, PayloadHash: payloadHash, Debug: true,
		UnsignedHeaders: func(name string) bool { return !a.Signs(name) },
	})
}
