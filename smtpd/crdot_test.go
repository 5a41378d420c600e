package smtpd

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A bare CR at the end of a message's last line ("text\r\r\n.\r\n")
// still ends the message at ".\r\n": the line before the dot ends with
// CR LF, as RFC 5321 asks. A client that turns LF into CR LF in text
// that already had CR LF sends just that. The message keeps its bare
// CR, and a CR after a line's leading dot (unstuffed) is kept too.
func TestBareCRBeforeEndOfData(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.c.SetDeadline(time.Now().Add(5 * time.Second))
	d.cmd("EHLO c", "250")
	for _, m := range []struct{ sent, stored string }{
		{"Subject: one\r\n\r\nends in a bare CR\r\r\n.\r\n", "ends in a bare CR\r\n"},
		{"Subject: two\r\n\r\n.\rdot and CR\r\nend\r\n.\r\n", "\rdot and CR\nend\n"},
		{"Subject: three\r\n\r\n.\r\r\n.\r\n", "\r\n"},
		{"Subject: four\r\n\r\nCRs\r\r\r\n.\r\n", "CRs\r\r\n"},
	} {
		d.cmd("MAIL FROM:<a@b>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		d.cmd("DATA", "354")
		d.send(m.sent)
		d.expect("250 2.0.0 Ok: queued as ")
		d.cmd("NOOP", "250")
		found := false
		for _, q := range queued(t, ts.cfg) {
			b := body(t, q)
			if strings.Contains(b, "Subject: "+strings.Fields(m.sent)[1]+"\n") {
				found = true
				if !strings.HasSuffix(b, "\n\n"+m.stored) {
					t.Errorf("sent %q, stored %q, want it to end in %q", m.sent, b, "\n\n"+m.stored)
				}
			}
		}
		if !found {
			t.Errorf("sent %q: not queued", m.sent)
		}
	}
}
