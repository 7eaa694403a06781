package sidecar

import (
	"net/http"
	"testing"
)

func TestAmbiguousRune(t *testing.T) {
	for v, want := range map[string]bool{
		"": false, "plain": false, "a  b": false, "caf\u00e9": false, "\u65e5\u672c": false,
		"a\tb": true, "a\u00a0b": true, "a\u3000b": true, "a\u2009b": true, "a\ufeffb": true, "voil\u00e0": true,
		"\xa0": true, "\xff": false, "a\x01b": true,
	} {
		if got := ambiguousRune(v) != ""; got != want {
			t.Errorf("ambiguousRune(%q) = %q, want ambiguous %v", v, ambiguousRune(v), want)
		}
	}
}

// BenchmarkUnsignedForValues is the cost the rule adds to every request with
// a typical S3 PUT's headers: one pass over the value bytes, no allocation.
func BenchmarkUnsignedForValues(b *testing.B) {
	h := http.Header{
		"Content-Type":        {"application/octet-stream"},
		"Content-Disposition": {`attachment; filename="report 2026.csv"`},
		"X-Amz-Meta-Origin":   {"sigv4-sidecar benchmark"},
		"X-Amz-Storage-Class": {"STANDARD"},
		"User-Agent":          {"aws-sdk-go-v2/1.30 os/linux lang/go#1.26"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnsignedForValues(h, UnsignedByDefault); err != nil {
			b.Fatal(err)
		}
	}
}
