package sidecar

import "testing"

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "1024": 1024, "8MiB": 8 << 20, "512KiB": 512 << 10, "5GiB": 5 << 30, "10MB": 10e6, "1G": 1 << 30, " 2 MiB ": 2 << 20} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("%q: %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "-1", "8XB", "MiB", "1.5MiB", "99999999999TiB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q accepted as %d", in, b)
		}
	}
	if s := ByteSize(8 << 20).String(); s != "8MiB" {
		t.Errorf("String: %s", s)
	}
}
