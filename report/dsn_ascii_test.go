package report

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/ascii-*.eml from the DSNs built now")

// asciiCases are DSNs about all-ASCII mail, one of each shape.
func asciiCases() map[string]struct {
	m    DSN
	orig string
} {
	arrival := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	rcpts := []Recipient{
		{Final: "alice@box.example.org", Original: "root", Action: "failed", Status: "5.4.6",
			Diagnostic: "mail forwarding loop for alice@box.example.org"},
		{Final: "carol@example.net", Action: "failed", Status: "5.1.1",
			Diagnostic: "host smtp.example.net said: 550 5.1.1 <carol@example.net>: Recipient address rejected: " + strings.Repeat("long ", 20) + "(in reply to RCPT TO command)"},
	}
	big := "From: backup@example.org\nTo: x@example.net\nSubject: =?utf-8?q?caf=C3=A9?= big\nDate: Thu, 26 Nov 2026 10:00:00 +0000\nMessage-ID: <big@example.org>\n\n" + strings.Repeat("0123456789abcde\n", 4000)
	return map[string]struct {
		m    DSN
		orig string
	}{
		"whole": {DSN{Host: "box.example.org", QueueID: "4ABC123", Sender: "bob@example.com", Arrival: arrival, Recipients: rcpts}, original},
		"body8bit": {DSN{Host: "box.example.org", QueueID: "4ABC124", Sender: "bob@example.com", Arrival: arrival, EnvID: "ENV-1", Recipients: rcpts[1:]},
			"From: bob@example.com\nTo: carol@example.net\nSubject: 8-bit body\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe\n"},
		"toobig":  {DSN{Host: "box.example.org", QueueID: "4ABC125", Sender: "bob@example.com", Arrival: arrival, Recipients: rcpts}, big},
		"hdrs":    {DSN{Host: "box.example.org", QueueID: "4ABC126", Sender: "bob@example.com", HeadersOnly: true, Recipients: rcpts[:1]}, original},
		"delayed": {DSN{Host: "box.example.org", Sender: "<bob@example.com>", Recipients: []Recipient{{Final: "x@example.net", Action: "delayed", Status: "4.4.1", Diagnostic: "connection refused"}}}, "Subject: x\n"},
	}
}

// normalize replaces what differs from one DSN to the next: the
// boundary, the date and the Message-ID.
func normalize(msg []byte) string {
	s := regexp.MustCompile(`homepost-[0-9a-f]{32}`).ReplaceAllString(string(msg), "homepost-BOUNDARY")
	s = regexp.MustCompile(`(?m)^Date: .*$`).ReplaceAllString(s, "Date: DATE")
	return regexp.MustCompile(`(?m)^Message-ID: .*$`).ReplaceAllString(s, "Message-ID: MSGID")
}

// A DSN about all-ASCII mail is as it was before UTF-8 got its own
// types (RFC 6533): byte for byte, but for its boundary, date and
// Message-ID (testdata/ascii-*.eml, written by the code before). The one
// difference: a text part that quotes an encoded word decoded to UTF-8
// ("café" in the cases that return original) is 8-bit, and says so.
func TestDSNAllASCIIUnchanged(t *testing.T) {
	const text = "Content-Type: text/plain; charset=utf-8\n"
	for name, c := range asciiCases() {
		msg, err := BuildDSN(c.m, strings.NewReader(c.orig))
		if err != nil {
			t.Fatal(err)
		}
		got := normalize(msg)
		if strings.Contains(c.orig, "=?utf-8?q?caf=C3=A9?=") && !*updateGolden {
			eight := text + "Content-Transfer-Encoding: 8bit\n"
			if !strings.Contains(got, eight) {
				t.Errorf("%s: the text part quotes UTF-8 but is not 8bit:\n%s", name, got)
			}
			got = strings.Replace(got, eight, text, 1)
		}
		p := filepath.Join("testdata", "ascii-"+name+".eml")
		if *updateGolden {
			if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s: the DSN changed:\n%s\nwant\n%s", name, got, want)
		}
	}
}
