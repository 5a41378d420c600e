package smtpd

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"homepost/config"
	"homepost/settings"
)

// msgOf is a message of exactly n bytes, as sent (CRLF line ends), with
// no line that needs a dot stuffed.
func msgOf(n int) string {
	head := "Subject: edge\r\n\r\n"
	body := strings.Repeat("x", n-len(head)-2) + "\r\n"
	return head + body
}

// max_message_size is the largest message taken, by DATA as by BDAT and
// by MAIL's SIZE: a message of exactly that many bytes is queued, one
// byte more is refused (552 5.3.4), and EHLO announces the limit itself.
func TestSizeLimitEdges(t *testing.T) {
	const limit = 4096
	ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.MaxMessageSize = limit })
	d := dial(t, "unix", ts.unix)
	if r := d.cmd("EHLO c", "250"); !strings.Contains(r, fmt.Sprintf("SIZE %d\n", limit)) && !strings.HasSuffix(r, fmt.Sprintf("SIZE %d", limit)) {
		t.Errorf("EHLO does not announce SIZE %d:\n%s", limit, r)
	}
	d.cmd(fmt.Sprintf("MAIL FROM:<a@b> SIZE=%d", limit+1), "552 5.3.4")
	d.cmd(fmt.Sprintf("MAIL FROM:<a@b> SIZE=%d", limit), "250")
	d.cmd("RSET", "250")
	want := 0
	for _, tc := range []struct {
		n    int
		bdat bool
		ok   bool
	}{
		{limit, false, true}, {limit + 1, false, false},
		{limit, true, true}, {limit + 1, true, false},
	} {
		d.cmd("MAIL FROM:<a@b>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		m := msgOf(tc.n)
		if tc.bdat {
			d.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(m), m))
		} else {
			d.cmd("DATA", "354")
			d.send(m + ".\r\n")
		}
		r := d.reply()
		if tc.ok {
			want++
			if !strings.HasPrefix(r, "250 2.0.0") {
				t.Errorf("%d bytes (BDAT %v): %q, want 250", tc.n, tc.bdat, r)
			}
		} else if !strings.HasPrefix(r, "552 5.3.4") {
			t.Errorf("%d bytes (BDAT %v): %q, want 552 5.3.4", tc.n, tc.bdat, r)
		}
		d.cmd("RSET", "250")
	}
	if q := queued(t, ts.cfg); len(q) != want {
		t.Errorf("%d queued, want %d", len(q), want)
	}
}

// A SIZE beyond 32 bits (RFC 1870 allows up to 20 digits) is compared
// with max_message_size like any other: above the limit it is refused
// with the limit named (552 5.3.4), within it (a limit of 5 GiB, or
// none) it is taken; it is never a syntax error.
func TestSizeBeyond32Bits(t *testing.T) {
	for _, tc := range []struct {
		limit int64
		size  string
		want  string
	}{
		{4096, "5000000000", "552 5.3.4 message larger than the 4 KiB [smtp] max_message_size"},
		{4096, "4294967296", "552 5.3.4 message larger than the 4 KiB [smtp] max_message_size"},
		{4096, "99999999999999999999", "552 5.3.4 message larger than the 4 KiB [smtp] max_message_size"},
		{5 << 30, "5000000000", "250"},
		{5 << 30, "4294967295", "250"},
		{5 << 30, "6000000000", "552 5.3.4 message larger than the 5 GiB [smtp] max_message_size"},
		{5 << 30, "99999999999999999999", "552 5.3.4 message larger than the 5 GiB [smtp] max_message_size"},
		{0, "5000000000", "250"},
	} {
		ts := startServer(t, os.Getuid(), func(c *config.Config) { c.SMTP.MaxMessageSize = settings.Size(tc.limit) })
		d := dial(t, "unix", ts.unix)
		d.cmd("EHLO c", "250")
		// Pipelined after a MAIL with a small SIZE, and before one:
		// each is judged by its own SIZE.
		d.send("MAIL FROM:<a@b> SIZE=100\r\nRSET\r\nMAIL FROM:<a@b> SIZE=" + tc.size + "\r\nRSET\r\nMAIL FROM:<a@b> SIZE=200\r\n")
		d.expect("250")
		d.expect("250")
		if r := d.reply(); !strings.HasPrefix(r, tc.want) || tc.want != "250" && r != tc.want {
			t.Errorf("limit %d, SIZE=%s: %q, want %s", tc.limit, tc.size, r, tc.want)
		}
		d.expect("250")
		d.expect("250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		d.cmd("DATA", "354")
		d.send(msgOf(100) + ".\r\n")
		d.expect("250")
	}
}
