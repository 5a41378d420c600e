package bsmtp

import (
	"bytes"
	"strings"
	"testing"
)

// TestBareNames: "RCPT TO:<nu1>" and "MAIL FROM:<cron>", as local
// programs write them, are accepted and qualified with the host name,
// as Postfix does; the replies show the qualified address; the message
// itself is untouched, lines that look like commands included.
func TestBareNames(t *testing.T) {
	cfg := testConfig(t)
	in := "EHLO me\r\nMAIL FROM:<cron>\r\nRCPT TO:<nu1>\r\nRCPT TO:nu2\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: bare\r\n\r\nRCPT TO:<x>\r\n.\r\nQUIT\r\n"
	var out bytes.Buffer
	if err := Serve(cfg, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	o := out.String()
	for _, want := range []string{"<cron@laptop>", "<nu1@laptop>", "<nu2@laptop>", "250 2.0.0 Ok: queued as "} {
		if !strings.Contains(o, want) {
			t.Errorf("no %q in the dialogue:\n%s", want, o)
		}
	}
	if strings.Contains(o, "501") || strings.Contains(o, "invalid") {
		t.Errorf("dialogue:\n%s", o)
	}
	msgs := queued(t, cfg)
	if len(msgs) != 1 {
		t.Fatalf("%d messages queued", len(msgs))
	}
	env := msgs[0].Env
	var rcpts []string
	for _, r := range env.Rcpts {
		rcpts = append(rcpts, r.Addr)
	}
	if env.Sender != "cron@laptop" || strings.Join(rcpts, " ") != "nu1@laptop nu2@laptop bob@example.org" {
		t.Errorf("envelope: sender %q, recipients %v", env.Sender, rcpts)
	}
	if b := body(t, msgs[0]); !strings.HasSuffix(b, "\n\nRCPT TO:<x>\n") {
		t.Errorf("body %q", b)
	}
}

// TestRepliesSpelled: the reply after too many errors is spelled right
// (go-smtp's own text says "Quiting").
func TestRepliesSpelled(t *testing.T) {
	cfg := testConfig(t)
	in := "EHLO me\r\n" + strings.Repeat("FROBNICATE\r\n", 12)
	var out bytes.Buffer
	if err := Serve(cfg, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	o := out.String()
	if !strings.Contains(o, "Too many errors. Quitting now") || strings.Contains(o, "Quiting") {
		t.Errorf("dialogue:\n%s", o)
	}
}

// A SIZE beyond 32 bits is a valid SIZE (RFC 1870): sendmail -bs, which
// has no size limit, takes the message, where go-smtp by itself
// answers 501.
func TestWideSize(t *testing.T) {
	cfg := testConfig(t)
	in := "EHLO me\r\nMAIL FROM:<a@example.org> SIZE=5000000000\r\nRCPT TO:<nu1>\r\nDATA\r\nSubject: wide\r\n\r\nx\r\n.\r\nQUIT\r\n"
	var out bytes.Buffer
	if err := Serve(cfg, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	if o := out.String(); strings.Contains(o, "501") || !strings.Contains(o, "250 2.0.0 Ok: queued as ") {
		t.Errorf("dialogue:\n%s", o)
	}
}
