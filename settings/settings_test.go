package settings

import (
	"net"
	"os"
	"strings"
	"testing"
)

func TestHomeDir(t *testing.T) {
	for _, c := range []struct{ env, passwd, want string }{
		{"/tmp/h", "/home/a", "/tmp/h"},   // $HOME moves it
		{"", "/home/a", "/home/a"},        // no $HOME
		{"rel/dir", "/home/a", "/home/a"}, // not absolute
		{"/", "/root", "/root"},           // sudo's mailer: HOME=/
		{"//", "/root", "/root"},
		{"/", "", "/"}, // nothing better known
	} {
		if got := homeDir(c.env, c.passwd, os.Getuid()); got != c.want {
			t.Errorf("homeDir(%q, %q) = %q, want %q", c.env, c.passwd, got, c.want)
		}
	}
	// A user's mailer run by a daemon started from a root shell (cron,
	// atd) gets the daemon's HOME=/root: a directory of another user's is
	// not that user's home; root keeps what $HOME says.
	mine, theirs := t.TempDir(), t.TempDir()
	const uid, other = 4242, 4243
	if err := os.Chown(theirs, other, -1); err != nil {
		t.Skip("SKIP: cannot give directories to other uids (not root):", err)
	}
	os.Chown(mine, uid, -1)
	for _, c := range []struct {
		env, passwd string
		uid         int
		want        string
	}{
		{theirs, mine, uid, mine},    // another user's: the passwd home
		{mine, "/home/a", uid, mine}, // the caller's own: kept
		{theirs, "", uid, theirs},    // nothing better known
		{mine, theirs, other, theirs},
		{theirs, mine, 0, theirs}, // root: as $HOME says
	} {
		if got := homeDir(c.env, c.passwd, c.uid); got != c.want {
			t.Errorf("uid %d: homeDir(%q, %q) = %q, want %q", c.uid, c.env, c.passwd, got, c.want)
		}
	}
}

// netLoopback is what CheckLoopback said when it used package net.
func netLoopback(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return port != ""
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func TestLoopbackAsNet(t *testing.T) {
	for _, s := range loopbackSeeds {
		checkLoopback(t, s)
	}
}

var loopbackSeeds = []string{
	"127.0.0.1:2525", "[::1]:2525", "localhost:25", "0.0.0.0:2525", ":2525", "127.0.0.1",
	"[::ffff:127.0.0.1]:25", "[::ffff:7f00:1]:25", "[0:0:0:0:0:0:0:1]:25", "[::1%lo]:25", "[::127.0.0.1]:25",
	"127.000.0.1:25", "127.0.0.256:25", "[1::]:25", "[::]:25", "[1:2:3:4:5:6:7:8]:9", "[1:2:3:4:5:6:7::]:9",
	"[1:2:3:4:5:6:7:8::]:9", "[::1:2:3:4:5:6:7:8]:9", "[0::0:1]:9", "[0:0:0:0:0:0:127.0.0.1]:9",
	"[::ffff:127.0.0.1.5]:9", "[:::1]:9", "[::1:]:9", "[00001::1]:9", "[]:9", "[::1]]:9", "[[::1]:9",
	"127.0.0.1:", "127.0.0.1:0x19", "[::1]", "a:b:c",
}

func checkLoopback(t *testing.T, s string) {
	t.Helper()
	if got, want := CheckLoopback(s) == nil, netLoopback(s); got != want {
		// The port rule is CheckLoopback's own; compare the host part.
		host, port, err := net.SplitHostPort(s)
		h2, p2, err2 := splitHostPort(s)
		if (err == nil) != (err2 == nil) || host != h2 || port != p2 {
			t.Fatalf("splitHostPort(%q) = %q %q %v, net: %q %q %v", s, h2, p2, err2, host, port, err)
		}
		ip := net.ParseIP(host)
		if isLoopback(host) != (ip != nil && ip.IsLoopback()) {
			t.Fatalf("isLoopback(%q) = %v, net says %v", host, isLoopback(host), ip != nil && ip.IsLoopback())
		}
	}
}

// FuzzLoopback holds the address checks to package net's reading.
func FuzzLoopback(f *testing.F) {
	for _, s := range loopbackSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h2, p2, err2 := splitHostPort(s)
		host, port, err := net.SplitHostPort(s)
		if (err == nil) != (err2 == nil) || err == nil && (host != h2 || port != p2) {
			t.Fatalf("splitHostPort(%q) = %q %q %v, net: %q %q %v", s, h2, p2, err2, host, port, err)
		}
		ip := net.ParseIP(s)
		if got, want := isLoopback(s), ip != nil && ip.IsLoopback(); got != want {
			t.Fatalf("isLoopback(%q) = %v, net says %v", s, got, want)
		}
	})
}

// A duration that cannot be read says how one is written, whichever of
// its terms is wrong: the days, as in "5 days", or the rest.
func TestDurationErrorsShowHowToWriteOne(t *testing.T) {
	for _, s := range []string{"5 days", "x5d", "5d 2h", "1d12x", "xyz", "10", ""} {
		_, err := ParseDuration(s)
		if err == nil || !strings.Contains(err.Error(), "(use e.g. 90s, 10m, 2h, 5d)") {
			t.Errorf("ParseDuration(%q): %v", s, err)
		}
	}
}
