//go:build e2e

package e2e

import (
	"bytes"
	"encoding/binary"
	"flag"
	"hash"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

var flagLargeSize = flag.Int64("large-size", 1<<30, "bytes of the large upload and download")

// rssLimit is the bound on the proxy's peak RSS in a 1 GiB transfer.
const rssLimit = 64 << 20

var payloadModes = []string{"auto", "signed", "unsigned", "chunked"}

// deterministicStream is size bytes that depend only on seed, generated as
// they are read, so no test ever holds a large body in memory. A PCG fills
// them 8 bytes at a time: about twice the speed of ChaCha8 here, which
// matters when the suite moves many GiB on 2 cores.
func deterministicStream(seed uint64, size int64) io.Reader {
	return &pcgStream{src: rand.NewPCG(seed, seed^0x9e3779b97f4a7c15), left: size}
}

type pcgStream struct {
	src    *rand.PCG
	left   int64
	spare  [8]byte // the unread bytes of the last word, at spare[8-nspare:]
	nspare int
}

func (r *pcgStream) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for ; r.nspare > 0 && n < len(p); n++ {
		p[n] = r.spare[8-r.nspare]
		r.nspare--
	}
	for ; n+8 <= len(p); n += 8 {
		binary.LittleEndian.PutUint64(p[n:], r.src.Uint64())
	}
	if n < len(p) {
		binary.LittleEndian.PutUint64(r.spare[:], r.src.Uint64())
		for r.nspare = 8; n < len(p); n++ {
			p[n] = r.spare[8-r.nspare]
			r.nspare--
		}
	}
	r.left -= int64(n)
	return n, nil
}

// contentSeed keys contentHash for the whole run.
var contentSeed = maphash.MakeSeed()

// contentHash is what the transfers compare the bytes sent and received by:
// a 64-bit maphash, about 7 times the speed of SHA-256 here. Nothing here is
// adversarial, and an accidental match is 1 in 2^64. Where a test needs the
// payload's SHA-256 itself (a declared X-Amz-Content-Sha256), it computes it.
func contentHash() hash.Hash {
	h := new(maphash.Hash)
	h.SetSeed(contentSeed)
	return h
}

// contentSum reads r to its end and returns the content hash of what it
// read and how many bytes it read.
func contentSum(r io.Reader) (sum []byte, n int64, err error) {
	h := contentHash()
	n, err = io.Copy(h, r)
	return h.Sum(nil), n, err
}

// otherServerSize is what TestLargeTransfer moves in a mode on the server
// that does not get the full -large-size in that mode: above --body-memory
// (8 MiB), so a signed body is still spooled to disk.
const otherServerSize = 64 << 20

// TestLargeTransfer uploads and downloads 1 GiB through the proxy in each
// --payload mode, checks the content by hash, and bounds the proxy's peak
// RSS. Each mode moves the full size against one server (the modes
// alternate between them) and 64 MiB against the other: every mode and
// server pair is proven, and the suite moves 4 GiB each way instead of 8.
func TestLargeTransfer(t *testing.T) {
	t.Parallel() // a heavy test: see doc.go
	for si, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			bucket := newBucketName("e2e-large")
			admin := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...), sidecarArgs(s, fixedMode)...)
			adminApp := newApp(admin, fixedMode)
			adminApp.expect(t, adminApp.request(t, http.MethodPut, bucket, "", "", nil), http.StatusOK)
			t.Cleanup(func() {
				adminApp.do(t, adminApp.request(t, http.MethodDelete, bucket, "", "", nil))
			})
			for i, payload := range payloadModes {
				t.Run(payload, func(t *testing.T) {
					sc := startSidecar(t, sidecarEnv(t.TempDir(), withKeys(s.accessKey, s.secretKey)...),
						append(sidecarArgs(s, fixedMode), "--payload", payload)...)
					a := newApp(sc, fixedMode)
					key := "large/" + payload + ".bin"
					size := min(int64(otherServerSize), *flagLargeSize)
					if (i+si)%2 == 0 {
						size = *flagLargeSize
					}
					up, down, took := transferLarge(t, a, bucket, key, uint64(i+1), size)
					if !bytes.Equal(up, down) {
						t.Errorf("downloaded content differs from uploaded: content hash %x, want %x", down, up)
					}
					rss, err := sc.peakRSS()
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("%s --payload %s: %d MiB up and down in %s, proxy peak RSS (VmHWM) %.1f MiB",
						s.name, payload, size>>20, took.Round(time.Millisecond), float64(rss)/(1<<20))
					if rss >= rssLimit {
						t.Errorf("proxy peak RSS %.1f MiB, want under %d MiB", float64(rss)/(1<<20), rssLimit>>20)
					}
					a.expect(t, a.request(t, http.MethodDelete, bucket, key, "", nil), http.StatusNoContent)
				})
			}
		})
	}
}

// transferLarge PUTs size deterministic bytes to key and GETs them back,
// returning the content hash of what was sent and of what came back.
func transferLarge(t testing.TB, a *app, bucket, key string, seed uint64, size int64) (up, down []byte, took time.Duration) {
	t.Helper()
	start := time.Now()
	h := contentHash()
	req := a.request(t, http.MethodPut, bucket, key, "", io.TeeReader(deterministicStream(seed, size), h))
	req.ContentLength = size
	a.expect(t, req, http.StatusOK)
	up = h.Sum(nil)

	down, n := downloadSum(t, a, bucket, key)
	if n != size {
		t.Fatalf("GET %s: %d bytes, want %d", key, n, size)
	}
	return up, down, time.Since(start)
}

// TestDeterministicStreamIgnoresReadSizes: the bytes depend on the seed and
// the size only, not on how a reader (a client, the transfer manager) sizes
// its reads, or a download compared with an upload could never match.
func TestDeterministicStreamIgnoresReadSizes(t *testing.T) {
	const size = 100_003
	want, err := io.ReadAll(deterministicStream(42, size))
	if err != nil || len(want) != size {
		t.Fatalf("ReadAll: %d bytes, %v", len(want), err)
	}
	for _, chunk := range []int{1, 3, 7, 8, 9, 4096, 65537} {
		var got bytes.Buffer
		r, buf := deterministicStream(42, size), make([]byte, chunk)
		for {
			n, err := r.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("read %d bytes at a time: a different stream", chunk)
		}
	}
	if other, _ := io.ReadAll(deterministicStream(43, size)); bytes.Equal(other, want) {
		t.Errorf("seeds 42 and 43 give the same bytes")
	}
}
