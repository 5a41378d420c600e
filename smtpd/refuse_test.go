package smtpd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/config"
)

// A message over max_message_size is refused with a reply that names
// the limit and its key, at MAIL (SIZE), at the end of DATA and in BDAT;
// each refusal is logged with the client, its uid, the sender, the
// number of recipients and the reply, as Postfix's "NOQUEUE: reject".
func TestSizeRefusalNamedAndLogged(t *testing.T) {
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.MaxMessageSize = 4096 })
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	const want = "552 5.3.4 message larger than the 4 KiB [smtp] max_message_size"
	if r := d.cmd("MAIL FROM:<big@example.org> SIZE=5000", "552"); r != want {
		t.Errorf("MAIL with SIZE=5000: %q, want %q", r, want)
	}
	big := msgOf(5000)
	for _, bdat := range []bool{false, true} {
		d.cmd("MAIL FROM:<big@example.org>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		d.cmd("RCPT TO:<you@testhost.example>", "250")
		if bdat {
			d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(big), big))
		} else {
			d.cmd("DATA", "354")
			d.send(big + ".\r\n")
		}
		if r := d.reply(); r != want {
			t.Errorf("%d bytes (BDAT %v): %q, want %q", len(big), bdat, r, want)
		}
		d.cmd("RSET", "250")
	}
	d.cmd("NOOP", "250")
	log := ts.log.String()
	lines := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "smtp: message refused") {
			lines++
			for _, w := range []string{"level=WARN", "peer=127.0.0.1:", fmt.Sprintf("peer_uid=%d", os.Getuid()), "from=big@example.org", `reply="` + want + `"`} {
				if !strings.Contains(l, w) {
					t.Errorf("log line lacks %s:\n%s", w, l)
				}
			}
		}
	}
	if lines != 3 || !strings.Contains(log, "nrcpt=2") {
		t.Errorf("%d refusals logged, want 3 (two with nrcpt=2):\n%s", lines, log)
	}
}

// A message the listener cannot queue (the outbox cannot be written) is
// answered 451 and logged as an error: it refuses every message.
func TestCannotQueueLogged(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	newDir := filepath.Join(ts.cfg.Outbox, "new")
	os.RemoveAll(newDir)
	os.MkdirAll(ts.cfg.Outbox, 0o700)
	if err := os.WriteFile(newDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: x\r\n\r\nx\r\n.\r\n")
	d.expect("451 4.3.0")
	if l := ts.log.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "cannot queue") || !strings.Contains(l, "from=a@example.org") {
		t.Errorf("not logged as an error:\n%s", l)
	}
}

// A client set to TLS on the plain port (its first bytes a TLS
// ClientHello) is closed at once and the log says what to set.
func TestTLSClientLogged(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "tcp", ts.tcp)
	d.send("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")
	d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(d.r); err != nil {
		t.Errorf("the session was not closed: %v", err)
	}
	if l := ts.log.String(); !strings.Contains(l, "the client speaks TLS: set it to no encryption (plain SMTP)") || !strings.Contains(l, "peer=127.0.0.1:") {
		t.Errorf("log:\n%s", l)
	}
}

// A client silent within DATA past idle_timeout is told so in words
// (not Go's error text) and the session ends; one silent between
// commands is told the same of a command.
func TestTimeoutReplies(t *testing.T) {
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.IdleTimeout.Duration = 300 * time.Millisecond })
	d := dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<a@b>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: stalls\r\n")
	if r := d.reply(); r != "421 4.4.2 timeout: no data for 300ms: nothing queued, closing" {
		t.Errorf("idle in DATA: %q", r)
	}
	if rest, err := io.ReadAll(d.r); err != nil || len(rest) != 0 {
		t.Errorf("after the 421: %q, %v; want the end of the session", rest, err)
	}
	d = dial(t, "unix", ts.unix)
	d.cmd("EHLO c", "250")
	if r := d.reply(); r != "421 4.4.2 timeout: no command for 300ms, closing" {
		t.Errorf("idle between commands: %q", r)
	}
}

// A client silent within a BDAT chunk past idle_timeout is answered as
// within DATA: one reply, 421 naming the timeout, the session closed,
// nothing queued, and one warning in the log with the envelope.
func TestTimeoutInChunk(t *testing.T) {
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.IdleTimeout.Duration = 300 * time.Millisecond })
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("MAIL FROM:<stall@example.org>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.send("BDAT 10\r\n0123456789")
	d.expect("250")
	d.send("BDAT 30 LAST\r\nSubject: stalls\r\n")
	const want = "421 4.4.2 timeout: no data for 300ms: nothing queued, closing"
	if r := d.reply(); r != want {
		t.Errorf("idle in a chunk: %q, want %q", r, want)
	}
	if rest, err := io.ReadAll(d.r); err != nil || len(rest) != 0 {
		t.Errorf("after the 421: %q, %v; want the end of the session", rest, err)
	}
	time.Sleep(200 * time.Millisecond)
	if q := queued(t, ts.cfg); len(q) != 0 {
		t.Errorf("%d queued", len(q))
	}
	if dr := drafts(ts.cfg); len(dr) != 0 {
		t.Errorf("drafts left in tmp/: %v", dr)
	}
	var logged []string
	for _, l := range strings.Split(strings.TrimSpace(ts.log.String()), "\n") {
		if strings.Contains(l, "smtp: message") {
			logged = append(logged, l)
		}
	}
	if len(logged) != 1 {
		t.Fatalf("%d lines logged of the transaction, want 1:\n%s", len(logged), ts.log.String())
	}
	for _, w := range []string{"level=WARN", "smtp: message refused", "peer=127.0.0.1:", "from=stall@example.org", "nrcpt=1", `reply="` + want + `"`} {
		if !strings.Contains(logged[0], w) {
			t.Errorf("log line lacks %s:\n%s", w, logged[0])
		}
	}
}
