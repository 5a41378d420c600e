package smtpd

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// A client that resets in the middle of a BDAT transfer and begins
// another on the same connection gets the reply of its new message, not
// the end of the old one. go-smtp runs a transfer's Data in a goroutine
// that sends its result to the connection's current result channel: the
// transfer cut off by RSET sent its "aborted" into the channel of the
// transfer begun after it, whose message was then queued but answered
// 451, and the client, told to try again, sent it twice.
func TestResetInBDATAnswersTheNewMessage(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	const rounds = 200
	msg := "Subject: after reset\r\n\r\nbody\r\n"
	answered := 0
	var d *dialog
	for k := range rounds {
		if k%(maxParked/2) == 0 {
			// A session may leave maxParked transfers cut off.
			if d != nil {
				d.cmd("QUIT", "221")
			}
			d = dial(t, "unix", ts.unix)
			d.cmd("EHLO client.example", "250")
		}
		// The old transfer: a first chunk, then RSET and the new
		// transaction in one write, as a pipelining client sends them.
		d.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\nBDAT 5\r\nfirst")
		d.expect("250")
		d.expect("250")
		d.expect("250")
		d.send(fmt.Sprintf("RSET\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\nBDAT %d LAST\r\n%s", len(msg), msg))
		d.expect("250") // RSET
		d.expect("250") // MAIL
		d.expect("250") // RCPT
		if r := d.reply(); strings.HasPrefix(r, "250") {
			answered++
		} else {
			t.Logf("round %d: the new message got %q", k, r)
		}
	}
	d.cmd("QUIT", "221")
	q := queued(t, ts.cfg)
	for _, m := range q {
		m.Close()
	}
	if len(q) != answered || answered != rounds {
		t.Errorf("%d messages queued, %d answered 250, of %d sent", len(q), answered, rounds)
	}
}

// Transfers cut off by RSET wait for their session's end; a client that
// leaves more than maxParked of them has its session ended, so that
// they cannot pile up.
func TestResetInBDATBounded(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO client.example", "250")
	for k := 0; k < 4*maxParked; k++ {
		if _, err := d.c.Write([]byte("MAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\nBDAT 5\r\nfirstRSET\r\n")); err != nil {
			return // the session was ended
		}
		for range 4 {
			line, err := d.r.ReadString('\n')
			if err != nil {
				if k < maxParked {
					t.Fatalf("session ended after %d cut-off transfers, before %d", k, maxParked)
				}
				return
			}
			if !strings.HasPrefix(line, "250") {
				t.Fatalf("transfer %d: %q", k, line)
			}
		}
	}
	t.Errorf("%d transfers cut off by RSET, and the session goes on", 4*maxParked)
}
