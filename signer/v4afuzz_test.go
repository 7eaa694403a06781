package signer

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// FuzzVerifyV4a feeds arbitrary SigV4a Authorization headers, region sets,
// dates and presign queries to the verifier, seeded from a header-signed
// and a presigned request: it must never panic, must report every
// rejection as a *VerifyError, and may accept only a canonical request
// that was signed.
func FuzzVerifyV4a(f *testing.F) {
	signed := v4aTestRequest(f, false)
	presigned := v4aTestRequest(f, true)
	f.Add(signed.Header.Get("Authorization"), signed.Header.Get("X-Amz-Region-Set"), signed.Header.Get("X-Amz-Date"), signed.URL.RawQuery)
	f.Add("", "", "", presigned.URL.RawQuery)
	f.Add(AlgorithmV4a+" Credential=A/2015/s/aws4_request, SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3006020101020101", "*,", "20150830T123600Z", "")
	f.Add("", "", "", "X-Amz-Algorithm="+AlgorithmV4a+"&X-Amz-Region-Set=&X-Amz-Signature=30&X-Amz-Expires=1")
	s := New(nil)
	lookup := func(id string) (Credentials, bool) { return testCreds, id != "" }
	vo := VerifyOptions{Now: testTime.Add(time.Minute), PayloadHash: EmptyPayloadHash, Region: "us-east-1"}
	// What was signed: a request is accepted only when its canonical
	// request is one of these (signatures are randomized, so the fuzzer's
	// worker processes hold other signatures of the same requests).
	signedCanon := map[string]bool{}
	for _, r := range []*http.Request{signed, presigned} {
		res, err := s.Verify(r, lookup, vo)
		if err != nil {
			f.Fatal(err)
		}
		signedCanon[res.CanonicalRequest] = true
	}
	f.Fuzz(func(t *testing.T, auth, regionSet, date, rawQuery string) {
		r := signed.Clone(signed.Context())
		r.URL.RawQuery = rawQuery
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Region-Set", regionSet)
		r.Header.Set("X-Amz-Date", date)
		res, err := s.Verify(r, lookup, vo)
		if err != nil {
			if !errors.As(err, new(*VerifyError)) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if !signedCanon[res.CanonicalRequest] {
			t.Fatalf("accepted a request that was not signed:\n%s", res.CanonicalRequest)
		}
	})
}
