package smtpd

import (
	"os"
	"strings"
	"testing"
)

// A message line longer than the limit on a command line (maxLine) is
// taken in DATA, as sendmail, sendmail -bs and BDAT take it, byte for
// byte, in a header field as in the body; the session goes on. A
// command line that long still ends the session.
func TestLongLineInData(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	long := strings.Repeat("b", maxLine+100)
	for _, msg := range []string{
		"Subject: long body\r\n\r\n" + long + "\r\nend\r\n",
		"Subject: long header " + long + "\r\n\r\nbody\r\n",
	} {
		d.cmd("MAIL FROM:<a@b>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		d.cmd("DATA", "354")
		d.send(msg + ".\r\n")
		d.expect("250 2.0.0 Ok: queued as ")
		d.cmd("NOOP", "250")
	}
	q := queued(t, ts.cfg)
	if len(q) != 2 {
		t.Fatalf("%d queued, want 2", len(q))
	}
	for _, m := range q {
		if b := body(t, m); !strings.Contains(b, long+"\n") {
			t.Errorf("the long line was not kept whole (%d bytes stored)", len(b))
		}
	}
	d.send("NOOP " + long + "\r\n")
	if r := d.reply(); !strings.HasPrefix(r, "500 5.5.2") {
		t.Errorf("a command line of %d bytes: %q, want 500 5.5.2", len(long), r)
	}
}
