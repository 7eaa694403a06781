package signer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkv4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Benchmarks compare our signer with aws-sdk-go-v2's on the same requests
// in the same run: `make bench` (go test -run '^$' -bench . -benchmem -count 5 ./signer/).

var benchTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// benchGET is a typical S3 GET: host plus 8 headers, a query, a session token.
func benchGET() *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "https://bucket.s3.us-east-1.amazonaws.com/photos/2024/img_0042.jpg?versionId=3HL4kqtJlcpXroDTDmJ%2Brmj&partNumber=1", nil)
	h := req.Header
	h.Set("Accept", "*/*")
	h.Set("Accept-Encoding", "identity")
	h.Set("User-Agent", "app/1.2 (linux)")
	h.Set("Range", "bytes=0-1048575")
	h.Set("If-None-Match", `"686897696a7c876b7e"`)
	h.Set("X-Amz-Request-Payer", "requester")
	h.Set("X-Amz-Expected-Bucket-Owner", "111122223333")
	h.Set("X-Amz-Content-Sha256", UnsignedPayload)
	return req
}

var benchCreds = Credentials{AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", SessionToken: "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample"}

func sdkCreds(c Credentials) aws.Credentials {
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
}

func s3Opts(o *sdkv4.SignerOptions) { o.DisableURIPathEscaping = true }

func BenchmarkSignGET(b *testing.B) {
	opts := Options{Service: "s3", Region: "us-east-1", Time: benchTime, PayloadHash: UnsignedPayload,
		SetContentSHA256: true, UnsignedHeaders: DefaultUnsignedHeaders}

	b.Run("impl=ours/cache=hit", func(b *testing.B) {
		s, req := New(nil), benchGET()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Sign(req, benchCreds, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=sdk/cache=hit", func(b *testing.B) {
		s, req, c := sdkv4.NewSigner(), benchGET(), sdkCreds(benchCreds)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.SignHTTP(context.Background(), c, req, UnsignedPayload, "s3", "us-east-1", benchTime, s3Opts); err != nil {
				b.Fatal(err)
			}
		}
	})

	// Misses: every signature uses another access key, more than the cache holds.
	keys := make([]Credentials, 4096)
	for i := range keys {
		keys[i] = benchCreds
		keys[i].AccessKeyID = "ASIA" + strconv.Itoa(100000+i)
	}
	b.Run("impl=ours/cache=miss", func(b *testing.B) {
		s, req := New(NewKeyCache(256)), benchGET()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Sign(req, keys[i%len(keys)], opts); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("impl=sdk/cache=miss", func(b *testing.B) {
		s, req := sdkv4.NewSigner(), benchGET()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.SignHTTP(context.Background(), sdkCreds(keys[i%len(keys)]), req, UnsignedPayload, "s3", "us-east-1", benchTime, s3Opts); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkPut1MiB signs a 1 MiB PUT with its payload hash; raw-sha256 is
// the throughput ceiling the hashing is measured against.
func BenchmarkPut1MiB(b *testing.B) {
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	newPut := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPut, "https://bucket.s3.us-east-1.amazonaws.com/upload/blob.bin", nil)
		req.ContentLength = int64(len(body))
		req.Header.Set("Content-Type", "application/octet-stream")
		return req
	}
	b.Run("impl=raw-sha256", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			sum := sha256.Sum256(body)
			_ = sum
		}
	})
	b.Run("impl=ours/hash-only", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			_ = HashPayload(body)
		}
	})
	b.Run("impl=ours/hash+sign", func(b *testing.B) {
		s, req := New(nil), newPut()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			opts := Options{Service: "s3", Region: "us-east-1", Time: benchTime, PayloadHash: HashPayload(body), SetContentSHA256: true}
			if _, err := s.Sign(req, benchCreds, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=sdk/hash+sign", func(b *testing.B) {
		s, req, c := sdkv4.NewSigner(), newPut(), sdkCreds(benchCreds)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			sum := sha256.Sum256(body)
			ph := hex.EncodeToString(sum[:])
			req.Header.Set("X-Amz-Content-Sha256", ph)
			if err := s.SignHTTP(context.Background(), c, req, ph, "s3", "us-east-1", benchTime, s3Opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStreaming1MiB encodes and signs a 1 MiB aws-chunked upload.
func BenchmarkStreaming1MiB(b *testing.B) {
	body := make([]byte, 1<<20)
	s := New(nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPut, "https://bucket.s3.amazonaws.com/k", byteReader(body))
		if _, err := s.SignStreaming(req, benchCreds, Options{Service: "s3", Region: "us-east-1", Time: benchTime},
			StreamingOptions{DecodedLength: int64(len(body)), Trailer: "x-amz-checksum-crc32c"}); err != nil {
			b.Fatal(err)
		}
		if _, err := drain(req.Body); err != nil {
			b.Fatal(err)
		}
	}
}
