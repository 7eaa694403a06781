package route

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: whatever the bytes, Parse and Compile return a Set or an
// *Error, never panic, and a Set's Pick answers.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.yaml", data, knownOptions)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error %T %v, want *Error", err, err)
			}
			return
		}
		set, err := Compile(file, checkPayload)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile error %T %v, want *Error", err, err)
			}
			return
		}
		if len(set.Routes()) == 0 {
			t.Fatal("a compiled Set without routes")
		}
		_, _ = set.Pick("s3.eu-west-1.amazonaws.com:443", "/team-a/x", "spiffe://x/y")
	})
}
