package settings

import (
	"errors"

	"homepost/addr"
)

// The address checks of [smtp] listen, without package net: linking net
// would run its initialisers (and internal/godebug's) in every sendmail.
// A fuzz test holds them to net.SplitHostPort and net.ParseIP.

// isLoopback is net.ParseIP(s).IsLoopback().
func isLoopback(s string) bool { return addr.LoopbackIP(s) }

// parseIPv4 and parseIPv6 read IP addresses as net.ParseIP does.
func parseIPv4(s string) ([4]byte, bool)  { return addr.ParseIPv4(s) }
func parseIPv6(s string) ([16]byte, bool) { return addr.ParseIPv6(s) }

var errHostPort = errors.New("bad host:port")

// splitHostPort is net.SplitHostPort, errors reduced to one.
func splitHostPort(hostport string) (host, port string, err error) {
	j, k := 0, 0
	i := lastIndex(hostport, ':')
	if i < 0 {
		return "", "", errHostPort
	}
	if hostport[0] == '[' {
		end := index(hostport, ']')
		if end < 0 || end+1 != i {
			return "", "", errHostPort
		}
		host = hostport[1:end]
		j, k = 1, end+1
	} else {
		host = hostport[:i]
		if index(host, ':') >= 0 {
			return "", "", errHostPort
		}
	}
	if index(hostport[j:], '[') >= 0 || index(hostport[k:], ']') >= 0 {
		return "", "", errHostPort
	}
	return host, hostport[i+1:], nil
}

func index(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func lastIndex(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}
