package smtpd

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A second MAIL in an open transaction is refused with 503 (RFC 5321
// 4.1.4; Postfix: "nested MAIL command"), and the transaction goes on
// with its own sender and recipients: taken, the new sender's message
// went to the recipients given for the first.
func TestNestedMailRefused(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.c.SetDeadline(time.Now().Add(5 * time.Second))
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<first@example.org>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("MAIL FROM:<second@example.org>", "503 5.5.1")
	d.cmd("DATA", "354")
	d.send("Subject: nested\r\n\r\nbody\r\n.\r\n")
	d.expect("250 2.0.0 Ok: queued as ")
	// After the message, a new transaction begins as usual.
	d.cmd("MAIL FROM:<second@example.org>", "250")
	d.cmd("RSET", "250")
	d.cmd("QUIT", "221")
	q := queued(t, ts.cfg)
	if len(q) != 1 {
		t.Fatalf("%d queued", len(q))
	}
	for _, m := range q {
		if m.Env.Sender != "first@example.org" || len(m.Env.Rcpts) != 1 {
			t.Errorf("envelope %+v", m.Env)
		}
		if !strings.Contains(body(t, m), "Subject: nested") {
			t.Errorf("body %q", body(t, m))
		}
	}
}
