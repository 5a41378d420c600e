package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The prefix check is all that tells a record's mbox from
// another file, and the most common rewrite makes it nearly empty:
// deleting the first message leaves "From " as the only bytes before
// the first change when the next message's sender begins with another
// letter (Off 5). Here mail deletes the first of twelve messages and
// marks the others seen (a Status field each, so the file grows), and
// a crash stops it. Another reader then empties the mailbox (it cannot
// remove a spool file, so it cuts it to nothing: same file; or the file
// is removed and a new one gets its inode), and new mail arrives by
// another program. The next Lock must not write the old record over
// the new mail.
func TestRecordNotAppliedToRefilledMbox(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "mbox")
	when := time.Unix(1609577400, 0)
	if err := Mbox(path).Append("alice@example.org", when, []byte("Subject: first\n\n"), strings.NewReader("x\n")); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 12; i++ {
		h := fmt.Sprintf("Subject: message %d\n\n", i)
		if err := Mbox(path).Append("bob@example.org", when, []byte(h), strings.NewReader("Body.\n")); err != nil {
			t.Fatal(err)
		}
	}
	f, msgs, size := openAll(t, path)
	stopAt = func(s string) error {
		if s == "sized" {
			return errors.New("stopped after " + s)
		}
		return nil
	}
	_, err := Mbox(path).Rewrite(f, size, slices.Values(dropFirst(msgs)))
	stopAt = func(string) error { return nil }
	if err == nil || !strings.Contains(err.Error(), "next opened") {
		t.Fatalf("Rewrite: %v", err)
	}
	rb, _ := os.ReadFile(recordNextTo(path))
	r, _ := decodeRecord(rb[:recordHeader])
	t.Logf("record: off %d new %d old %d", r.Off, r.New, r.Old)
	// Emptied by another reader, then new mail from another program.
	fresh := "From carol@example.org Thu Dec  3 18:00:00 2026\nSubject: new mail\n\nmust stay\n\n"
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(fresh)
	w.Close()
	l, err := Mbox(path).Lock()
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock()
	if got, _ := os.ReadFile(path); !strings.Contains(string(got), "must stay") {
		t.Errorf("the old record was written over the new mail; the mbox holds %d bytes:\n%.300s", len(got), got)
	}
}
