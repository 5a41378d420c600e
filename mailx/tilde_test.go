package mailx

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTildeColonRunsCommands composes from read mode and runs commands
// with ~: and ~_: they print and change the session (d), the message
// text does not get their lines, and commands that would end the
// session or nest a message are refused.
func TestTildeColonRunsCommands(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	script := "m friend@example.org\nHello.\n~:h\n~_p 2\n~:q\n~:m x@example.org\n~:d 1\nMore.\n.\nf *\nq\n"
	out, stderr, code := h.mail(t, script, "-N")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	for _, want := range []string{
		"N  1 user1@example.org", // ~:h
		"Message 2:\nFrom: User 2 <user2@example.org>",
		"quit: not while composing a message",
		"mail: not while composing a message",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(out, "(continue)"); n != 5 {
		t.Errorf("%d (continue) lines, want 5", n)
	}
	// After the message, "f *" lists only message 2: ~:d 1 deleted 1.
	after := out[strings.LastIndex(out, "(continue)"):]
	if strings.Contains(after, "user1@example.org") || !strings.Contains(after, "user2@example.org") {
		t.Errorf("~:d 1 did not delete message 1:\n%s", after)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	q := h.only(t)
	if q.body != "Hello.\nMore.\n" {
		t.Errorf("body %q", q.body)
	}
	if names, _ := filepath.Glob(h.path("Maildir/cur/*")); len(names) != 1 {
		t.Errorf("Maildir after quit: %q, want message 2 only", names)
	}
}

// TestTildeColonInSendMode: without a mailbox, ~: says so and the text
// goes on.
func TestTildeColonInSendMode(t *testing.T) {
	h := newHome(t)
	out, stderr, code := h.mail(t, "text\n~:h\n~_p\nmore\n", "-~", "-s", "x", "root")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Count(out, "No mailbox is open") != 2 {
		t.Errorf("output:\n%s", out)
	}
	if q := h.only(t); q.body != "text\nmore\n" {
		t.Errorf("body %q", q.body)
	}
}
