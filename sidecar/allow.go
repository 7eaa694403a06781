package sidecar

import (
	"net/netip"
	"path"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint"
)

// allowList is --allow-hosts compiled: the one place that says whether a
// host-mode request may go to a host, checked by the route before anything
// is signed, and to an address, checked again by the dialler for every
// address a name resolves to (DNS rebinding). Fixed mode and --connect-to
// rules are the operator's choice and are not checked against it. An
// allowList is read-only once built and safe for concurrent use.
type allowList struct {
	globs    []string        // host patterns with a wildcard
	exact    map[string]bool // host names without a wildcard
	prefixes []netip.Prefix  // IPs and CIDRs allowed explicitly
}

// newAllowList compiles the --allow-hosts patterns (lowercased, blanks
// skipped); none at all means every AWS partition's DNS suffix. An entry
// that looks like an IP or a CIDR must parse as one.
func newAllowList(patterns []string) (allowList, error) {
	if len(patterns) == 0 {
		patterns = endpoint.DefaultAllowHosts()
	}
	a := allowList{exact: map[string]bool{}}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(p); err == nil {
			a.prefixes = append(a.prefixes, pfx.Masked())
			continue
		}
		bare := p
		if len(p) > 2 && p[0] == '[' && p[len(p)-1] == ']' {
			bare = p[1 : len(p)-1]
		}
		if ip, err := netip.ParseAddr(bare); err == nil {
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if what := addressLike(p); what != "" {
			// Taken as a host name, "10.0.0.0/33" would match no host and
			// the operator would never learn that the VPC is not allowed.
			return allowList{}, optionError("AllowHosts", p, "looks like "+what+" but is not a valid one")
		}
		if _, err := path.Match(p, ""); err != nil {
			return allowList{}, optionError("AllowHosts", p, "bad glob pattern")
		}
		if strings.ContainsAny(p, "*?[") {
			a.globs = append(a.globs, p)
		} else {
			a.exact[p] = true
		}
	}
	return a, nil
}

// checkHost says whether a host-mode request may go to host (lowercase,
// without port or brackets): nil, or the *AddressNotAllowedError or
// *HostNotAllowedError to answer with. An IP literal must pass the
// address check, and be named by an IP, a CIDR or the literal itself.
func (a *allowList) checkHost(host string) error {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if !a.hostAllowed(host) {
			return &HostNotAllowedError{Host: host}
		}
		return nil
	}
	if !a.addrAllowed(host, ip) {
		return &AddressNotAllowedError{Host: host, Addr: ip.Unmap()}
	}
	if !a.holds(ip) && !a.hostAllowed(host) {
		return &HostNotAllowedError{Host: host}
	}
	return nil
}

// hostAllowed reports whether a host name matches --allow-hosts.
func (a *allowList) hostAllowed(host string) bool {
	if a.exact[host] {
		return true
	}
	for _, g := range a.globs {
		if ok, _ := path.Match(g, host); ok {
			return true
		}
	}
	return false
}

// addrAllowed reports whether host-mode traffic may go to ip, reached
// through host: public addresses always, special ones only when --allow-hosts
// names the host exactly or holds a prefix containing ip.
func (a *allowList) addrAllowed(host string, ip netip.Addr) bool {
	return !isSpecialAddr(ip) || a.exact[host] || a.holds(ip)
}

// holds reports whether an --allow-hosts IP or CIDR contains ip; the one
// CIDR check of the host check and the dial-time address check.
func (a *allowList) holds(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

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

// addressLike says what an --allow-hosts entry that did not parse as an IP
// or CIDR looks like ("a CIDR", "an IP address"), or "" for a host name or
// glob. No host name or glob over one holds '/' or ':', and no host name is
// only digits and dots
// (RFC 1123 section 2.1: the top label is not all numeric).
func addressLike(p string) string {
	switch {
	case strings.Contains(p, "/"):
		return "a CIDR"
	case strings.Contains(p, ":"):
		return "an IP address"
	case strings.Trim(p, "0123456789.") == "":
		return "an IP address"
	}
	return ""
}
