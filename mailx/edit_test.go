package mailx

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// editorScript writes a shell script that edits the file it is given
// with sed (message 2's subject and first body line, or message 1's)
// and exits with status code.
func editorScript(t *testing.T, code int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "editor")
	script := "#!/bin/sh\nsed -i -e 's/^Subject: Subject \\([12]\\)$/Subject: Edited \\1/' " +
		"-e 's/^Body of message \\([12]\\)\\./Edited body \\1./' \"$1\"\nexit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEditMboxWrittenBackAtQuit edits message 2 of an mbox store with
// "set EDITOR": the session shows the new text at once, quit writes it
// back in its place, mboxrd-quoted, and the other messages are kept.
func TestEditMboxWrittenBackAtQuit(t *testing.T) {
	h := newHome(t)
	h.setStore(t, "mbox:~/spool")
	box := h.path("spool")
	appendFixtures(t, box, 1, 3)
	out, stderr, code := h.mail(t, "set EDITOR="+editorScript(t, 0)+"\ne 2\nf 2\np 2\nq\n")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	if !strings.Contains(out, "Edited 2") || !strings.Contains(out, "Edited body 2.") {
		t.Errorf("the edited text is not shown in the session:\n%s", out)
	}
	got := python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m['Subject'], m['Status'], repr(m.get_payload()))
`, box)
	want := "Subject 1 O 'Body of message 1.\\nSecond line.\\n>From here on, mboxrd quotes.\\n'\n" +
		"Edited 2 RO 'Edited body 2.\\nSecond line.\\n>From here on, mboxrd quotes.\\n'\n" +
		"Subject 3 O 'Body of message 3.\\nSecond line.\\n>From here on, mboxrd quotes.\\n'\n"
	if got != want {
		t.Errorf("mbox after quit:\n%s\nwant:\n%s", got, want)
	}
	snailList(t, h, box, []string{"Subject 1", "Edited 2", "Subject 3"})
}

// TestEditFailureChangesNothing: an editor that exits 1 leaves the
// message as it was, in the session and in the mailbox, whatever it
// did to the file.
func TestEditFailureChangesNothing(t *testing.T) {
	h := newHome(t)
	h.setStore(t, "mbox:~/spool")
	box := h.path("spool")
	appendFixtures(t, box, 1, 2)
	h.env = append(h.env, "EDITOR="+editorScript(t, 1))
	out, _, code := h.mail(t, "e 2\np 2\nq\n")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "message 2 left as it was") || strings.Contains(out, "Edited") {
		t.Errorf("output:\n%s", out)
	}
	got := python(t, `
import mailbox, sys
print([m['Subject'] for m in mailbox.mbox(sys.argv[1])])
`, box)
	if got != "['Subject 1', 'Subject 2']\n" {
		t.Errorf("mbox after quit: %s", got)
	}
}

// TestVisualMaildirReplacesFile edits a flagged Maildir message with
// visual: VISUAL (not EDITOR) is run, quit replaces the file under the
// same name with its flags, mode and modification time, and nothing is
// left in tmp/. exit instead of quit writes nothing.
func TestVisualMaildirReplacesFile(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	deliverFixtures(t, md, 3)
	name := "1609577402.M2P1.test"
	flagged := filepath.Join(md, "cur", name+":2,F")
	if err := os.Rename(filepath.Join(md, "new", name), flagged); err != nil {
		t.Fatal(err)
	}
	arrived := time.Date(2021, 1, 2, 8, 2, 0, 0, time.UTC)
	os.Chtimes(flagged, arrived, arrived)
	h.env = append(h.env, "VISUAL="+editorScript(t, 0), "EDITOR="+editorScript(t, 1))

	// exit: the edit is shown, then dropped.
	out, _, _ := h.mail(t, "v 2\np 2\nx\n")
	if !strings.Contains(out, "Edited body 2.") {
		t.Fatalf("visual did not run $VISUAL:\n%s", out)
	}
	if data, _ := os.ReadFile(flagged); !bytes.Contains(data, []byte("Subject: Subject 2\n")) {
		t.Fatalf("exit wrote the edit:\n%s", data)
	}

	out, stderr, code := h.mail(t, "v 2\nq\n")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	got := python(t, `
import mailbox, sys
box = mailbox.Maildir(sys.argv[1], create=False)
for key, m in sorted(box.items(), key=lambda kv: kv[0]):
    print(key, m['Subject'], m.get_subdir(), m.get_flags() or '-', m.get_payload().splitlines()[0])
`, md)
	want := "1609577401.M1P1.test Subject 1 cur - Body of message 1.\n" +
		"1609577402.M2P1.test Edited 2 cur F Edited body 2.\n" +
		"1609577403.M3P1.test Subject 3 cur - Body of message 3.\n"
	if got != want {
		t.Errorf("Maildir after quit:\n%s\nwant:\n%s", got, want)
	}
	st, err := os.Stat(flagged)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || !st.ModTime().Equal(arrived) {
		t.Errorf("edited file: mode %v, mtime %v; want 0600, %v", st.Mode().Perm(), st.ModTime(), arrived)
	}
	if left, _ := os.ReadDir(filepath.Join(md, "tmp")); len(left) != 0 {
		t.Errorf("left in tmp/: %v", left)
	}
}

// testSession is a session on box whose output goes to out, for driving
// commands without a process.
func testSession(box *Box, out *bytes.Buffer) *session {
	return &session{
		env: &env{set: newSettings(), out: bufio.NewWriter(out), errw: out},
		box: box,
		dot: 0,
	}
}

// TestEditMboxKeepsMailArrivedMeanwhile edits a message, has a message
// delivered, and rewrites: the edit and the new message are both
// there, once each. An editor that changes nothing marks nothing.
func TestEditMboxKeepsMailArrivedMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool")
	appendFixtures(t, path, 1, 3)
	box, err := openBox("mbox", path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	var out bytes.Buffer
	s := testSession(box, &out)
	s.set.vars["EDITOR"] = "true"
	if err := s.cmdEdit("3"); err != nil || box.edited(box.Msgs[2]) != nil {
		t.Fatalf("an editor that changed nothing: %v, edited %v", err, box.edited(box.Msgs[2]) != nil)
	}
	s.set.vars["EDITOR"] = editorScript(t, 0)
	if err := s.cmdEdit("1"); err != nil {
		t.Fatal(err)
	}
	if m := box.Msgs[0]; m.subject() != "Edited 1" || m.Size != int64(len(box.edited(m))) {
		t.Errorf("summary after the edit: %q, size %d", m.subject(), m.Size)
	}
	appendFixtures(t, path, 4, 4)
	box.Msgs[1].flags |= fDeleted
	if _, err := s.applyMbox(nil); err != nil {
		t.Fatal(err)
	}
	got := python(t, `
import mailbox, sys
print([(m['Subject'], m.get_payload().splitlines()[0]) for m in mailbox.mbox(sys.argv[1])])
`, path)
	want := "[('Edited 1', 'Edited body 1.'), ('Subject 3', 'Body of message 3.'), ('Subject 4', 'Body of message 4.')]\n"
	if got != want {
		t.Errorf("mbox: %s want %s", got, want)
	}
}

// FuzzMboxRewriteEdited gives the first message of an arbitrary mbox
// arbitrary edited text and rewrites the mbox: the edited message must
// read back as that text (apart from its Status field), the others as
// they were, and no message may appear or vanish.
func FuzzMboxRewriteEdited(f *testing.F) {
	f.Add([]byte("From a@b Sat Jan  2 08:50:00 2021\nSubject: x\n\nbody\n\nFrom c@d Sat Jan  2 08:50:00 2021\n\nlast\n"),
		[]byte("Subject: y\n\nnew body\n\nFrom here, a quoted line\n>From and more\n"))
	f.Add([]byte("From a\nSubject: no body"), []byte("Subject: z"))
	f.Add([]byte("From a\r\nX: y\r\n\r\nb\r\n"), []byte("From x\n\n\n"))
	f.Add([]byte("From a\n\n"), []byte(""))
	f.Fuzz(func(t *testing.T, data, edit []byte) {
		path := t.TempDir() + "/mbox"
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		box, err := openBox("mbox", path, false)
		if err != nil || len(box.Msgs) == 0 {
			return
		}
		defer box.Close()
		box.setEdited(box.Msgs[0], edit)
		var want []string
		for _, m := range box.Msgs {
			raw, err := box.Raw(m)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, withoutStatus(raw))
		}
		var out bytes.Buffer
		s := testSession(box, &out)
		if _, err := s.applyMbox(nil); err != nil {
			t.Fatal(err)
		}
		again, err := openBox("mbox", path, false)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		sameMessages(t, again, want)
	})
}

// TestVisualInTerminal runs visual in a terminal with an editor that
// asks for the new subject on the terminal: the editor gets the
// terminal, the session goes on afterwards, and quit writes the edit.
func TestVisualInTerminal(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	editor := filepath.Join(t.TempDir(), "editor")
	script := "#!/bin/sh\nprintf 'new subject? '\nread s\nsed -i \"s/^Subject: .*/Subject: $s/\" \"$1\"\n"
	if err := os.WriteFile(editor, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(h.path(".mailrc"), []byte("set VISUAL="+editor+"\n"), 0o600)
	tm := startTerm(t, h)
	tm.waitFor("& ", 1)
	tm.typeLine("v 2")
	tm.waitFor("new subject? ", 1)
	tm.typeLine("Typed in the editor")
	tm.waitFor("& ", 2)
	s := tm.command("h")
	if !strings.Contains(s[strings.LastIndex(s, "& h"):], "Typed in the editor") {
		t.Errorf("the summary does not show the edit:\n%s", s)
	}
	tm.typeLine("q")
	tm.waitFor("[exit 0]", 1)
	got := python(t, `
import mailbox, sys
print(sorted(m['Subject'] for m in mailbox.Maildir(sys.argv[1], create=False)))
`, h.path("Maildir"))
	if got != "['Subject 1', 'Typed in the editor']\n" {
		t.Errorf("Maildir after quit: %s", got)
	}
}
