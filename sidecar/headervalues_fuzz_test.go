package sidecar

import (
	"net/http"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
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

// The ways verifiers canonicalize a header value (see headervalues.go), each
// written from its description: trim, then collapse runs of what counts as
// a space to one space. Bytes that are not spaces are kept as they are.
var valueReadings = map[string]func(string) string{
	// aws-sdk-go-v2's StripExcessSpaces, and this proxy's signer.
	"ascii-space": func(v string) string {
		return collapse(v, utf8.DecodeRuneInString, func(r rune) bool { return r == ' ' })
	},
	// The Java SDK; @smithy/signature-v4 on ASCII.
	"ascii-white": func(v string) string {
		return collapse(v, utf8.DecodeRuneInString, func(r rune) bool { return r == ' ' || r >= '\t' && r <= '\r' })
	},
	// MinIO, SeaweedFS: strings.Fields on the UTF-8 bytes.
	"go-fields": func(v string) string { return strings.Join(strings.Fields(v), " ") },
	// JavaScript's \s on UTF-8 text.
	"js-s": func(v string) string {
		return collapse(v, utf8.DecodeRuneInString, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' })
	},
	// botocore's str.split() on a server that decodes headers as ISO-8859-1.
	"python-latin1": func(v string) string {
		latin1 := func(s string) (rune, int) { return rune(s[0]), 1 }
		return collapse(v, latin1, func(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f })
	},
}

// collapse trims v and turns each run of characters isSpace reports into
// one space, reading v one character at a time with decode.
func collapse(v string, decode func(string) (rune, int), isSpace func(rune) bool) string {
	var b []byte
	pending := false
	for len(v) > 0 {
		r, size := decode(v)
		if isSpace(r) {
			pending = len(b) > 0
		} else {
			if pending {
				b = append(b, ' ')
				pending = false
			}
			b = append(b, v[:size]...)
		}
		v = v[size:]
	}
	return string(b)
}

// FuzzAmbiguousRune: a value ambiguousRune passes reads the same under
// every reading, so the one signature the proxy makes for it is the one
// every verifier computes.
func FuzzAmbiguousRune(f *testing.F) {
	for _, seed := range []string{"attachment; filename=\"a  b.txt\"", "a\tb", "a\u00a0b", "voil\u00e0", "caf\u00e9", " x ", "\xc3", "\xff\xa0"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if ambiguousRune(v) != "" {
			return
		}
		want := valueReadings["ascii-space"](v)
		for name, read := range valueReadings {
			if got := read(v); got != want {
				t.Fatalf("%q passes as unambiguous, but %s reads it as %q, ascii-space as %q", v, name, got, want)
			}
		}
	})
}
