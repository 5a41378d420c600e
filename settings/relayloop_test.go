package settings

import (
	"strings"
	"testing"
)

// A relay url that names one of the agent's own listen addresses is an
// error of relay.url: the mail would come back to the queue for ever.
// localhost is both 127.0.0.1 and ::1; another port, another loopback
// address, an exec: relay or a listener turned off are not the agent.
func TestRelayURLToOwnListener(t *testing.T) {
	for _, tc := range []struct {
		url    string
		listen []string
		off    bool
		loops  bool
	}{
		{"smtp://127.0.0.1:4546", []string{"127.0.0.1:4546"}, false, true},
		{"smtp://localhost:2525", []string{"[::1]:2525"}, false, true},
		{"smtp://LOCALHOST.:2525", []string{"127.0.0.1:2525"}, false, true},
		{"smtp://127.0.0.1:2525", []string{"localhost:2525"}, false, true},
		{"smtp+starttls://[::1]:2525", []string{"127.0.0.1:25", "[::1]:2525"}, false, true},
		{"smtp://[::ffff:127.0.0.1]:2525", []string{"127.0.0.1:2525"}, false, true},
		{"smtp://127.0.0.1:2526", []string{"127.0.0.1:2525"}, false, false},
		{"smtp://127.0.0.2:2525", []string{"127.0.0.1:2525"}, false, false},
		{"smtp://127.0.0.1:4546", []string{"127.0.0.1:4546"}, true, false},
		{"smtps://mail.example.org:2525", []string{"127.0.0.1:2525"}, false, false},
		{"exec:/usr/sbin/sendmail -i", []string{"127.0.0.1:2525"}, false, false},
	} {
		c := Defaults(NewIdentity("alice", "/home/alice", "Alice", 1000))
		c.Relay.URL, c.SMTP.Listen, c.SMTP.Enabled = tc.url, tc.listen, !tc.off
		var got *Error
		for _, e := range c.Problems() {
			if e.Key == "relay.url" {
				got = e
			}
		}
		if (got != nil) != tc.loops {
			t.Errorf("url %q, listen %q, off %v: %v", tc.url, tc.listen, tc.off, got)
		}
		if got != nil && !strings.Contains(got.Msg, "own [smtp] listen address") {
			t.Errorf("url %q: %v", tc.url, got)
		}
	}
}
