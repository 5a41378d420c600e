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
