package smtpd

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// A client that resets in the middle of a BDAT transfer and begins
// another on the same connection gets the reply of its new message, not
// the end of the old one. go-smtp runs a transfer's Data in a goroutine
// that sent its result to the connection's current result channel (it
// sends it to the transfer's own in third_party/go-smtp): the transfer
// cut off by RSET sent its "aborted" into the channel of the transfer
// begun after it, whose message was then queued but answered 451, and
// the client, told to try again, sent it twice.
func TestResetInBDATAnswersTheNewMessage(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	const rounds = 200
	msg := "Subject: after reset\r\n\r\nbody\r\n"
	answered := 0
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO client.example", "250")
	for k := range rounds {
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

// A session may cut off any number of transfers by RSET: none of them
// waits for anything once it has seen the reset (a transfer's Data
// returns, and its goroutine ends), and the session goes on to queue
// its next message.
func TestResetInBDATManyInOneSession(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO client.example", "250")
	const cut = 128
	for k := range cut {
		d.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\nBDAT 5\r\nfirstRSET\r\n")
		for range 4 {
			if r := d.reply(); !strings.HasPrefix(r, "250") {
				t.Fatalf("transfer %d: %q", k, r)
			}
		}
	}
	busy := true
	for end := time.Now().Add(5 * time.Second); busy && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
		busy = ts.s.be.busy()
	}
	if busy {
		t.Errorf("%d transfers cut off by RSET, and Data still runs 5s on, the session open", cut)
	}
	msg := "Subject: after resets\r\n\r\nbody\r\n"
	d.send(fmt.Sprintf("MAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\nBDAT %d LAST\r\n%s", len(msg), msg))
	d.expect("250")
	d.expect("250")
	d.expect("250 2.0.0")
	d.cmd("QUIT", "221")
	q := queued(t, ts.cfg)
	for _, m := range q {
		m.Close()
	}
	if len(q) != 1 {
		t.Errorf("%d messages queued, 1 sent whole after %d cut off", len(q), cut)
	}
}

// A transfer cut off by RSET does not end the transaction begun after
// it: its Data, which runs beside the session and returns once it sees
// the reset, leaves the transaction to the reset, and Receiving stays
// true until the new message is queued. (The cut-off transfer's Data
// returned after the next MAIL often, before go-smtp's reset waited for
// it: a few rounds showed it.)
func TestResetInBDATKeepsNextTransactionOpen(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO client.example", "250")
	msg := "Subject: after reset\r\n\r\nbody\r\n"
	for k := range 20 {
		d.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\nBDAT 5\r\nfirst")
		d.expect("250")
		d.expect("250")
		d.expect("250")
		d.send("RSET\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<me@testhost.example>\r\n")
		d.expect("250") // RSET
		d.expect("250") // MAIL
		d.expect("250") // RCPT
		// The cut-off transfer's Data returns meanwhile.
		for end := time.Now().Add(time.Second); ts.s.be.busy() && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		if !Receiving() {
			t.Fatalf("round %d: a transaction is open, after a transfer cut off by RSET: Receiving() = false", k)
		}
		d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(msg), msg))
		d.expect("250 2.0.0")
		if Receiving() {
			t.Fatalf("round %d: the message is queued: Receiving() = true", k)
		}
	}
	d.cmd("QUIT", "221")
}
