package courier

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
	"homepost/outbox"
)

// A copy appended whole, whose result a crash kept from the journal,
// is found again by its Mark only at the offset where it was appended.
// A mail reader that rewrote the mbox before the retry (mail's quit
// deleting an older message, or adding Status fields) moved it: the
// retry finds other bytes there (Foreign) and appends the message a
// second time.
func TestMovedWholeCopyStoredTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	if err := maildir.Mbox(path).Append("old@example.org", time.Unix(1609577400, 0), []byte("Subject: old\n\n"), strings.NewReader("old\n")); err != nil {
		t.Fatal(err)
	}
	var mark maildir.Mark
	c := &Copy{
		Name: "1.X.host", Sender: "a@example.org", To: path,
		Header: []byte("Delivered-To: me@example.org\n"),
		Body:   func() io.Reader { return strings.NewReader("Subject: the copy\n\nbody\n") },
		Time:   time.Unix(1700000000, 0),
		Mark:   func(m maildir.Mark) error { mark = m; return nil },
	}
	c.Size = int64(len("Subject: the copy\n\nbody\n"))
	m := &Mbox{}
	if r := m.Deliver(context.Background(), []*Copy{c}); r[0].Status != outbox.Sent {
		t.Fatalf("first attempt: %v", r[0])
	}
	// The agent is killed here: the result is not journaled, the
	// mark is. Then the user reads the mbox and deletes the old
	// message.
	var msgs []maildir.MboxMessage
	f, size, err := maildir.Mbox(path).Open(func(e *maildir.MboxMessage, _ []byte) { msgs = append(msgs, *e) })
	if err != nil {
		t.Fatal(err)
	}
	keep := []maildir.Kept{{Off: msgs[1].Off, Len: msgs[1].Len, Status: "O"}}
	if _, err := maildir.Mbox(path).Rewrite(f, size, slices.Values(keep)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The agent's retry.
	c.Marked = &mark
	r := m.Deliver(context.Background(), []*Copy{c})
	t.Logf("retry: %v", r[0])
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "Subject: the copy"); n != 1 {
		t.Errorf("the mbox holds the copy %d times:\n%s", n, b)
	}
}

// A copy that a crash cut off, kept as a message by a reader's rewrite
// (another program appended after it, so it was not cut back), is not
// taken for the whole copy: the retry stores the message whole.
func TestMovedCutCopyIsNotWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	if err := maildir.Mbox(path).Append("old@example.org", time.Unix(1609577400, 0), []byte("Subject: old\n\n"), strings.NewReader("old\n")); err != nil {
		t.Fatal(err)
	}
	body := "Subject: the copy\n\n" + strings.Repeat("line of the body\n", 50)
	var mark maildir.Mark
	c := &Copy{
		Name: "1.X.host", Sender: "a@example.org", To: path,
		Header: []byte("Delivered-To: me@example.org\n"),
		Body:   func() io.Reader { return strings.NewReader(body) },
		Size:   int64(len(body)),
		Time:   time.Unix(1700000000, 0),
		Mark:   func(m maildir.Mark) error { mark = m; return nil },
	}
	m := &Mbox{}
	if r := m.Deliver(context.Background(), []*Copy{c}); r[0].Status != outbox.Sent {
		t.Fatalf("first attempt: %v", r[0])
	}
	// A crash in the middle of the append: half the copy is there; then
	// another program appends, and a reader deletes the old message.
	if err := os.Truncate(path, mark.Off+mark.Len/2); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("\n\nFrom other@example.org Thu Nov 14 22:13:20 2023\nSubject: other\n\nother\n\n")
	f.Close()
	var msgs []maildir.MboxMessage
	rf, size, err := maildir.Mbox(path).Open(func(e *maildir.MboxMessage, _ []byte) { msgs = append(msgs, *e) })
	if err != nil {
		t.Fatal(err)
	}
	var keep []maildir.Kept
	for _, e := range msgs[1:] {
		keep = append(keep, maildir.Kept{Off: e.Off, Len: e.Len, Status: "O"})
	}
	if _, err := maildir.Mbox(path).Rewrite(rf, size, slices.Values(keep)); err != nil {
		t.Fatal(err)
	}
	rf.Close()
	c.Marked = &mark
	r := m.Deliver(context.Background(), []*Copy{c})
	if r[0].Status != outbox.Sent || strings.Contains(r[0].Reason, "already delivered") {
		t.Fatalf("retry: %v", r[0])
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), strings.Repeat("line of the body\n", 50)); n != 1 {
		t.Errorf("the mbox holds the whole copy %d times:\n%s", n, b)
	}
}
