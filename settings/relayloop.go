package settings

import (
	"fmt"
	"strings"

	"homepost/addr"
)

// A [relay] url that names the agent's own listener hands every remote
// message back to the queue it left: homepost takes it in again, as new
// mail, and sends it to itself, a thousand times a second, until the
// hop limit bounces it. Nothing can ever go further, so the url is a
// configuration error, found without the network (the listen addresses
// are loopback addresses or localhost). An exec: relay that runs
// homepost's own sendmail loops the same way; telling that needs the
// program's file read, which the agent and check do (package relay),
// not every sendmail.

// relayLoops returns the error of a relay url whose host and port are
// one of the agent's own [smtp] listen addresses.
func (c *Config) relayLoops() []*Error {
	if !c.SMTP.Enabled || strings.TrimSpace(c.Relay.URL) == "" {
		return nil
	}
	e, err := ParseRelayURL(c.Relay.URL)
	if err != nil || e.Kind == RelayExec {
		return nil
	}
	for _, l := range c.SMTP.Listen {
		host, port, err := splitHostPort(l)
		if err != nil || port != e.Port || !sameLoopback(host, e.Host) {
			continue
		}
		return []*Error{{Key: "relay.url", Msg: fmt.Sprintf(
			"%s is the agent's own [smtp] listen address %q: the mail sent there would come back to the queue, for ever; the url names the smarthost (smtps://HOST:465, smtp+starttls://HOST:587)", e.Addr(), l)}}
	}
	return nil
}

// sameLoopback reports whether two hosts, a loopback address or
// localhost each, share an address: localhost is 127.0.0.1 and ::1,
// as the listener opens it.
func sameLoopback(a, b string) bool {
	as, bs := loopbackIPs(a), loopbackIPs(b)
	for _, x := range as {
		for _, y := range bs {
			if x == y {
				return true
			}
		}
	}
	return false
}

// loopbackIPs are the addresses of host in 16-byte form: its own, or
// those of localhost.
func loopbackIPs(host string) [][16]byte {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" {
		return [][16]byte{v4(127, 0, 0, 1), {15: 1}}
	}
	if ip, ok := addr.ParseIPv4(host); ok {
		return [][16]byte{v4(ip[0], ip[1], ip[2], ip[3])}
	}
	if ip, ok := addr.ParseIPv6(host); ok {
		return [][16]byte{ip}
	}
	return nil
}

// v4 is an IPv4 address in its IPv4-mapped IPv6 form, as
// addr.ParseIPv6 returns ::ffff:a.b.c.d.
func v4(a, b, c, d byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a, 13: b, 14: c, 15: d}
}
