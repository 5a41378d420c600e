package addr

import (
	"net"
	"net/mail"
	"testing"
)

var listSeeds = []string{
	"root", "a@b", "Name <a@b>", "\"a b\"@example.org", "a@b, c@d", "g: a@b, c@d;", "(c) a@b (d)",
	"=?utf-8?q?J=C3=B6rg?= <j@x>", "=?x-unknown?q?n?= <n@x>", "A =?x-unknown?q?b?= <n@x>",
	"a@[192.0.2.1]", "a@[::1]", "a@[IPv6:::1]", "a@[300.1.1.1]", "<a@b", "a@", "@b", "a..b@c",
	"\"unclosed@x", "Jörg <j@x>", "a@b,,c@d", "\"\\\"q\"@x", "a\x00@b", "undisclosed-recipients:;",
}

// FuzzParseAsNetMail holds the copy of net/mail's parser to the original:
// the same addresses, names and verdict.
func FuzzParseAsNetMail(f *testing.F) {
	for _, s := range listSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseAddressList(s)
		want, werr := mail.ParseAddressList(s)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, net/mail %v", s, err, werr)
		}
		if err != nil {
			if err.Error() != werr.Error() {
				t.Fatalf("%q: error %q, net/mail %q", s, err, werr)
			}
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d addresses, net/mail %d", s, len(got), len(want))
		}
		for i := range got {
			if got[i].Name != want[i].Name || got[i].Address != want[i].Address {
				t.Fatalf("%q: %+v, net/mail %+v", s, *got[i], *want[i])
			}
			if g, w := got[i].String(), want[i].String(); g != w {
				t.Fatalf("%q: String %q, net/mail %q", s, g, w)
			}
		}
	})
}

func TestParseAsNetMail(t *testing.T) {
	for _, s := range listSeeds {
		got, err := parseAddressList(s)
		want, werr := mail.ParseAddressList(s)
		if (err == nil) != (werr == nil) || err == nil && len(got) != len(want) {
			t.Errorf("%q: %v %v, net/mail %v %v", s, got, err, want, werr)
		}
	}
}

// FuzzIPAsNet: the IP addresses of domain literals and listen addresses
// read as net.ParseIP reads them.
func FuzzIPAsNet(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "1::", "1:2:3:4:5:6:7:8", "::1%lo", "127.1", "0:0::1", "::127.0.0.1", "1:2:3:4:5:6:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip := net.ParseIP(s)
		if isIP(s) != (ip != nil) {
			t.Fatalf("isIP(%q) = %v, net.ParseIP %v", s, isIP(s), ip)
		}
		if LoopbackIP(s) != (ip != nil && ip.IsLoopback()) {
			t.Fatalf("LoopbackIP(%q) = %v, net says %v", s, LoopbackIP(s), ip != nil && ip.IsLoopback())
		}
		_, v4 := ParseIPv4(s)
		if v4 != (ip != nil && ip.To4() != nil && len(s) <= 15 && !containsColon(s)) {
			t.Fatalf("ParseIPv4(%q) = %v, net.ParseIP %v", s, v4, ip)
		}
	})
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}
