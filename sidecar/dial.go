package sidecar

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
)

// connectRuleFor returns the --connect-to rule for host:port, if any.
func (c *compiled) connectRuleFor(host, port string) (connectRule, bool) {
	host = strings.ToLower(host)
	for _, r := range c.connectTo {
		if r.matches(host, port) {
			return r, true
		}
	}
	return connectRule{}, false
}

// dialer opens upstream connections. --connect-to rules and the fixed
// upstream are the operator's choice and are dialled as given; in host mode
// every other name is resolved here and each address checked before it is
// dialled, so a name that resolves (or re-resolves: DNS rebinding) to a
// loopback, link-local or private address is refused.
type dialer struct {
	c        *compiled
	net      net.Dialer
	resolver *net.Resolver
}

func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	// The same reading of the port as the route's allow check and
	// --connect-to match (parsePort): what was not checked is not dialled.
	if canonical, ok := parsePort(port); !ok || canonical != port {
		return nil, &net.AddrError{Err: "port must be 1 to 5 digits, 1-65535", Addr: addr}
	}
	if rule, ok := d.c.connectRuleFor(host, port); ok {
		return d.net.DialContext(ctx, network, rule.addr)
	}
	if d.c.upstream != nil {
		return d.net.DialContext(ctx, network, addr)
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		if !d.c.allow.addrAllowed(host, ip) {
			return nil, &AddressNotAllowedError{Host: host, Addr: ip}
		}
		return d.net.DialContext(ctx, network, addr)
	}
	ips, err := d.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, ip := range ips {
		if !d.c.allow.addrAllowed(host, ip) {
			if firstErr == nil {
				firstErr = &AddressNotAllowedError{Host: host, Addr: ip.Unmap()}
			}
			continue
		}
		conn, err := d.net.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return conn, nil
		}
		var notAllowed *AddressNotAllowedError
		if firstErr == nil || errors.As(firstErr, &notAllowed) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return nil, firstErr
}
