package smtpd

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A client that ends its lines with a bare LF (a script writing to the
// socket with printf, nc or bash's /dev/tcp) is read as sendmail -bs
// reads one, and as Postfix reads a client of its own network: each
// bare LF as CR LF, so that ".\n" alone on a line ends the message
// (the listener waited for "\r\n.\r\n" until idle_timeout, then dropped
// the message with 421) and a leading dot is unstuffed. What is stored
// is the same as for CR LF: a bare LF in a message was stored as LF
// before, and CR LF is stored as LF.
func TestBareLFClient(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.c.SetDeadline(time.Now().Add(5 * time.Second))
	d.send("EHLO c\n")
	d.expect("250")
	d.send("MAIL FROM:<a@b>\nRCPT TO:<me@testhost.example>\nDATA\n")
	d.expect("250")
	d.expect("250")
	d.expect("354")
	d.send("Subject: bare LF\n\nline one\n..dot line\nCR LF line\r\n.\n")
	d.expect("250 2.0.0 Ok: queued as ")
	d.send("NOOP\n")
	d.expect("250")
	found := false
	for _, q := range queued(t, ts.cfg) {
		b := body(t, q)
		if strings.Contains(b, "Subject: bare LF\n") {
			found = true
			if want := "\n\nline one\n.dot line\nCR LF line\n"; !strings.HasSuffix(b, want) {
				t.Errorf("stored %q, want it to end in %q", b, want)
			}
		}
	}
	if !found {
		t.Error("the message is not queued")
	}
}
