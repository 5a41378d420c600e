package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T, body string) (string, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(p, testID(t))
	return p, err
}

// Keys are case-sensitive, as the documentation writes them; the TOML
// decoder alone would take Store for store.
func TestKeysAreCaseSensitive(t *testing.T) {
	for _, tc := range []struct {
		body, want string
	}{
		{"Store = \"~/Mail/\"\n", ":1: Store: unknown key: keys are case-sensitive; write store"},
		{"hostname = \"h\"\n[Relay]\nurl = \"smtps://h\"\n", ":2: Relay: unknown key: keys are case-sensitive; write relay"},
		{"[relay]\nURL = \"smtps://h\"\n", ":2: relay.URL: unknown key: keys are case-sensitive; write relay.url"},
	} {
		p, err := load(t, tc.body)
		if err == nil || err.Error() != p+tc.want {
			t.Errorf("%q: got %v, want %s%s", tc.body, err, p, tc.want)
		}
	}
}

// Every error of the file is shown, each with file:line, in the order
// of the lines.
func TestEveryError(t *testing.T) {
	body := `store = 5
stroe = "x"
other_users = "everyone"
max_queue_lifetime = "soon"
Hostname = "h"
[relay]
url = "smtps//smtp.example.com"
from = "alice"
[smtp]
max_sessions = "many"
`
	p, err := load(t, body)
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want every error", err)
	}
	want := []string{
		":1: store: ",
		":2: stroe: unknown key",
		":3: other_users: ",
		":4: max_queue_lifetime: ",
		":5: Hostname: unknown key",
		":7: relay.url: \"smtps//smtp.example.com\" is not a relay URL",
		":8: relay.from: ",
		":10: smtp.max_sessions: ",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], p+w) {
			t.Errorf("error %d: %q, want it to start with %q", i+1, lines[i], p+w)
		}
	}
	// errors.As still finds the first one.
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 1 || ce.Key != "store" {
		t.Errorf("first error %+v", ce)
	}
}

// A relay url that cannot work is an error when the file is read, with
// its line.
func TestRelayURLAtLoad(t *testing.T) {
	for _, u := range []string{"smtps//host", "smtps:/host", "http://host", "smtps://host:0", "smtps://host/path", "smtp://192.0.2.1:25", "exec:sendmail"} {
		p, err := load(t, "# relay\n[relay]\nurl = \""+u+"\"\n")
		if err == nil || !strings.HasPrefix(err.Error(), p+":3: relay.url: ") {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := load(t, "[relay]\nurl = \"smtp://mail.example.com:25\"\n"); err != nil {
		t.Errorf("plain smtp to a name: %v (check warns; delivery checks the address)", err)
	}
}

// Values that read well as TOML but would break mail: a host name with a
// space (in every address, Message-ID and Maildir name), an outbox that
// is the store (the agent would take delivered mail for queue files and
// move it to corrupt/), a negative duration named as written.
func TestValuesThatBreakMail(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"hostname = \"bad host\"\n", `:1: hostname: "bad host" is not a host name`},
		{"hostname = \"me@host\"\n", `:1: hostname: "me@host" is not a host name`},
		{"hostname = \"-bad-\"\n", `:1: hostname: "-bad-" is not a host name`},
		{"outbox = \"~/Maildir\"\n", `:1: outbox: `},
		{"outbox = \"~/Maildir/queue\"\n", `:1: outbox: `},
		{"store = \"mbox:~/q/mbox\"\noutbox = \"~/q\"\n", `:2: outbox: `},
		{"max_queue_lifetime = \"-5d\"\n", `:1: max_queue_lifetime: negative duration "-5d"`},
	} {
		p, err := load(t, tc.body)
		if err == nil || !strings.HasPrefix(err.Error(), p+tc.want) {
			t.Errorf("%q: got %v, want %s%s", tc.body, err, p, tc.want)
		}
	}
	for _, ok := range []string{"hostname = \"mail-1.example.org\"\n", "hostname = \"my_host\"\n", "outbox = \"~/Maildir-queue\"\n"} {
		if _, err := load(t, ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// A key that is missing is blamed on the line of the key that needs it.
func TestMissingKeyLine(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"hostname = \"h\"\nother_users = \"relay\"\n", ":2: relay_domain: "},
		{"[relay]\nurl = \"smtps://smtp.example.com\"\nusername = \"me\"\n", ":3: relay."},
	} {
		p, err := load(t, tc.body)
		if err == nil || !strings.HasPrefix(err.Error(), p+tc.want) {
			t.Errorf("%q: got %v, want %s%s", tc.body, err, p, tc.want)
		}
	}
}

// A value of the wrong kind is told in the words of the file, not Go's
// type names ("destination has type slice").
func TestTypeErrorsInPlainWords(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"[smtp]\nlisten = \"127.0.0.1:2525\"\n", `:2: smtp.listen: must be a list (as ["...", "..."]), not a string`},
		{"store = 5\n", `:1: store: must be a string (as "..."), not a number`},
		{"[smtp]\nmax_sessions = \"many\"\n", `:2: smtp.max_sessions: must be a number (as 25), not a string`},
		// A table's name given a value: the decoder words it otherwise
		// ("type mismatch for settings.Relay: expected table but found
		// int64").
		{"relay = 1\n", `:1: relay: must be a table (as [relay] on a line of its own), not a number`},
		{"smtp = \"127.0.0.1:2525\"\n", `:1: smtp: must be a table (as [smtp] on a line of its own), not a string`},
	} {
		p, err := load(t, tc.body)
		if err == nil || err.Error() != p+tc.want {
			t.Errorf("%q: got %v, want %s%s", tc.body, err, p, tc.want)
		}
	}
}
