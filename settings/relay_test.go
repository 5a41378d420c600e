package settings

import (
	"net"
	"net/url"
	"strings"
	"testing"
)

func TestParseRelayURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Endpoint
	}{
		{"smtps://smtp.example.com", Endpoint{Kind: RelayTLS, Host: "smtp.example.com", Port: "465"}},
		{" smtp+starttls://mail.example.com:2587/ ", Endpoint{Kind: RelayStartTLS, Host: "mail.example.com", Port: "2587"}},
		{"submission://m.example", Endpoint{Kind: RelayStartTLS, Host: "m.example", Port: "587"}},
		{"SMTP://127.0.0.1:2525", Endpoint{Kind: RelayPlain, Host: "127.0.0.1", Port: "2525"}},
		{"smtp://[::1]:25", Endpoint{Kind: RelayPlain, Host: "::1", Port: "25"}},
		{"smtps://[2001:db8::1]", Endpoint{Kind: RelayTLS, Host: "2001:db8::1", Port: "465"}},
		{"exec:/usr/sbin/sendmail -i", Endpoint{Kind: RelayExec, Argv: []string{"/usr/sbin/sendmail", "-i"}}},
	} {
		got, err := ParseRelayURL(tc.in)
		if err != nil || got.Kind != tc.want.Kind || got.Host != tc.want.Host || got.Port != tc.want.Port || strings.Join(got.Argv, " ") != strings.Join(tc.want.Argv, " ") {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"smtps//host", "smtps:host", "host:465", "http://example.com", "smtps://", "smtps://:465",
		"smtps://me:hunter2@example.com", "smtps://example.com/x", "smtps://example.com?x", "smtps://example.com:99999",
		"smtps://example.com:", "smtps://example.com:+1", "smtps://exa mple.com", "smtps://[::1", "exec:", "exec:sendmail -i",
	} {
		if e, err := ParseRelayURL(in); err == nil {
			t.Errorf("%q: accepted as %+v", in, e)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error shows the password: %v", in, err)
		}
	}
}

// FuzzParseRelayURL: what ParseRelayURL accepts, net/url reads as the
// same host and port.
func FuzzParseRelayURL(f *testing.F) {
	for _, s := range []string{"smtps://h:465", "smtp://[::1]:25/", "smtp+starttls://a.b", "exec:/x", "smtps//h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := ParseRelayURL(in)
		if err != nil || e.Kind == RelayExec {
			return
		}
		u, err := url.Parse(strings.TrimSpace(in))
		if err != nil && strings.Contains(e.Host, ":") {
			return // an IPv6 address is only looked at, not parsed, here
		}
		if err != nil {
			t.Fatalf("%q: accepted, but net/url: %v", in, err)
		}
		if u.Hostname() != e.Host || (u.Port() != "" && u.Port() != e.Port) {
			t.Fatalf("%q: host %q port %q; net/url %q %q", in, e.Host, e.Port, u.Hostname(), u.Port())
		}
		if h, p, err := net.SplitHostPort(e.Addr()); err != nil || h != e.Host || p != e.Port {
			t.Fatalf("%q: Addr %q", in, e.Addr())
		}
	})
}

func TestRelayCheck(t *testing.T) {
	base := func() Relay { return Base().Relay }
	for _, tc := range []struct {
		name string
		edit func(*Relay)
		keys string
	}{
		{"fine", func(r *Relay) {
			r.URL = "smtps://h"
			r.Username = "u"
			r.PasswordCommand = "pass x"
			r.From = "me@example.com"
		}, ""},
		{"none", func(r *Relay) {}, ""},
		{"bad url", func(r *Relay) { r.URL = "smtps//host" }, "relay.url"},
		{"plain remote address", func(r *Relay) { r.URL = "smtp://192.0.2.1" }, "relay.url"},
		{"plain remote, insecure", func(r *Relay) { r.URL = "smtp://192.0.2.1"; r.Insecure = true }, ""},
		{"plain remote name", func(r *Relay) { r.URL = "smtp://mail.example.com" }, ""},
		{"auth in clear", func(r *Relay) { r.URL = "smtp://mail.example.com"; r.Username = "u"; r.Password = "p" }, "relay.username"},
		{"auth in clear to loopback", func(r *Relay) { r.URL = "smtp://127.0.0.1:1025"; r.Username = "u"; r.Password = "p" }, ""},
		{"auth in clear to localhost", func(r *Relay) { r.URL = "smtp://localhost:1025"; r.Username = "u"; r.Password = "p" }, ""},
		{"every error", func(r *Relay) {
			r.URL = "smtps://h"
			r.Username = "u"
			r.From = "alice"
			r.DataTimeout.Duration = 0
		}, "relay.password_command relay.from relay.data_timeout"},
		{"exec username", func(r *Relay) { r.URL = "exec:/bin/true"; r.Username = "u" }, "relay.username"},
	} {
		r := base()
		tc.edit(&r)
		var keys []string
		for _, e := range r.Check() {
			keys = append(keys, e.Key)
		}
		if got := strings.Join(keys, " "); got != tc.keys {
			t.Errorf("%s: errors for %q, want %q", tc.name, got, tc.keys)
		}
	}
}
