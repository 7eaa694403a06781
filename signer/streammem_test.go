package signer

import (
	"io"
	"net/http"
	"runtime"
	"testing"
)

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct{ n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	p.n -= int64(len(b))
	return len(b), nil
}

// TestStreamingMemoryIsOneChunk: an aws-chunked upload holds one chunk,
// whatever the object size. A 64 MiB body streamed through SignStreaming,
// signed and unsigned, with and without a trailer, allocates less than
// 2 MiB in all (one 64 KiB chunk buffer plus small per-chunk garbage); an
// encoder that buffered the body would allocate at least its 64 MiB.
func TestStreamingMemoryIsOneChunk(t *testing.T) {
	const size = 64 << 20
	for _, tc := range []struct {
		name     string
		unsigned bool
		trailer  string
	}{
		{"signed", false, ""},
		{"signed-trailer", false, "x-amz-checksum-crc32c"},
		{"unsigned-trailer", true, "x-amz-checksum-crc32c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, "https://bucket.s3.amazonaws.com/k", &patternReader{n: size})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if _, err := New(nil).SignStreaming(req, testCreds, Options{Service: "s3", Region: "us-east-1", Time: testTime},
				StreamingOptions{DecodedLength: size, Trailer: tc.trailer, Unsigned: tc.unsigned}); err != nil {
				t.Fatal(err)
			}
			n, err := drain(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if want := EncodedLength(size, 0, !tc.unsigned, tc.trailer); n != want {
				t.Fatalf("encoded %d bytes, want %d", n, want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
				t.Errorf("streaming %d MiB allocated %d KiB, want under 2 MiB (one chunk)", size>>20, alloc>>10)
			} else {
				t.Logf("streaming %d MiB allocated %d KiB", size>>20, alloc>>10)
			}
		})
	}
}
