package sidecar

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
)

func TestSpoolBody(t *testing.T) {
	const memLimit = 1000
	cases := []struct {
		name     string
		size     int
		hint     int64
		wantFile bool
	}{
		{"EmptyUnknown", 0, -1, false},
		{"SmallKnown", 500, 500, false},
		{"SmallUnknown", 500, -1, false},
		{"ExactlyTheLimit", 1000, 1000, false},
		{"LargeKnownGoesStraightToFile", 5000, 5000, true},
		{"LargeUnknownSpills", 5000, -1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			body := testBody(tc.size)
			sp, err := spoolBody(iotest.HalfReader(bytes.NewReader(body)), tc.hint, memLimit, 1<<20, dir, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if sp.inFile() != tc.wantFile || sp.size != int64(tc.size) {
				t.Errorf("in file %v, size %d; want %v, %d", sp.inFile(), sp.size, tc.wantFile, tc.size)
			}
			if !tc.wantFile && sp.heldInMemory() > memLimit {
				t.Errorf("%d bytes of memory held for a %d-byte body", sp.heldInMemory(), tc.size)
			}
			sum := sha256.Sum256(body)
			if sp.sum != hex.EncodeToString(sum[:]) {
				t.Error("hash differs")
			}
			for range 2 {
				got, _ := io.ReadAll(sp.reader())
				if !bytes.Equal(got, body) {
					t.Fatalf("replay gave %d bytes, want %d", len(got), len(body))
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a spool file has a name on disk while open")
			}
		})
	}
	t.Run("TooLarge", func(t *testing.T) {
		_, err := spoolBody(bytes.NewReader(testBody(101)), -1, 10, 100, t.TempDir(), nil, nil)
		var tooLarge *BodyTooLargeError
		if !errors.As(err, &tooLarge) {
			t.Errorf("got %v, want *BodyTooLargeError", err)
		}
	})
	t.Run("ReadError", func(t *testing.T) {
		_, err := spoolBody(iotest.ErrReader(io.ErrUnexpectedEOF), -1, 10, 100, t.TempDir(), nil, nil)
		var readErr *BodyReadError
		if !errors.As(err, &readErr) {
			t.Errorf("got %v, want *BodyReadError", err)
		}
	})
	t.Run("UnwritableDir", func(t *testing.T) {
		_, err := spoolBody(bytes.NewReader(testBody(100)), -1, 10, 1000, "/nonexistent-spool-dir", nil, nil)
		var spoolErr *SpoolError
		if !errors.As(err, &spoolErr) {
			t.Errorf("got %v, want *SpoolError", err)
		}
		if status, code, _ := errorResponse(err); status != 503 || code != CodeSpoolFailed {
			t.Errorf("maps to %d %s", status, code)
		}
	})
}
