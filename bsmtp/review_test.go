package bsmtp

import (
	"bytes"
	"strings"
	"testing"
)

// A message line longer than SMTP's 1000 octets (HTML from a web
// application, say) is queued intact through sendmail -bs, as it is
// through sendmail itself and as Postfix's smtpd takes it; the session
// is not closed with "500 Too long line".
func TestLongDataLine(t *testing.T) {
	cfg := testConfig(t)
	long := strings.Repeat("<td>x</td>", 50000) // 500 KB on one line
	in := "EHLO php.local\r\nMAIL FROM:<www@laptop>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n" +
		"Subject: long\r\n\r\n" + long + "\r\n.\r\nQUIT\r\n"
	var out bytes.Buffer
	if err := Serve(cfg, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "queued as") || strings.Contains(out.String(), "Too long") {
		t.Fatalf("dialogue:\n%s", out.String())
	}
	ms := queued(t, cfg)
	if len(ms) != 1 {
		t.Fatalf("queued %d messages", len(ms))
	}
	if b := body(t, ms[0]); !strings.HasPrefix(b, "Subject: long\n") || !strings.HasSuffix(b, "\n\n"+long+"\n") {
		t.Errorf("queued message changed: %d bytes", len(b))
	}
}
