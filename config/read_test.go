package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"homepost/settings"
)

// readSeeds are files that settings.Read reads itself, and some that it
// must leave to LoadFile.
var readSeeds = []string{
	"\r",                 // a CR not before an LF: TOML refuses it
	"hostname = \"h\"\r", // the same at the end of a line
	"deliver_without_agent = false\nhostname = \"testhost.example\"\nsystem_aliases = \"\"\n",
	"# comment\n\nstore = 'mbox:~/mbox' # trailing\nother_users = \"bounce\"\r\n",
	"[relay]\nurl = \"smtps://h:465\"\nusername = \"u\"\npassword_command = \"pass x\"\nconnect_timeout = \"10s\"\n[smtp]\nenabled = false\nmax_sessions = 4\nmax_message_size = \"10M\"\n",
	"[smtp]\nmax_message_size = 1000\nidle_timeout = \"1d2h\"\n",
	"max_queue_lifetime = \"2d\"\ncommand_timeout = \"90s\"\nrecipient_delimiter = \"-\"\n",
	"hostname = \"a\"\nhostname = \"b\"\n",
	"Hostname = \"x\"\n",
	"hostname = \"x\\ty\"\n",
	"local_domains = [\"a\"]\n",
	"relay.url = \"smtp://x\"\n",
	"[relay]\n[relay]\n",
	"other_users = \"everyone\"\n",
	"[smtp]\nmax_sessions = 0\n",
	"max_queue_lifetime = 5\n",
	"deliver_without_agent = \"no\"\n",
	"outbox = \"relative\"\n",
	"hostname = \"x\"#c\nstate_dir = \"~/st\"\t# c\n",
	"[relay]\npassword = \"secret\"\n",
	"hostname = 'it''s'\n",
	"hostname = \"\"\"x\"\"\"\n",
	"\ufeffhostname = \"x\"\n",
	"\ufeff\ufeffhostname = \"x\"\n",
	"\ufeff[smtp]\nenabled = false\n",
	"hostname = \"mail.example.org.\"\n",
	"hostname = \"mail.example.org..\"\n",
	"store = \"mbox:~/Maildir/\"\n",
	"max_queue_lifetime = \"1000000d\"\n",
	"max_queue_lifetime = \"9999999999999d\"\n",
	"[relay]\nconnect_timeout = \"2562048h\"\n",
	"[relay]\nurl = \"smtp://h\"\nfrom = \"Me <me@example.org>\"\n",
	"[relay]\nurl = \"smtp://h\"\n\nstore = \"mbox:~/mbox\"\n",
	"state_dir = \"/tmp\"\n",
	"outbox = \"/tmp/q\"\n",
	"[ smtp ] # the listener\nenabled = true\n",
	"[[smtp]]\n",
	"max_queue_lifetime = \"5d\" x\n",
	"deliver_without_agent = truex\n",
	"[smtp]\nmax_sessions = 08\n",
}

// TestReadIsLoadFile: every seed that settings.ReadFile reads gives
// exactly LoadFile's configuration.
func TestReadIsLoadFile(t *testing.T) {
	simple := 0
	for _, s := range readSeeds {
		if checkRead(t, []byte(s)) {
			simple++
		}
	}
	if simple < 6 {
		t.Errorf("settings.ReadFile read only %d of the seeds itself", simple)
	}
}

func checkRead(t *testing.T, data []byte) (simple bool) {
	t.Helper()
	id := NewIdentity("alice", "/home/alice", "Alice", 1000)
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := settings.ReadFile(p, id)
	if errors.Is(err, settings.ErrNotSimple) {
		return false
	}
	want, werr := LoadFile(p, id)
	if err != nil || werr != nil {
		t.Fatalf("%q: settings.ReadFile: %v; LoadFile: %v", data, err, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nsettings.ReadFile %+v\nLoadFile          %+v", data, got, want)
	}
	return true
}

// FuzzReadIsLoadFile: whatever file settings.ReadFile reads itself,
// LoadFile reads it alike.
func FuzzReadIsLoadFile(f *testing.F) {
	for _, s := range readSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkRead(t, data) })
}
