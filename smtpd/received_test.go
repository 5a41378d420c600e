package smtpd

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"homepost/outbox"
)

// A message taken over SMTP gets a Received field on top naming the
// client as Postfix's does: its EHLO name and its address (Postfix:
// "from NAME (localhost [127.0.0.1])"), but not its uid: the field
// leaves with the message, and a local uid is nothing the world needs
// to learn (the log line, which the queue ID in the field finds, names
// it). The message's own bytes follow unchanged.
func TestReceivedNamesClient(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	const msg = "Subject: traced\r\nFrom: app@example.org\r\nDate: Thu, 3 Dec 2026 12:00:00 +0000\r\nMessage-ID: <t@example.org>\r\n\r\nbody\r\n"
	for _, tc := range []struct{ nw, addr, client string }{
		{"tcp", ts.tcp, "127.0.0.1"},
		{"unix", ts.unix, "unix socket"},
	} {
		d := dial(t, tc.nw, tc.addr)
		d.cmd("EHLO web.example", "250")
		d.cmd("MAIL FROM:<app@example.org>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		d.cmd("DATA", "354")
		d.send(msg + ".\r\n")
		r := d.expect("250 2.0.0 Ok: queued as ")
		id := strings.TrimPrefix(r, "250 2.0.0 Ok: queued as ")
		var m *outbox.Message
		for name, q := range queued(t, ts.cfg) {
			if outbox.ID(name) == id {
				m = q
			}
		}
		if m == nil {
			t.Fatalf("%s: %s not queued", tc.nw, id)
		}
		b := rawBody(t, m)
		re := regexp.MustCompile(fmt.Sprintf(`^Received: from web\.example \(%s\)\n\tby testhost\.example \(homepost\) id %s; [A-Z][a-z][a-z], .* [+-]\d{4}\n`,
			regexp.QuoteMeta(tc.client), id))
		loc := re.FindStringIndex(b)
		if loc == nil {
			t.Errorf("%s: no Received field naming the client on top:\n%s", tc.nw, b)
			continue
		}
		if strings.Contains(b[:loc[1]], "uid") {
			t.Errorf("%s: the Received field names a uid:\n%s", tc.nw, b[:loc[1]])
		}
		if log := ts.log.String(); !strings.Contains(log, fmt.Sprintf("id=%s ", id)) || !strings.Contains(log, fmt.Sprintf("peer_uid=%d", os.Getuid())) {
			t.Errorf("%s: no log line of %s with the uid:\n%s", tc.nw, id, log)
		}
		if rest := b[loc[1]:]; rest != strings.ReplaceAll(msg, "\r\n", "\n") {
			t.Errorf("%s: the message below the Received field:\n%q\nwant\n%q", tc.nw, rest, msg)
		}
	}
}

// The log line of a message taken over SMTP names the client too, so
// that one program of many that floods or misbehaves can be told.
func TestQueuedLogNamesClient(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO web.example", "250")
	d.cmd("MAIL FROM:<app@example.org>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: logged\r\n\r\nbody\r\n.\r\n")
	d.expect("250 2.0.0 Ok: queued as ")
	var line string
	for _, l := range strings.Split(ts.log.String(), "\n") {
		if strings.Contains(l, "msg=queued") {
			line = l
		}
	}
	if !strings.Contains(line, "peer=127.0.0.1:") || !strings.Contains(line, fmt.Sprintf("peer_uid=%d", os.Getuid())) {
		t.Errorf("the queued line does not name the client: %q\n%s", line, ts.log.String())
	}
}
