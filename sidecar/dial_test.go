package sidecar

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestDialerChecksTheAddressItDials: in host mode the dialler resolves a
// name itself and checks each address against --allow-hosts before it
// dials (the route saw only the name: a name that resolves, or re-resolves,
// to loopback is refused here), reads the port as the route does, and dials
// what the allow-list opens by name, address or CIDR.
func TestDialerChecksTheAddressItDials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	dial := func(allow []string, addr string) error {
		cfg := testConfig()
		cfg.AllowHosts = allow
		c, err := cfg.compile()
		if err != nil {
			t.Fatal(err)
		}
		d := &dialer{c: c, net: net.Dialer{Timeout: 5 * time.Second}, resolver: net.DefaultResolver}
		conn, err := d.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err
	}
	for _, tc := range []struct {
		allow   []string
		addr    string
		refused bool
	}{
		{[]string{"*"}, "localhost:" + port, true},
		{[]string{"*"}, "127.0.0.1:" + port, true},
		{[]string{"localhost"}, "localhost:" + port, false},
		{[]string{"127.0.0.0/8"}, "127.0.0.1:" + port, false},
		{[]string{"127.0.0.1"}, "localhost:" + port, false},
	} {
		err := dial(tc.allow, tc.addr)
		var notAllowed *AddressNotAllowedError
		if tc.refused != errors.As(err, &notAllowed) || !tc.refused && err != nil {
			t.Errorf("--allow-hosts %v, dial %s: %v, want refused %v", tc.allow, tc.addr, err, tc.refused)
		}
	}
	var addrErr *net.AddrError
	if err := dial([]string{"localhost"}, "localhost:+"+port); !errors.As(err, &addrErr) {
		t.Errorf("dial localhost:+%s: %v, want a *net.AddrError for the port", port, err)
	}
}
