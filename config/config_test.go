package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testID(t *testing.T) Identity {
	return NewIdentity("alice", t.TempDir(), "Alice A", 1000)
}

// The example file documents every key with its default: loading it must
// give exactly the defaults.
func TestExampleIsDefaults(t *testing.T) {
	id := testID(t)
	got, err := LoadFile("../config.example.toml", id)
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults(id)
	got.File = ""
	if g, w := strings.Join(got.LocalDomains, ","), strings.Join(want.LocalDomains, ","); g != w {
		t.Errorf("local_domains %q, want %q", g, w)
	}
	if !equalish(got, want) {
		t.Errorf("example config differs from defaults:\n got %+v\nwant %+v", got, want)
	}
}

func equalish(a, b *Config) bool {
	a2, b2 := *a, *b
	a2.LocalDomains, b2.LocalDomains = nil, nil
	return reflect.DeepEqual(a2, b2)
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	id := testID(t)
	cases := []struct {
		body, key string
		line      int
	}{
		{"store = \"~/Maildir/\"\nstroe = \"x\"\n", "stroe", 2},
		{"[relay]\nurl = \"smtps://h\"\nbogus = 1\n", "relay.bogus", 3},
		{"\n\nother_users = \"everyone\"\n", "other_users", 3},
		{"max_queue_lifetime = \"soon\"\n", "max_queue_lifetime", 1},
		{"store = 5\n", "store", 1},
	}
	for _, c := range cases {
		p := filepath.Join(t.TempDir(), "config.toml")
		os.WriteFile(p, []byte(c.body), 0o600)
		_, err := LoadFile(p, id)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v is not a config error", c.body, err)
			continue
		}
		if !strings.Contains(err.Error(), c.key) || ce.Line != c.line {
			t.Errorf("%q: got %q (line %d), want key %s line %d", c.body, err, ce.Line, c.key, c.line)
		}
	}
}

func TestPasswordNeedsPrivateFile(t *testing.T) {
	id := testID(t)
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("[relay]\nurl = \"smtps://h:465\"\npassword = \"s3cret\"\n"), 0o644)
	_, err := LoadFile(p, id)
	if err == nil || !strings.Contains(err.Error(), "relay.password") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("group-readable password file: got %v", err)
	}
	os.Chmod(p, 0o600)
	if _, err := LoadFile(p, id); err != nil {
		t.Fatal(err)
	}
}

func TestDurationDays(t *testing.T) {
	for in, want := range map[string]time.Duration{"5d": 120 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s: got %v %v, want %v", in, got, err, want)
		}
	}
	if _, err := ParseDuration("-1d"); err == nil {
		t.Error("negative duration accepted")
	}
}

func TestMboxStoreAndTilde(t *testing.T) {
	id := testID(t)
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("store = \"mbox:~/mbox\"\n"), 0o600)
	c, err := LoadFile(p, id)
	if err != nil {
		t.Fatal(err)
	}
	if k, path := c.StoreKind(); k != "mbox" || path != filepath.Join(c.Home, "mbox") {
		t.Errorf("store: %s %s", k, path)
	}
}

func TestMailnameIsLocal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mailname")
	os.WriteFile(p, []byte("mail.example.org\n"), 0o644)
	defer func(old string) { MailnameFile = old }(MailnameFile)
	MailnameFile = p
	c := Defaults(testID(t))
	if !c.IsLocalDomain("mail.example.org") || !c.IsLocalDomain("localhost") || c.IsLocalDomain("example.org") {
		t.Errorf("local domains: %v", c.LocalDomains)
	}
}

func TestHomeDir(t *testing.T) {
	for _, c := range []struct{ env, passwd, want string }{
		{"/tmp/h", "/home/a", "/tmp/h"},   // $HOME moves it
		{"", "/home/a", "/home/a"},        // no $HOME
		{"rel/dir", "/home/a", "/home/a"}, // not absolute
		{"/", "/root", "/root"},           // sudo's mailer: HOME=/
		{"//", "/root", "/root"},
		{"/", "", "/"}, // nothing better known
	} {
		if got := homeDir(c.env, c.passwd); got != c.want {
			t.Errorf("homeDir(%q, %q) = %q, want %q", c.env, c.passwd, got, c.want)
		}
	}
}
