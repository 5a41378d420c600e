package mailx

import (
	"os"
	"strings"
	"testing"
)

// The record copy is the message that was sent: it has the From and
// the Message-ID that the queued message has (they were added only when
// the message was queued, so the record had neither, and a reply to a
// sent message could not be threaded from it).
func TestRecordHasFromAndMessageID(t *testing.T) {
	h := newHome(t)
	os.WriteFile(h.path(".mailrc"), []byte("set record=+sent\n"), 0o600)
	if _, e, code := h.mail(t, "hello\n", "-s", "kept", "alice@example.org"); code != 0 {
		t.Fatal(e)
	}
	q := h.only(t)
	from, id := q.msg.Header.Get("From"), q.msg.Header.Get("Message-ID")
	if from == "" || !strings.HasPrefix(id, "<") {
		t.Fatalf("queued From %q, Message-ID %q", from, id)
	}
	out := python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m['From'])
    print(m['Message-ID'])
`, h.path("mail/sent"))
	if got := strings.Split(strings.TrimSpace(out), "\n"); len(got) != 2 || got[1] != id || !strings.Contains(got[0], "@") {
		t.Errorf("record has From and Message-ID %q, the queued message %q and %q", got, from, id)
	}
}
