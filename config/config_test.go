package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"homepost/settings"
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
	defer func(old string) { settings.MailnameFile = old }(settings.MailnameFile)
	settings.MailnameFile = p
	c := Defaults(testID(t))
	if !c.IsLocalDomain("mail.example.org") || !c.IsLocalDomain("localhost") || c.IsLocalDomain("example.org") {
		t.Errorf("local domains: %v", c.LocalDomains)
	}
}

// [smtp] listen takes loopback addresses only; anything else is an error
// at the line that sets it, as are bad sizes.
func TestSMTPListenLoopbackOnly(t *testing.T) {
	id := testID(t)
	for _, c := range []struct {
		body, key string
		line      int
		ok        bool
	}{
		{"[smtp]\nlisten = [\"127.0.0.1:2525\", \"[::1]:2525\", \"localhost:25\"]\nmax_message_size = \"10M\"\n", "", 0, true},
		{"[smtp]\nmax_message_size = 1000\n", "", 0, true},
		{"store = \"~/Maildir/\"\n[smtp]\n\nlisten = [\"0.0.0.0:2525\"]\n", "smtp.listen", 4, false},
		{"[smtp]\nlisten = [\"127.0.0.1:2525\", \"192.168.1.2:25\"]\n", "smtp.listen", 2, false},
		{"[smtp]\nlisten = [\":2525\"]\n", "smtp.listen", 2, false},
		{"[smtp]\nlisten = [\"127.0.0.1\"]\n", "smtp.listen", 2, false},
		{"[smtp]\nlisten = [\"127.0.0.1:99999\"]\n", "smtp.listen", 2, false},
		{"[smtp]\nenabled = true\nmax_message_size = \"lots\"\n", "smtp.max_message_size", 3, false},
		{"[smtp]\nmax_sessions = 0\n", "smtp.max_sessions", 2, false},
		{"[smtp]\nsocket = \"relative/smtp\"\n", "smtp.socket", 2, false},
	} {
		p := filepath.Join(t.TempDir(), "config.toml")
		os.WriteFile(p, []byte(c.body), 0o600)
		cfg, err := LoadFile(p, id)
		if c.ok {
			if err != nil {
				t.Errorf("%q: %v", c.body, err)
			} else if cfg.SMTP.MaxMessageSize != 10<<20 && cfg.SMTP.MaxMessageSize != 1000 {
				t.Errorf("%q: max_message_size %d", c.body, cfg.SMTP.MaxMessageSize)
			}
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v is not a config error", c.body, err)
			continue
		}
		if ce.Key != c.key || ce.Line != c.line {
			t.Errorf("%q: error at %s line %d, want %s line %d: %v", c.body, ce.Key, ce.Line, c.key, c.line, err)
		}
	}
}

// The socket is in the runtime directory when there is one, else in the
// state directory; the secret is in the config directory.
func TestSMTPPaths(t *testing.T) {
	id := testID(t)
	rt := t.TempDir()
	os.Chmod(rt, 0o700) // the user's, mode 0700: a runtime directory
	t.Setenv("XDG_RUNTIME_DIR", rt)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	c := Defaults(id)
	if c.SMTP.Socket != rt+"/homepost/smtp" {
		t.Errorf("socket %s", c.SMTP.Socket)
	}
	if want := filepath.Join(c.Home, ".config/homepost/smtp-secret"); c.SMTP.SecretFile != want {
		t.Errorf("secret %s, want %s", c.SMTP.SecretFile, want)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	c = Defaults(id)
	if want := filepath.Join(c.Home, ".local/state/homepost/smtp"); c.SMTP.Socket != want {
		t.Errorf("socket without runtime dir %s, want %s", c.SMTP.Socket, want)
	}
}
