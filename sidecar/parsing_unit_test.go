package sidecar

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParsePort(t *testing.T) {
	for in, want := range map[string]string{"1": "1", "443": "443", "00443": "443", "65535": "65535",
		"": "", "0": "", "65536": "", "+443": "", "-1": "", "4 43": "", "004430": "", "٤٤٣": "", "0x1bb": ""} {
		got, ok := parsePort(in)
		if got != want || ok != (want != "") {
			t.Errorf("parsePort(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, err := parseConnectTo("a:+443=b:443"); err == nil || !strings.Contains(err.Error(), "left side") {
		t.Errorf("connect-to with port +443 on the left: %v", err)
	}
}

func TestLimitedBodyNamesLimit(t *testing.T) {
	body := newLimitedBody(io.NopCloser(iotest.OneByteReader(strings.NewReader(strings.Repeat("x", 2048)))), 1024)
	_, err := io.ReadAll(body)
	var tooLarge *BodyTooLargeError
	if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), "--max-body (1KiB)") {
		t.Fatalf("reading 2 KiB one byte at a time under a 1 KiB limit: %v, want --max-body (1KiB)", err)
	}
}
