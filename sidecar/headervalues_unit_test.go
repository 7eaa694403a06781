package sidecar

import "testing"

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
