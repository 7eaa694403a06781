package sidecar

import (
	"strings"
	"testing"
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
