package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A syntax error in the line that holds the relay password never shows
// the password: the agent logs reload errors and homepost check prints
// them.
func TestSyntaxErrorHidesPassword(t *testing.T) {
	id := testID(t)
	for _, line := range []string{
		`password = hunter2Secret`,
		`password = hunter Secret`,
		`password = 'hunterSecret'x`,
		`password = "hunterSecret" trailing`,
		`password = """hunterSecret`,
		`password = 'hunter's'`,
		`"password" = hunterSecret`,
	} {
		p := filepath.Join(t.TempDir(), "config.toml")
		os.WriteFile(p, []byte("[relay]\nurl = \"smtps://h:465\"\nusername = \"u\"\n"+line+"\n"), 0o600)
		_, err := LoadFile(p, id)
		if err == nil {
			t.Errorf("%s: loaded", line)
			continue
		}
		if strings.Contains(err.Error(), "hunter") || strings.Contains(err.Error(), "Secret") {
			t.Errorf("%s: the error shows the password: %v", line, err)
		}
		if !strings.Contains(err.Error(), p+":4") {
			t.Errorf("%s: the error does not name file:line: %v", line, err)
		}
	}
	// An inline table too.
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("relay = { url = \"smtps://h:465\", password = hunterSecret }\n"), 0o600)
	if _, err := LoadFile(p, id); err == nil || strings.Contains(err.Error(), "hunter") {
		t.Errorf("inline table: %v", err)
	}
}

// FuzzLoadFile: no config file makes the loader panic; an error names
// the file.
func FuzzLoadFile(f *testing.F) {
	if b, err := os.ReadFile("../config.example.toml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("store = \"mbox:~/mbox\"\n[relay]\nurl = \"smtps://h\"\npassword = \"x\"\n"))
	f.Add([]byte("local_domains = [\"a\", 1]\nmax_queue_lifetime = \"-5d\"\n"))
	f.Add([]byte("[relay\nurl = 5"))
	f.Add([]byte("\ufeffstore = \"mbox:~/mbox\"\n"))
	f.Add([]byte("\xff\xfes\x00=\x001\x00\n\x00"))
	f.Add([]byte("store = \u201c~/Mail/\u201d\n\u00a0x = 1\n"))
	f.Add([]byte("hostname = \"a\xffb\"\n"))
	f.Add([]byte("hostname = \"mail.example.org.\"\nlocal_domains = [\"example.org\", \"LOCALHOST.\"]\n"))
	f.Add([]byte("store = \"mbox:~/Maildir/\"\n[relay]\nfrom = \"Me <me@example.org>\"\n"))
	f.Add([]byte("[relay]\nurl = \"smtp://h\"\n\nstore = \"mbox:~/mbox\"\n[smtp]\nhostname = \"x\"\n"))
	f.Add([]byte("max_queue_lifetime = \"1000000d\"\ncommand_timeout = \"2562048h\"\n"))
	f.Add([]byte("[relay]\nurl = \"smtp://a\"\n[relay]\nfrom = \"a@b\"\n"))
	f.Add([]byte("store = \"a\"\nstore = \"b\"\nrelay = 1\n[relay]\n"))
	f.Add([]byte("[realy]\nurl = \"x\"\nfrom = \"a@b\"\n"))
	f.Add([]byte("state_dir = \"/tmp\"\noutbox = \"/tmp/q\"\n"))
	id := NewIdentity("alice", f.TempDir(), "Alice", 1000)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadFile(p, id)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without an error")
		}
	})
}

// FuzzPasswordNotShown: whatever follows "password =" on its line, an
// error about the file does not repeat it.
func FuzzPasswordNotShown(f *testing.F) {
	f.Add("url = \"smtps://h:465\"", "hunter2Secret")
	f.Add("", "'hunterSecret'x")
	f.Add("username = \"u\"", "\"hunterSecret\" trailing")
	f.Add("", "{ a = hunterSecret }")
	id := NewIdentity("alice", f.TempDir(), "Alice", 1000)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, before, value string) {
		if strings.ContainsAny(value, "\n\r") || strings.ContainsAny(before, "\n\r") {
			return
		}
		// The secret is the longest run of letters and digits in value.
		secret, run := "", ""
		for _, c := range value + " " {
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				run += string(c)
				continue
			}
			if len(run) > len(secret) {
				secret = run
			}
			run = ""
		}
		if len(secret) < 8 || strings.Contains(before, secret) || strings.Contains("relay password config toml", strings.ToLower(secret)) {
			return
		}
		p := filepath.Join(dir, "config.toml")
		os.WriteFile(p, []byte("[relay]\n"+before+"\npassword = "+value+"\n"), 0o600)
		_, err := LoadFile(p, id)
		if err != nil && strings.Contains(strings.TrimPrefix(err.Error(), p), secret) {
			t.Fatalf("the error shows %q: %v", secret, err)
		}
	})
}
