package signer

import (
	"testing"
)

// SigV4a next to SigV4 on the same 8-header S3 GET (`make bench-signer`):
// the key derivation (a KDF loop and a P-256 scalar multiplication, once
// per access key and secret), a SigV4a signature with the key cached (an
// ECDSA signature with crypto/rand), its verification, and a SigV4
// signature with its key cached.

var benchV4aOpts = Options{Algorithm: SigV4a, RegionSet: []string{"*"}, Service: "s3", Time: benchTime,
	PayloadHash: UnsignedPayload, SetContentSHA256: true, UnsignedHeaders: DefaultUnsignedHeaders}

var benchV4Opts = Options{Service: "s3", Region: "us-east-1", Time: benchTime,
	PayloadHash: UnsignedPayload, SetContentSHA256: true, UnsignedHeaders: DefaultUnsignedHeaders}

func BenchmarkSigV4a(b *testing.B) {
	b.Run("op=derive-key", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := deriveV4aKey(benchCreds.AccessKeyID, benchCreds.SecretAccessKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=sign/alg=v4a/cache=hit", func(b *testing.B) {
		s, req := New(nil), benchGET()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign(req, benchCreds, benchV4aOpts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=sign/alg=v4/cache=hit", func(b *testing.B) {
		s, req := New(nil), benchGET()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign(req, benchCreds, benchV4Opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("op=verify/alg=v4a/cache=hit", func(b *testing.B) {
		s, req := New(nil), benchGET()
		if _, err := s.Sign(req, benchCreds, benchV4aOpts); err != nil {
			b.Fatal(err)
		}
		lookup := func(string) (Credentials, bool) { return benchCreds, true }
		vo := VerifyOptions{Now: benchTime}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Verify(req, lookup, vo); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSigV4aRatio charges each side the process CPU time of its
// batches (see BenchmarkRatio), so the ratios hold on a busy machine:
// v4a/v4 is a cached SigV4a signature against a cached SigV4 one,
// verify/v4 the verification of a SigV4a signature (key cached), and
// derive/v4 a SigV4a key derivation, against the same SigV4 signature.
func BenchmarkSigV4aRatio(b *testing.B) {
	v4 := func(s *Signer) func() {
		req := benchGET()
		return func() {
			if _, err := s.Sign(req, benchCreds, benchV4Opts); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sign-cached", func(b *testing.B) {
		s, req := New(nil), benchGET()
		race(b, 50, "v4", v4(s), "v4a", func() {
			if _, err := s.Sign(req, benchCreds, benchV4aOpts); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("verify-cached", func(b *testing.B) {
		s, req := New(nil), benchGET()
		if _, err := s.Sign(req, benchCreds, benchV4aOpts); err != nil {
			b.Fatal(err)
		}
		lookup := func(string) (Credentials, bool) { return benchCreds, true }
		race(b, 50, "v4", v4(s), "verify", func() {
			if _, err := s.Verify(req, lookup, VerifyOptions{Now: benchTime}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("derive-key", func(b *testing.B) {
		race(b, 50, "v4", v4(New(nil)), "derive", func() {
			if _, err := deriveV4aKey(benchCreds.AccessKeyID, benchCreds.SecretAccessKey); err != nil {
				b.Fatal(err)
			}
		})
	})
}
