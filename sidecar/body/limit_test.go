package body

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLimitedBodyNamesLimit(t *testing.T) {
	body := Limit(io.NopCloser(iotest.OneByteReader(strings.NewReader(strings.Repeat("x", 2048)))), 1024)
	_, err := io.ReadAll(body)
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "--max-body (1KiB)") {
		t.Fatalf("reading 2 KiB one byte at a time under a 1 KiB limit: %v, want --max-body (1KiB)", err)
	}
}
