package config

import (
	"errors"
	"strings"
	"testing"
)

// local_domains adds to the names that are always local: localhost,
// localhost.localdomain and the host name (with its first label).
// Setting it to the user's own domain must not send mail for
// root@localhost, or for the address homepost writes into From, to the
// smarthost.
func TestLocalDomainsAddToLocalhost(t *testing.T) {
	p, err := load(t, "hostname = \"myhost.example.org\"\nlocal_domains = [\"example.com\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(p, testID(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"localhost", "localhost.localdomain", "LocalHost.", "myhost.example.org", "myhost", "example.com"} {
		if !c.IsLocalDomain(d) {
			t.Errorf("%s is not local with local_domains = [\"example.com\"]", d)
		}
	}
	if c.IsLocalDomain("example.org") {
		t.Errorf("example.org is local")
	}
}

// A host name in its absolute form, with the trailing dot of zone files
// and of some hosts' hostname -f, names the same host: the dot is
// dropped, not written into From, Message-ID and MAIL FROM.
func TestHostnameTrailingDot(t *testing.T) {
	p, err := load(t, "hostname = \"mail.example.org.\"\n")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := LoadFile(p, testID(t))
	if c.Hostname != "mail.example.org" {
		t.Errorf("hostname %q, want mail.example.org", c.Hostname)
	}
	if _, err := load(t, "hostname = \"mail.example.org..\"\n"); err == nil {
		t.Errorf("two trailing dots accepted")
	}
	if _, err := load(t, "hostname = \".\"\n"); err == nil {
		t.Errorf("a lone dot accepted")
	}
}

// The mistakes whose message said something else than what is wrong:
// each names its line and says what to write.
func TestMistakesSayWhatToWrite(t *testing.T) {
	for _, tc := range []struct {
		body string
		line int
		want []string
	}{
		// An mbox path ending in / is a directory's.
		{"store = \"mbox:~/Maildir/\"\n", 1, []string{"store: an mbox path cannot end in /; for a Maildir write store = \"~/Maildir/\""}},
		// from is an envelope address.
		{"[relay]\nurl = \"smtp://h\"\nfrom = \"Me <me@example.org>\"\n", 3, []string{"relay.from:", "envelope address", "no display name", "from = \"me@example.org\""}},
		// A top-level key under a table.
		{"[relay]\nurl = \"smtp://h\"\n\nstore = \"mbox:~/mbox\"\n", 4, []string{"relay.store: unknown key: store is a top-level key: move it above [relay] (line 1)"}},
		{"url = \"smtp://h\"\n", 1, []string{"url: unknown key: url is a key of [relay]: write it below [relay]"}},
		{"[smtp]\nurl = \"smtp://h\"\n", 2, []string{"smtp.url: unknown key: url is a key of [relay]"}},
		// A duration too long for the clock is not "negative".
		{"max_queue_lifetime = \"1000000d\"\n", 1, []string{"max_queue_lifetime:", "too long (at most 106751 days)"}},
		{"max_queue_lifetime = \"9999999999999d\"\n", 1, []string{"too long (at most 106751 days)"}},
		{"[relay]\nconnect_timeout = \"2562048h\"\n", 2, []string{"too long"}},
		// The TOML library's words, in the project's style.
		{"[relay]\nurl = \"smtp://a\"\n[relay]\nfrom = \"a@b\"\n", 3, []string{"relay: [relay] is written twice (first at line 1): write its keys under one [relay]"}},
		{"store = \"~/a/\"\nstore = \"~/b/\"\n", 2, []string{"store: set twice (first at line 1): keep one"}},
		{"[relay]\nurl=\"smtp://a\"\nurl=\"smtp://b\"\n", 3, []string{"relay.url: set twice (first at line 2): keep one"}},
	} {
		p, err := load(t, tc.body)
		var ce *Error
		if !errors.As(err, &ce) || ce.Line != tc.line {
			t.Errorf("%q: %v, want an error at line %d", tc.body, err, tc.line)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v\nwant %q", tc.body, err, w)
			}
		}
		if !strings.HasPrefix(err.Error(), p+":") || strings.Contains(err.Error(), "Key '") {
			t.Errorf("%q: not in the project's style: %v", tc.body, err)
		}
	}
	// A misspelt table is one error, not one more for each of its keys.
	if _, err := load(t, "[realy]\nurl = \"x\"\nfrom = \"a@b\"\n"); err == nil || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("[realy]: %v", err)
	}
}
