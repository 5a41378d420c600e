package review

import (
	"fmt"
	"os"
	"testing"

	"homepost/test/testenv"
)

// A message to a remote recipient the smarthost accepts and a local one
// that bounces, while the store cannot take the DSN (disk full, a broken
// ~/Maildir): the remote copy is sent once, however often the DSN is
// tried again. The agent drops the whole attempt's results when storing
// the DSN fails, so each retry sends the remote copy again.
func TestBounceFailureDoesNotResend(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	e := testenv.New(t, fmt.Sprintf("other_users = \"bounce\"\n[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	// A store that cannot be written: ~/Maildir is a file.
	if err := os.WriteFile(e.Path("Maildir"), []byte("not a directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: mixed\n\nbody\n", "ok@remote.example", "nosuchuser-homepost-review")
	e.Once()
	e.Once()
	e.Once()
	if n := h.Count("ok@remote.example"); n != 1 {
		t.Errorf("the smarthost got %d copies for ok@remote.example, want 1", n)
	}
	// Once the store works again the DSN is stored and the queue empties.
	os.Remove(e.Path("Maildir"))
	e.Once()
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Errorf("store has %d messages, want the DSN", n)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
	if n := h.Count("ok@remote.example"); n != 1 {
		t.Errorf("the smarthost got %d copies for ok@remote.example, want 1", n)
	}
}
