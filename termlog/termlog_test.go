package termlog

import (
	"log/slog"
	"os"
	"strings"
	"testing"
)

// The agent's events as a person reads them: one line per message,
// warnings at once, other information left out.
func TestLines(t *testing.T) {
	var b strings.Builder
	h := New(&b, "homepost: flush: ")
	log := slog.New(h)
	log.Info("agent started", "pid", 1)
	log.Info("delivery", "id", "A1", "to", "alice@laptop", "orig_to", "root", "target", `\alice`, "status", "sent", "reason", "delivered to maildir")
	log.Info("delivery", "id", "A1", "to", "bob@example.org", "orig_to", "bob@example.org", "target", "bob@example.org", "status", "bounced", "reason", "host said 550")
	log.Info("bounce stored", "id", "A1", "to", "alice@laptop")
	log.With("id", "B2").Info("delivery", "to", "carol@laptop", "orig_to", "carol", "target", "|procmail", "status", "deferred", "reason", "exit 75")
	log.Error("read outbox", "reason", "permission denied")
	log.Info("delivery", "id", "C3", "to", "dave@laptop", "orig_to", "dave", "target", "/var/mail/dave", "status", "sent")
	if n := h.Close(); n != 3 {
		t.Errorf("Close = %d messages, want 3", n)
	}
	want := `homepost: flush: A1: root (alice@laptop) delivered to your mailbox; bob@example.org bounced: host said 550; a bounce to <alice@laptop> is in your mailbox
homepost: flush: B2: carol@laptop deferred, will retry: exit 75
homepost: flush: read outbox: permission denied
homepost: flush: C3: dave@laptop delivered to /var/mail/dave
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// Where nothing retries what a delivery defers (no agent, and
// deliver_without_agent = false), a deferred recipient is not promised
// a retry, and the deferrals are counted for the caller to say so.
func TestNoRetry(t *testing.T) {
	var b strings.Builder
	h := New(&b, "homepost: flush: ")
	h.NoRetry()
	log := slog.New(h)
	log.Info("delivery", "id", "B2", "to", "carol@example.org", "target", "carol@example.org", "status", "deferred", "reason", "host said 450")
	log.Info("delivery", "id", "C3", "to", "dave@laptop", "orig_to", "dave", "target", "/var/mail/dave", "status", "sent")
	h.Close()
	want := `homepost: flush: B2: carol@example.org deferred: host said 450
homepost: flush: C3: dave@laptop delivered to /var/mail/dave
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	if n := h.Deferred(); n != 1 {
		t.Errorf("Deferred = %d, want 1", n)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a file is a terminal")
	}
}
