package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file that does not load still tells where the queue is: the outbox
// and state directory it sets, else the defaults.
func TestFallbackReadsTheOutbox(t *testing.T) {
	id := testID(t)
	home := id.Home()
	t.Setenv("XDG_STATE_HOME", "")
	for _, tc := range []struct {
		name, text      string
		outbox, state   string
		host            string
		withoutAgentOff bool
	}{
		{"unknown key in a table", "hostname = \"box.example\"\n[relay]\ntimeout = \"5s\"\n",
			home + "/.local/state/homepost/outbox", home + "/.local/state/homepost", "box.example", false},
		{"outbox kept", "outbox = \"~/queue\"\nbogus = 1\n", home + "/queue", home + "/.local/state/homepost", "", false},
		{"state_dir kept", "state_dir = '/var/tmp/hp' # mine\ndeliver_without_agent = false\n[relay\n",
			"/var/tmp/hp/outbox", "/var/tmp/hp", "", true},
		{"syntax error elsewhere", "store = \"~/Mail\nhostname = \"h.example\"\noutbox = \"/q\"\n", "/q", home + "/.local/state/homepost", "h.example", false},
		{"outbox in a table is not the outbox", "[relay]\noutbox = \"/nope\"\nx\n", home + "/.local/state/homepost/outbox", home + "/.local/state/homepost", "", false},
	} {
		p := filepath.Join(t.TempDir(), "config.toml")
		os.WriteFile(p, []byte(tc.text), 0o600)
		if _, err := LoadFile(p, id); err == nil {
			t.Fatalf("%s: the file loads", tc.name)
		}
		c, err := Fallback(p, id)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.Outbox != tc.outbox || c.StateDir != tc.state {
			t.Errorf("%s: outbox %s state %s, want %s %s", tc.name, c.Outbox, c.StateDir, tc.outbox, tc.state)
		}
		if tc.host != "" && c.Hostname != tc.host {
			t.Errorf("%s: hostname %q", tc.name, c.Hostname)
		}
		if c.DeliverWithoutAgent == tc.withoutAgentOff {
			t.Errorf("%s: deliver_without_agent %v", tc.name, c.DeliverWithoutAgent)
		}
	}
}

// When the line that places the queue cannot be read, the outbox is
// unknown: the error names that line.
func TestFallbackRefusesAnUnknownOutbox(t *testing.T) {
	id := testID(t)
	for _, tc := range []struct{ text, where string }{
		{"x = 1\noutbox = \"~/q\n", ":2: outbox:"},
		{"outbox = 5\n", ":1: outbox:"},
		{"state_dir = \"relative\"\n", ":1: state_dir:"},
		{"outbox = \"/a\"\noutbox = \"/b\"\n", ":2: outbox:"},
	} {
		p := filepath.Join(t.TempDir(), "config.toml")
		os.WriteFile(p, []byte(tc.text), 0o600)
		_, err := Fallback(p, id)
		if err == nil || !strings.Contains(err.Error(), p+tc.where) || !strings.Contains(err.Error(), "outbox is unknown") {
			t.Errorf("%q: %v", tc.text, err)
		}
	}
}

// LoadQueue returns the fallback beside the file's own error; a password
// in a file others can read is such an error too.
func TestLoadQueue(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "")
	p := filepath.Join(home, "hp.toml")
	t.Setenv("HOMEPOST_CONFIG", p)
	os.WriteFile(p, []byte("outbox = \"~/q\"\n[relay]\nurl = \"smtp://h:25\"\npassword = \"pw\"\n"), 0o644)
	os.Chmod(p, 0o644)
	c, err := LoadQueue()
	if err == nil || c == nil || !strings.Contains(err.Error(), p+":4: relay.password") {
		t.Fatalf("%v %v", c, err)
	}
	if c.Outbox != filepath.Join(home, "q") {
		t.Errorf("outbox %s", c.Outbox)
	}
	if strings.Contains(err.Error(), "pw\"") {
		t.Errorf("the password is shown: %v", err)
	}
	os.Chmod(p, 0o600)
	c, err = LoadQueue()
	if err != nil || c.Relay.Password != "pw" {
		t.Fatalf("a good file: %v %v", c, err)
	}
	// HOMEPOST_CONFIG naming a missing file: the defaults, marked.
	t.Setenv("HOMEPOST_CONFIG", filepath.Join(home, "missing.toml"))
	c, err = LoadQueue()
	if err == nil || c == nil || c.Outbox != filepath.Join(home, ".local/state/homepost/outbox") {
		t.Fatalf("missing file: %v %v", c, err)
	}
}

// FuzzFallback: whatever a file holds, Fallback does not panic, and a
// configuration it returns has an absolute outbox that others cannot
// change.
func FuzzFallback(f *testing.F) {
	f.Add([]byte("outbox = \"~/q\"\n[relay]\ntimeout = 1\n"))
	f.Add([]byte("state_dir = '''x\noutbox = \"/a\" # c\n\"outbox\" = \"/b\"\n"))
	f.Add([]byte("deliver_without_agent = yes\nhostname = \"a b\"\n"))
	f.Add([]byte("\ufeffoutbox = \"/q\"\nstroe = 1\n"))
	f.Add([]byte("\ufeff\ufeffstate_dir = \"/s\"\n"))
	f.Add([]byte("state_dir = \"/tmp\"\nstroe = 1\n"))
	f.Add([]byte("outbox = \"/tmp/q\"\nhostname = \"mail.example.org.\"\nstore = \"mbox:~/Maildir/\"\n"))
	id := NewIdentity("alice", f.TempDir(), "Alice", 1000)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Fallback(p, id)
		if err == nil && (!filepath.IsAbs(c.Outbox) || !filepath.IsAbs(c.StateDir)) {
			t.Fatalf("outbox %q state %q", c.Outbox, c.StateDir)
		}
		if err == nil && c.CheckQueue() != nil {
			t.Fatalf("an outbox that others can change: %v", c.CheckQueue())
		}
	})
}
