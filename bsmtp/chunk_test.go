package bsmtp

import (
	"bytes"
	"strings"
	"testing"

	"homepost/outbox"
)

// Standard input that ends in the middle of the last BDAT chunk leaves
// nothing queued and is not answered 250.
func TestShortLastChunk(t *testing.T) {
	cfg := testConfig(t)
	in := "EHLO x\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root>\r\nBDAT 100 LAST\r\nSubject: t\r\n\r\npartial"
	var out bytes.Buffer
	Serve(cfg, strings.NewReader(in), &out)
	if strings.Contains(out.String(), "Ok: queued") || !strings.Contains(out.String(), "451 4.4.2 ") {
		t.Errorf("dialogue:\n%s", out.String())
	}
	if n, _ := outbox.Dir(cfg.Outbox).Names("new"); len(n) != 0 {
		t.Errorf("queued: %v", n)
	}
	if n, _ := outbox.Dir(cfg.Outbox).Names("tmp"); len(n) != 0 {
		t.Errorf("left in tmp/: %v", n)
	}
}

// A bare LF within a BDAT chunk is a byte of the message, counted in the
// chunk's size: it is not made CR LF as in command lines and DATA.
func TestBareLFInChunk(t *testing.T) {
	cfg := testConfig(t)
	in := "EHLO x\nMAIL FROM:<a@example.org>\nRCPT TO:<root>\nBDAT 15 LAST\nSubject: t\n\nab\nQUIT\n"
	var out bytes.Buffer
	Serve(cfg, strings.NewReader(in), &out)
	if !strings.Contains(out.String(), "Ok: queued") || strings.Contains(out.String(), "\r\n5") {
		t.Fatalf("dialogue:\n%s", out.String())
	}
	if b := body(t, queued(t, cfg)[0]); !strings.HasPrefix(b, "Subject: t\n") || !strings.HasSuffix(b, "\n\nab\n") {
		t.Errorf("queued %q", b)
	}
}
