package report

import (
	"strings"
	"testing"
)

// humanText is the DSN's text for people, unfolded into one line.
func humanText(t *testing.T, msg []byte) string {
	t.Helper()
	s := string(msg)
	i := strings.Index(s, "Content-Type: text/plain; charset=utf-8\n")
	j := strings.Index(s, "Content-Description: Delivery report\n")
	if i < 0 || j < i {
		t.Fatalf("no human part:\n%s", s)
	}
	return strings.Join(strings.Fields(s[i:j]), " ")
}

// The text for people names the message that failed (its Subject, Date
// and To, decoded for display), so that the sender can tell which one of
// several it was without opening the returned message; and it does not
// send the sender to postmaster, who on this one-user machine is the
// sender.
func TestHumanPartNamesOriginal(t *testing.T) {
	orig := "From: me@example.org\nTo: r-later-x@test.invalid,\n r-fine@test.invalid\nSubject: E1-expire\nDate: Thu, 03 Dec 2026 12:10:26 +0000\n\nx\n"
	for _, headersOnly := range []bool{false, true} {
		msg, err := BuildDSN(DSN{Host: "vm", QueueID: "661B98495DB423775", Sender: "me@example.org", HeadersOnly: headersOnly, Recipients: []Recipient{
			{Final: "r-later-x@test.invalid", Status: "4.2.0", Diagnostic: "message expired"},
		}}, strings.NewReader(orig))
		if err != nil {
			t.Fatal(err)
		}
		h := humanText(t, msg)
		if !strings.Contains(h, `Your message "E1-expire" of Thu, 03 Dec 2026 12:10:26 +0000 to r-later-x@test.invalid, r-fine@test.invalid could not be delivered`) {
			t.Errorf("human part does not name the message:\n%s", h)
		}
		if strings.Contains(h, "postmaster") {
			t.Errorf("human part sends the user to postmaster:\n%s", h)
		}
	}
	// A delay notice too.
	msg, err := BuildDSN(DSN{Host: "vm", Sender: "me@example.org", Recipients: []Recipient{
		{Final: "r@test.invalid", Action: "delayed", Status: "4.2.0", Diagnostic: "451 later"},
	}}, strings.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	if h := humanText(t, msg); !strings.Contains(h, `Your message "E1-expire" of Thu, 03 Dec 2026 12:10:26 +0000`) {
		t.Errorf("delay notice does not name the message:\n%s", h)
	}
}

// The original's fields are decoded (RFC 2047) for display, and what
// they could hide or inject stays out: line breaks, control characters
// (C0 and C1), bidi controls that would reorder the line; a field too
// long is cut. A message without them is named as such.
func TestHumanPartOriginalSafe(t *testing.T) {
	orig := "Subject: =?utf-8?q?caf=C3=A9_=E2=80=AEevil?= \x1b[31mred\x07\r\n" +
		"To: =?utf-8?b?" + "4oCu" + "?= <a@b.example>\r\n\r\nx\r\n"
	msg, err := BuildDSN(DSN{Host: "vm", Sender: "me@example.org", Recipients: []Recipient{
		{Final: "a@b.example", Status: "5.1.1", Diagnostic: "550 no"},
	}}, strings.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	h := humanText(t, msg)
	if !strings.Contains(h, `"café ?evil ?[31mred?"`) {
		t.Errorf("subject not decoded and cleaned:\n%s", h)
	}
	for _, bad := range []string{"\u202e", "\x1b", "\x07", "\r"} {
		if strings.Contains(h, bad) {
			t.Errorf("human part holds %q:\n%q", bad, h)
		}
	}
	long := "Subject: " + strings.Repeat("long ", 200) + "\n\nx\n"
	msg, err = BuildDSN(DSN{Host: "vm", Sender: "me@example.org", Recipients: []Recipient{
		{Final: "a@b.example", Status: "5.1.1", Diagnostic: "550 no"},
	}}, strings.NewReader(long))
	if err != nil {
		t.Fatal(err)
	}
	if h := humanText(t, msg); len(h) > 900 || !strings.Contains(h, "...") {
		t.Errorf("a long subject is not cut (%d bytes):\n%s", len(h), h)
	}
	msg, err = BuildDSN(DSN{Host: "vm", Sender: "me@example.org", Recipients: []Recipient{
		{Final: "a@b.example", Status: "5.1.1", Diagnostic: "550 no"},
	}}, strings.NewReader("\nno header\n"))
	if err != nil {
		t.Fatal(err)
	}
	if h := humanText(t, msg); !strings.Contains(h, "Your message (no subject) could not be delivered") {
		t.Errorf("a message without Subject:\n%s", h)
	}
}
