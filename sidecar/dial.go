package sidecar

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
)

// isSpecialAddr reports whether ip is an address a client must not reach
// through the proxy unless the operator named it: loopback, link-local
// (169.254.0.0/16 holds IMDS; fe80::/10), private (10/8, 172.16/12,
// 192.168/16, fc00::/7, which holds EC2's fd00:ec2::254), unspecified,
// multicast, CGNAT (100.64.0.0/10) and IPv4-mapped forms of all of these.
func isSpecialAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		cgnat.Contains(ip) || !ip.IsValid()
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// addrAllowed reports whether host-mode traffic may go to ip, reached
// through host: public addresses always, special ones only when --allow-hosts
// names the host exactly or holds a prefix containing ip.
func (c *compiled) addrAllowed(host string, ip netip.Addr) bool {
	if !isSpecialAddr(ip) {
		return true
	}
	if c.allowExact[host] {
		return true
	}
	ip = ip.Unmap()
	for _, p := range c.allowPrefix {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

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
		if !d.c.addrAllowed(host, ip) {
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
		if !d.c.addrAllowed(host, ip) {
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
