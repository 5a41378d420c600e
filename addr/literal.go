package addr

import "strings"

// LiteralIP reads the IP address of an address literal, the domain of
// user@[192.0.2.1] or user@[IPv6:2001:db8::1], as 16 bytes (an IPv4
// address in its IPv4-mapped form). "[::1]" without the IPv6: tag,
// which RFC 5321 does not allow but people write, is read too. ok is
// false for a domain that is no address literal.
func LiteralIP(domain string) (ip [16]byte, ok bool) {
	s, ok := strings.CutPrefix(domain, "[")
	if !ok {
		return ip, false
	}
	if s, ok = strings.CutSuffix(s, "]"); !ok {
		return ip, false
	}
	if v4, ok := ParseIPv4(s); ok {
		ip[10], ip[11] = 0xff, 0xff
		copy(ip[12:], v4[:])
		return ip, true
	}
	if len(s) > 5 && strings.EqualFold(s[:5], "IPv6:") {
		s = s[5:]
	}
	return ParseIPv6(s)
}

// LocalLiteral reports whether domain is an address literal naming this
// machine: a loopback address, or one of the addresses of its network
// interfaces, as Postfix takes them. Mail to root@[127.0.0.1] is then
// local mail, as mail to root@localhost is, not mail for the smarthost,
// which would refuse it or deliver it to its own root. The interfaces
// are asked only for a literal that is not a loopback address.
func LocalLiteral(domain string) bool {
	ip, ok := LiteralIP(domain)
	if !ok {
		return false
	}
	if loopback16(ip) {
		return true
	}
	for _, own := range interfaceIPs() {
		if own == ip {
			return true
		}
	}
	return false
}

// loopback16 is LoopbackIP for the 16-byte form: 127.0.0.0/8 mapped, or ::1.
func loopback16(ip [16]byte) bool {
	for i := range 10 {
		if ip[i] != 0 {
			return false
		}
	}
	if ip[10] == 0xff && ip[11] == 0xff {
		return ip[12] == 127
	}
	for i := 10; i < 15; i++ {
		if ip[i] != 0 {
			return false
		}
	}
	return ip[15] == 1
}
