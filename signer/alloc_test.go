//go:build !race

package signer

import (
	"testing"
)

// TestSignAllocations holds the hot path to its allocation budget (the
// race detector adds its own, hence the build tag): a cache-hit signature
// allocates the Authorization/X-Amz-Date string and the header value
// slices, nothing else.
func TestSignAllocations(t *testing.T) {
	opts := Options{Service: "s3", Region: "us-east-1", Time: benchTime, PayloadHash: UnsignedPayload,
		SetContentSHA256: true, UnsignedHeaders: DefaultUnsignedHeaders}
	s, req := New(nil), benchGET()
	if _, err := s.Sign(req, benchCreds, opts); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := s.Sign(req, benchCreds, opts); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 8 {
		t.Fatalf("%v allocations per cache-hit signature, budget 8", allocs)
	}
	t.Logf("%v allocations per cache-hit signature", allocs)
}
