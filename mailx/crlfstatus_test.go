package mailx

import (
	"os"
	"strings"
	"testing"
)

// A rewrite of an mbox whose lines end in CRLF (one copied from
// Windows, or written by a program that keeps the network's line ends)
// writes the Status fields it adds with CRLF too, not a bare LF among
// CRLF lines.
func TestCRLFMboxStatusKeepsLineEnds(t *testing.T) {
	h := newHome(t)
	box := h.path("box")
	var b strings.Builder
	for i := 1; i <= 3; i++ {
		_, hd, body := testMessage(i)
		b.WriteString("From user@example.org Sat Jan  2 08:00:00 2021\n" + hd + body + "\n")
	}
	crlf := strings.ReplaceAll(b.String(), "\n", "\r\n")
	// The third message already has a Status field, which is replaced.
	crlf = strings.Replace(crlf, "Subject: Subject 3\r\n", "Subject: Subject 3\r\nStatus: O\r\n", 1)
	os.WriteFile(box, []byte(crlf), 0o600)
	o, e, code := h.mail(t, "p 2\nd 1\nq\n", "-f", box)
	if code != 0 {
		t.Fatalf("mail: exit %d\n%s%s", code, o, e)
	}
	got, _ := os.ReadFile(box)
	if !strings.Contains(string(got), "Status: RO\r\n") || !strings.Contains(string(got), "Status: O\r\n") {
		t.Errorf("no Status field with CRLF in the rewritten mbox:\n%q", got)
	}
	for i, l := range strings.SplitAfter(string(got), "\n") {
		if l != "" && !strings.HasSuffix(l, "\r\n") {
			t.Errorf("line %d ends with a bare LF: %q", i+1, l)
		}
	}
}
