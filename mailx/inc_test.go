package mailx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/maildir"
)

// deliverOne delivers fixture message i into a Maildir, named as
// deliverFixtures names it.
func deliverOne(t *testing.T, dir string, i int) {
	t.Helper()
	_, hd, b := testMessage(i)
	d := maildir.Dir(dir)
	if err := d.Deliver(fmt.Sprintf("%d.M%dP1.test", 1609577400+i, i), []byte(hd), strings.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

// TestIncMaildir: inc adds what was delivered since the Maildir was
// read, numbered after the last message, and not a message another
// client moved to cur/ meanwhile.
func TestIncMaildir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Maildir")
	deliverFixtures(t, dir, 3)
	box, err := openBox("maildir", dir, true)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := testSession(box, &out)
	s.set.vars["COLUMNS"] = "100"
	err = s.cmdInc("")
	s.out.Flush()
	if err != nil || out.String() != "No new mail.\n" {
		t.Fatalf("inc with nothing new: %v %q", err, out.String())
	}
	out.Reset()
	name := "1609577401.M1P1.test"
	if err := os.Rename(filepath.Join(dir, "new", name), filepath.Join(dir, "cur", name+":2,S")); err != nil {
		t.Fatal(err)
	}
	deliverOne(t, dir, 4)
	deliverOne(t, dir, 5)
	if err := s.cmdInc(""); err != nil {
		t.Fatal(err)
	}
	s.out.Flush()
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], " N  4 user4@example.org") || !strings.Contains(lines[1], " N  5 user5@example.org") {
		t.Errorf("inc printed:\n%s", out.String())
	}
	if len(box.Msgs) != 5 || box.Msgs[3].Num != 4 || box.Msgs[4].subject() != "Subject 5" {
		t.Fatalf("%d messages after inc", len(box.Msgs))
	}
	raw, err := box.Raw(box.Msgs[4])
	if err != nil || !bytes.Contains(raw, []byte("Body of message 5.")) {
		t.Errorf("message 5: %v %q", err, raw)
	}
	out.Reset()
	err = s.cmdInc("")
	s.out.Flush()
	if err != nil || out.String() != "No new mail.\n" {
		t.Errorf("second inc: %v %q", err, out.String())
	}
}

// TestIncMbox: inc scans what was appended after the end that was read;
// the quit rewrite afterwards keeps those messages and what arrived
// after the inc, each once.
func TestIncMbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool")
	appendFixtures(t, path, 1, 2)
	box, err := openBox("mbox", path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	var out bytes.Buffer
	s := testSession(box, &out)
	appendFixtures(t, path, 3, 4)
	if err := s.cmdNew("1"); err != nil {
		t.Fatal(err)
	}
	if err := s.cmdInc(""); err != nil {
		t.Fatal(err)
	}
	s.out.Flush()
	if n := strings.Count(out.String(), "\n"); n != 2 || !strings.Contains(out.String(), "N  3 user3@example.org") || !strings.Contains(out.String(), "N  4 user4@example.org") {
		t.Errorf("inc printed:\n%s", out.String())
	}
	if len(box.Msgs) != 4 {
		t.Fatalf("%d messages after inc", len(box.Msgs))
	}
	_, hd, b := testMessage(4)
	if raw, err := box.Raw(box.Msgs[3]); err != nil || string(raw) != hd+b {
		t.Errorf("message 4 reads %q (%v), want %q", raw, err, hd+b)
	}
	appendFixtures(t, path, 5, 5)
	box.Msgs[0].flags |= fDeleted
	box.Msgs[2].flags |= fRead
	arrived, err := s.applyMbox(nil)
	if err != nil || arrived == 0 {
		t.Fatalf("rewrite: %v, %d bytes arrived", err, arrived)
	}
	got := python(t, `
import mailbox, sys
print([(m['Subject'], m['Status']) for m in mailbox.mbox(sys.argv[1])])
`, path)
	want := "[('Subject 2', 'O'), ('Subject 3', 'RO'), ('Subject 4', 'O'), ('Subject 5', None)]\n"
	if got != want {
		t.Errorf("mbox: %s want %s", got, want)
	}
}

// TestIncMboxReplaced: when another program replaced the mbox, inc
// says so and reads the new file, not the new file at the old offsets:
// the messages the session had are found in it, and the others are
// new.
func TestIncMboxReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool")
	appendFixtures(t, path, 1, 2)
	box, err := openBox("mbox", path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	appendFixtures(t, filepath.Join(dir, "other"), 1, 3)
	if err := os.Rename(filepath.Join(dir, "other"), path); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	box.errw = &out
	err = testSession(box, &out).cmdInc("")
	if err != nil || !strings.Contains(out.String(), "changed by another program") || len(box.Msgs) != 3 {
		t.Errorf("inc after a replacement: %v, %d messages: %s", err, len(box.Msgs), out.String())
	}
	for i, m := range box.Msgs {
		_, hd, b := testMessage(i + 1)
		if raw, err := box.Raw(m); err != nil || string(raw) != hd+b {
			t.Errorf("message %d reads %q (%v), want %q", i+1, raw, err, hd+b)
		}
	}
}

// TestIncCommand delivers during a session (through "!") and reads the
// new messages after inc and newmail, in a Maildir and in an mbox.
func TestIncCommand(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	_, hd, b := testMessage(3)
	os.WriteFile(h.path("msg3"), []byte(hd+b), 0o600)
	out, stderr, code := h.mail(t, "inc\n!cp msg3 Maildir/new/1609577403.M3P1.test\nnewmail\np 3\nq\n")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	if !strings.Contains(out, "No new mail.\n!\n N  3 user3@example.org") || !strings.Contains(out, "Message 3:\nFrom: User 3") {
		t.Errorf("Maildir session:\n%s", out)
	}

	h.setStore(t, "mbox:~/spool")
	appendFixtures(t, h.path("spool"), 1, 1)
	appendFixtures(t, h.path("more"), 2, 2)
	out, stderr, code = h.mail(t, "!cat more >> spool\ninc\nd 2\nq\n")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	if !strings.Contains(out, "!\n N  2 user2@example.org") || strings.Contains(out, "New mail has arrived") {
		t.Errorf("mbox session:\n%s", out)
	}
	got := python(t, `
import mailbox, sys
print([m['Subject'] for m in mailbox.mbox(sys.argv[1])])
`, h.path("spool"))
	if got != "['Subject 1']\n" {
		t.Errorf("mbox after deleting the message inc found: %s", got)
	}
}
