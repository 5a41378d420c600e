package addr

// IP addresses as net.ParseIP reads them, for domain literals
// ("user@[192.0.2.1]") and for package settings' check of loopback
// listen addresses, without linking package net (see rfc5322.go). A fuzz
// test holds them to net.ParseIP.

// isIP reports whether net.ParseIP(s) is not nil.
func isIP(s string) bool {
	if _, ok := ParseIPv4(s); ok {
		return true
	}
	_, ok := ParseIPv6(s)
	return ok
}

// LoopbackIP is net.ParseIP(s).IsLoopback(): s is an IPv4 address in
// 127.0.0.0/8, ::1, or an IPv4-mapped IPv6 address of the former.
func LoopbackIP(s string) bool {
	if ip, ok := ParseIPv4(s); ok {
		return ip[0] == 127
	}
	ip, ok := ParseIPv6(s)
	if !ok {
		return false
	}
	mapped := true
	for i := range 10 {
		mapped = mapped && ip[i] == 0
	}
	if mapped && ip[10] == 0xff && ip[11] == 0xff {
		return ip[12] == 127
	}
	for i := range 15 {
		if ip[i] != 0 {
			return false
		}
	}
	return ip[15] == 1
}

// ParseIPv4 reads dotted decimal: four fields of 0 to 255, no leading
// zeros, as net.ParseIP does.
func ParseIPv4(s string) (ip [4]byte, ok bool) {
	for i := range 4 {
		if i > 0 {
			if s == "" || s[0] != '.' {
				return ip, false
			}
			s = s[1:]
		}
		n, c := 0, 0
		for c < len(s) && '0' <= s[c] && s[c] <= '9' {
			if c > 0 && n == 0 {
				return ip, false // a leading zero
			}
			n = n*10 + int(s[c]-'0')
			if n > 255 {
				return ip, false
			}
			c++
		}
		if c == 0 {
			return ip, false
		}
		ip[i], s = byte(n), s[c:]
	}
	return ip, s == ""
}

// ParseIPv6 reads RFC 4291 text: eight groups of up to four hex digits,
// one "::" for a run of zeros, an IPv4 address as the last 32 bits; no
// zone.
func ParseIPv6(s string) (ip [16]byte, ok bool) {
	ellipsis := -1
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis, s = 0, s[2:]
		if s == "" {
			return ip, true
		}
	}
	i := 0
	for i < 16 {
		n, c := 0, 0
		for c < len(s) && c < 5 {
			d := unhex(s[c])
			if d < 0 {
				break
			}
			n = n*16 + d
			c++
		}
		if c == 0 || c > 4 {
			if c == 0 {
				return ip, false
			}
			return ip, false
		}
		if c < len(s) && s[c] == '.' {
			if ellipsis < 0 && i != 12 || i+4 > 16 {
				return ip, false
			}
			v4, ok := ParseIPv4(s)
			if !ok {
				return ip, false
			}
			copy(ip[i:], v4[:])
			i += 4
			s = ""
			break
		}
		ip[i], ip[i+1] = byte(n>>8), byte(n)
		i += 2
		s = s[c:]
		if s == "" {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return ip, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return ip, false
			}
			ellipsis = i
			s = s[1:]
			if s == "" {
				break
			}
		}
	}
	if s != "" {
		return ip, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return ip, false
		}
		n := 16 - i
		for j := i - 1; j >= ellipsis; j-- {
			ip[j+n] = ip[j]
		}
		for j := ellipsis + n - 1; j >= ellipsis; j-- {
			ip[j] = 0
		}
	} else if ellipsis >= 0 {
		return ip, false // "::" must stand for at least one group
	}
	return ip, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
