package addr

import (
	"net"
	"testing"
)

func TestLocalLiteral(t *testing.T) {
	for domain, want := range map[string]bool{
		"[127.0.0.1]":             true,
		"[127.1.2.3]":             true,
		"[::1]":                   true,
		"[IPv6:::1]":              true,
		"[ipv6:0:0:0:0:0:0:0:1]":  true,
		"[IPv6:::ffff:127.0.0.1]": true,
		"[192.0.2.254]":           false, // TEST-NET-1, never an interface here
		"[IPv6:2001:db8::1]":      false,
		"127.0.0.1":               false, // no brackets: a host name
		"[127.0.0.1":              false,
		"[IPv6:127.0.0.1]":        false,
		"[localhost]":             false,
		"localhost":               false,
		"":                        false,
	} {
		if got := LocalLiteral(domain); got != want {
			t.Errorf("LocalLiteral(%q) = %v, want %v", domain, got, want)
		}
	}
}

// Every address package net finds on this machine's interfaces is
// local as an address literal.
func TestLocalLiteralInterfaces(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLinkLocalUnicast() {
			continue
		}
		lit := "[" + n.IP.String() + "]"
		if n.IP.To4() == nil {
			lit = "[IPv6:" + n.IP.String() + "]"
		}
		if !LocalLiteral(lit) {
			t.Errorf("LocalLiteral(%q) = false for an address of this machine (%v)", lit, interfaceIPs())
		}
	}
}
