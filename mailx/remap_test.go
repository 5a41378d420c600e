package mailx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Another mail (or mutt, s-nail) rewrites the mbox in place while this
// one has it open: message 1 deleted there, message 4 delivered after.
// "p 2" showed message 3 read at message 2's old offset. Now the
// mailbox is read again, the session's messages are found in it by
// their "From " line and header, and it says so once: "p 2" shows
// message 2, a save takes message 2's text, message 1 is deleted, 4 is
// added, and quit applies "d 3" to message 3 where it is now.
func TestMboxRewrittenInPlaceReadAgain(t *testing.T) {
	h := newHome(t)
	box := h.path("box")
	appendFixtures(t, box, 1, 3)
	out := mailPaused(t, h, []string{"-f", box}, "h\n", func() {
		o, e, code := h.mail(t, "d 1\nq\n", "-f", box)
		if code != 0 || !strings.Contains(o, "Held 2 messages") {
			t.Fatalf("the other mail: exit %d: %s%s", code, o, e)
		}
		appendFixtures(t, box, 4, 4)
	}, "p 2\ns 2 saved\np 1\np 4\nd 3\nq\n")
	_, shown, _ := strings.Cut(out, "Message 2:")
	shown, _, _ = strings.Cut(shown, "\"saved\"")
	if !strings.Contains(shown, "Subject: Subject 2") || strings.Contains(shown, "Subject 3") {
		t.Errorf("p 2 after another mail rewrote the mbox shows:\n%s\nall:\n%s", shown, out)
	}
	if n := strings.Count(out, "changed by another program"); n != 1 {
		t.Errorf("said the mailbox changed %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "message 1 removed there, deleted here; 1 new message added") || !strings.Contains(out, "1: Inappropriate message") {
		t.Errorf("p 1 of the message the other mail deleted:\n%s", out)
	}
	if _, m4, _ := strings.Cut(out, "Message 4:"); !strings.Contains(m4, "Subject: Subject 4") {
		t.Errorf("p 4 of the message delivered after the rewrite:\n%s", out)
	}
	saved, _ := os.ReadFile(h.path("saved"))
	if !strings.Contains(string(saved), "Subject: Subject 2\n") || strings.Contains(string(saved), "Subject 3") {
		t.Errorf("s 2 saved:\n%s", saved)
	}
	left, _ := os.ReadFile(box)
	for i, want := range []bool{false, true, false, true} {
		if got := strings.Contains(string(left), "Subject: Subject "+string(rune('1'+i))+"\n"); got != want {
			t.Errorf("after quit the mbox holds message %d: %v, want %v:\n%s", i+1, got, want, left)
		}
	}
}

// mboxText is message i of the fixtures as an mbox holds it, with
// extra header fields before the empty line, and the empty line that
// ends it in the file.
func mboxText(i int, extra string) string {
	sender, h, b := testMessage(i)
	from := fmt.Sprintf("From %s %s\n", sender, time.Date(2021, 1, 2, 8, i%60, 0, 0, time.UTC).Format("Mon Jan _2 15:04:05 2006"))
	return from + strings.TrimSuffix(h, "\n") + extra + "\n" + strings.ReplaceAll(b, "\nFrom ", "\n>From ") + "\n"
}

// rewriteInPlace writes text over the mbox at path, same file, as mutt
// and s-nail do, and dates it an hour back: a rewrite to the same size
// within one tick of the file clock would go unseen (see current).
func rewriteInPlace(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	f.Close()
	back := time.Now().Add(-time.Hour)
	os.Chtimes(path, back, back)
}

// The ways another reader rewrites an mbox in place, read in process:
// the same size with two messages swapped (nothing but the file's times
// tells), and mutt's sync, which deletes one and writes Status,
// X-Status, Content-Length and Lines into others. Each message of the
// session reads as itself, or as removed; the other reader's read mark
// is kept; two copies of one message are told apart by their order.
func TestMboxRewriteMappedByFromLineAndHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box")
	appendFixtures(t, path, 1, 4)
	appendFixtures(t, path, 4, 4)
	before, _ := os.ReadFile(path)
	if want := mboxText(1, "") + mboxText(2, "") + mboxText(3, "") + mboxText(4, "") + mboxText(4, ""); string(before) != want {
		t.Fatalf("fixture mbox:\n%s\nwant\n%s", before, want)
	}
	box, err := openBox("mbox", path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	var said bytes.Buffer
	box.errw = &said
	reads := func(want ...int) {
		t.Helper()
		for i, w := range want {
			raw, err := box.Raw(box.Msgs[i])
			switch {
			case w == 0:
				if err == nil || !strings.Contains(err.Error(), "removed by another program") || !box.Msgs[i].has(fDeleted) {
					t.Errorf("message %d reads %q (%v), want removed, deleted", i+1, raw, err)
				}
			case err != nil || !strings.Contains(string(raw), fmt.Sprintf("Subject: Subject %d\n", w)):
				t.Errorf("message %d reads %q (%v), want message %d", i+1, raw, err, w)
			}
		}
	}
	reads(1, 2, 3, 4, 4)
	rewriteInPlace(t, path, mboxText(1, "")+mboxText(3, "")+mboxText(2, "")+mboxText(4, "")+mboxText(4, ""))
	reads(1, 2, 3, 4, 4)
	if !strings.Contains(said.String(), "changed by another program") {
		t.Errorf("a rewrite to the same size: said %q", said.String())
	}
	said.Reset()
	rewriteInPlace(t, path, mboxText(1, "Status: RO\nX-Status: A\nContent-Length: 73\nLines: 3\n")+
		mboxText(3, "")+mboxText(4, "Status: O\nContent-Length: 73\nLines: 3\n"))
	reads(1, 0, 3, 4, 0)
	if m := box.Msgs[0]; !m.has(fSeen) || m.status() != "RO" {
		t.Errorf("message 1, read by the other reader: seen %v, status %q", m.has(fSeen), m.status())
	}
	if !strings.Contains(said.String(), "messages 2, 5 removed there") {
		t.Errorf("mutt's sync: said %q", said.String())
	}
	// Nothing changed since: nothing is said, nothing read again.
	said.Reset()
	f := box.f
	reads(1, 0, 3, 4, 0)
	if said.Len() > 0 || box.f != f {
		t.Errorf("unchanged mbox read again: said %q", said.String())
	}
}

// An mbox that another reader removed (s-nail removes one it emptied):
// its messages are deleted here, reading one says it was removed, and
// quit does not make the file again.
func TestMboxRemovedByAnotherReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "box")
	appendFixtures(t, path, 1, 2)
	box, err := openBox("mbox", path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	var said bytes.Buffer
	box.errw = &said
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if raw, err := box.Raw(box.Msgs[1]); err == nil || !strings.Contains(err.Error(), "message 2: removed by another program") {
		t.Errorf("message 2 of a removed mbox reads %q (%v)", raw, err)
	}
	if !strings.Contains(said.String(), "was removed by another program: messages 1, 2 removed there, deleted here") {
		t.Errorf("said %q", said.String())
	}
	s := testSession(box, &bytes.Buffer{})
	if _, err := s.applyMbox(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("quit after the mbox was removed: %v", err)
	}
}

// An mbox another program replaced (a new file renamed over it, as an
// editor saves): the session reads the new file, and quit's changes go
// to it, where before quit found the mailbox changed and saved nothing.
func TestMboxReplacedReadAgain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "box")
	appendFixtures(t, path, 1, 3)
	box, err := openBox("mbox", path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	var said bytes.Buffer
	box.errw = &said
	if err := os.WriteFile(filepath.Join(dir, "new"), []byte(mboxText(2, "Status: RO\n")+mboxText(3, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "new"), path); err != nil {
		t.Fatal(err)
	}
	box.Msgs[2].flags |= fDeleted
	if _, err := testSession(box, &bytes.Buffer{}).applyMbox(nil); err != nil {
		t.Fatalf("quit after the mbox was replaced: %v (said %q)", err, said.String())
	}
	got, _ := os.ReadFile(path)
	if want := mboxText(2, "Status: RO\n"); string(got) != want {
		t.Errorf("mbox after d 3, q:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(said.String(), "message 1 removed there") {
		t.Errorf("said %q", said.String())
	}
}
