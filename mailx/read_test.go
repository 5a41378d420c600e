package mailx

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
)

// TestReadMaildirSession lists, reads, replies, deletes, saves and quits
// in a terminal, then checks the Maildir, the saved file and the reply
// with independent readers.
func TestReadMaildirSession(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 4)
	tm := startTerm(t, h)
	s := tm.waitFor("& ", 1)
	for _, want := range []string{"4 messages 4 new", ">N  1 user1@example.org", " N  4 user4@example.org", "Subject 4"} {
		if !strings.Contains(s, want) {
			t.Fatalf("startup screen lacks %q:\n%s", want, s)
		}
	}
	s = tm.command("1")
	if !strings.Contains(s, "Body of message 1.") || !strings.Contains(s, "From here on, mboxrd quotes.") {
		t.Fatalf("message 1 not shown:\n%s", s)
	}
	// Reply to the sender (R; r answers all recipients too), with the
	// quoted text, ended by ".".
	tm.typeLine("R")
	s = tm.waitFor("> Body of message 1.", 1)
	if !strings.Contains(s, "To: User 1 <user1@example.org>\n") || !strings.Contains(s, "Subject: Re: Subject 1") {
		t.Fatalf("reply header not shown:\n%s", s)
	}
	tm.typeLine("Thanks for the note.")
	tm.typeLine("~s Re: Subject 1 (answered)")
	tm.typeLine(".")
	tm.waitFor("EOT", 1)
	tm.waitFor("& ", 3)
	tm.command("d 2")
	s = tm.command("s 3 +saved")
	if !strings.Contains(s, `"+saved" [New file]`) {
		t.Fatalf("save not reported:\n%s", s)
	}
	s = tm.command("h")
	if strings.Contains(s[strings.LastIndex(s, "& h"):], "user2@example.org") {
		t.Errorf("deleted message still listed:\n%s", s)
	}
	tm.typeLine("q")
	s = tm.waitFor("[exit 0]", 1)
	if !strings.Contains(s, "Held 2 messages in "+h.path("Maildir")) {
		t.Errorf("quit did not report held messages:\n%s", s)
	}

	// The Maildir: 2 and 3 (saved) are gone; 1 is read and answered;
	// 4, listed but not read, moved to cur/ unread.
	out := python(t, `
import mailbox, sys
box = mailbox.Maildir(sys.argv[1], create=False)
for key, m in sorted(box.items(), key=lambda kv: kv[1]['Subject']):
    print(m['Subject'], m.get_subdir(), m.get_flags() or '-')
`, h.path("Maildir"))
	want := "Subject 1 cur RS\nSubject 4 cur -\n"
	if out != want {
		t.Errorf("Maildir after quit:\n%s\nwant:\n%s", out, want)
	}
	out = python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m['Subject'], '|', m.get_from(), '|', m.get_payload().splitlines()[2])
`, h.path("mail/saved"))
	if !strings.HasPrefix(out, "Subject 3 | user3@example.org ") || !strings.HasSuffix(out, "| >From here on, mboxrd quotes.\n") {
		t.Errorf("saved mbox: %q", out)
	}
	q := h.only(t)
	hd := q.msg.Header
	if to, err := hd.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "user1@example.org" {
		t.Errorf("reply To %q (%v)", hd.Get("To"), err)
	}
	if hd.Get("Subject") != "Re: Subject 1 (answered)" ||
		hd.Get("In-Reply-To") != "<msg1@example.org>" || hd.Get("References") != "<msg1@example.org>" {
		t.Errorf("reply header:\n%s", q.raw)
	}
	if !strings.Contains(q.body, "> Body of message 1.\n") || !strings.Contains(q.body, "Thanks for the note.\n") {
		t.Errorf("reply body:\n%s", q.body)
	}
	if len(q.rcpts) != 1 || q.rcpts[0] != "user1@example.org" {
		t.Errorf("reply recipients %q", q.rcpts)
	}
}

// TestReadMboxSession reads an mbox store while a message arrives, then
// checks that the rewrite kept it, that Status fields were written, and
// that python and s-nail read the result.
func TestReadMboxSession(t *testing.T) {
	h := newHome(t)
	h.setStore(t, "mbox:~/spool")
	box := h.path("spool")
	appendFixtures(t, box, 1, 3)
	tm := startTerm(t, h)
	s := tm.waitFor("& ", 1)
	if !strings.Contains(s, "3 messages 3 new") {
		t.Fatalf("startup:\n%s", s)
	}
	s = tm.command("p 1")
	if !strings.Contains(s, "From here on, mboxrd quotes.") || strings.Contains(s, ">From here") {
		t.Errorf("mboxrd quoting not undone on display:\n%s", s)
	}
	tm.command("d 2")
	// Mail arrives while mail(1) runs.
	appendFixtures(t, box, 4, 4)
	tm.typeLine("q")
	s = tm.waitFor("[exit 0]", 1)
	if !strings.Contains(s, "Held 2 messages in "+box) || !strings.Contains(s, "New mail has arrived.") {
		t.Errorf("quit output:\n%s", s)
	}
	out := python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m['Subject'], m['Status'], m.get_payload().splitlines()[2])
`, box)
	want := "Subject 1 RO >From here on, mboxrd quotes.\nSubject 3 O >From here on, mboxrd quotes.\nSubject 4 None >From here on, mboxrd quotes.\n"
	if out != want {
		t.Errorf("mbox after quit:\n%s\nwant:\n%s", out, want)
	}
	if st, err := os.Stat(box); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mbox mode after rewrite: %v %v", st.Mode(), err)
	}
	if _, err := os.Stat(box + ".lock"); err == nil {
		t.Errorf("dotlock left behind")
	}
	snailList(t, h, box, []string{"Subject 1", "Subject 3", "Subject 4"})
}

// snailList has s-nail list an mbox and checks the subjects it shows.
func snailList(t *testing.T, h *home, box string, subjects []string) {
	t.Helper()
	snail, err := exec.LookPath("s-nail")
	if err != nil {
		t.Log("SKIP: s-nail is not installed (apt-get install s-nail): the mbox is not checked with it")
		return
	}
	cmd := exec.Command(snail, "-n", "-N", "-H", "-f", box)
	cmd.Env = append(h.env, "MAILRC=/dev/null", "COLUMNS=120")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("s-nail: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(subjects) {
		t.Fatalf("s-nail lists %d messages, want %d:\n%s", len(lines), len(subjects), out)
	}
	for i, s := range subjects {
		if !strings.Contains(lines[i], s) {
			t.Errorf("s-nail line %d: %q, want %q", i+1, lines[i], s)
		}
	}
}

// TestSendInTerminal composes in a terminal: the Subject prompt, tilde
// escapes for recipients and the subject, ~p, and "." to end.
func TestSendInTerminal(t *testing.T) {
	h := newHome(t)
	os.WriteFile(h.path("notes.txt"), []byte("from a file\n"), 0o600)
	tm := startTerm(t, h, "root")
	tm.waitFor("Subject: ", 1)
	tm.typeLine("Typed subject")
	tm.typeLine("First line.")
	tm.typeLine("~c cc@example.org")
	tm.typeLine("~b secret@example.org")
	tm.typeLine("~r " + h.path("notes.txt"))
	tm.waitFor("notes.txt\" 1/12", 1)
	tm.typeLine("~~tilde line")
	tm.typeLine("~p")
	s := tm.waitFor("(continue)", 1)
	if !strings.Contains(s, "Bcc: secret@example.org") || !strings.Contains(s, "~tilde line") {
		t.Errorf("~p:\n%s", s)
	}
	tm.typeLine("~z")
	tm.waitFor("Unknown tilde escape", 1)
	tm.typeLine(".")
	s = tm.waitFor("[exit 0]", 1)
	q := h.only(t)
	if q.msg.Header.Get("Subject") != "Typed subject" || q.msg.Header.Get("Cc") != "cc@example.org" {
		t.Errorf("header:\n%s", q.raw)
	}
	if want := "First line.\nfrom a file\n~tilde line\n"; q.body != want {
		t.Errorf("body %q, want %q", q.body, want)
	}
	if !slices.Equal(q.rcpts, []string{"root", "cc@example.org", "secret@example.org"}) {
		t.Errorf("recipients %q", q.rcpts)
	}
	if strings.Contains(q.raw, "secret@") {
		t.Errorf("Bcc in the message:\n%s", q.raw)
	}
}

// TestInterruptKillsLetter presses ^C twice while composing: nothing is
// sent and the text is kept in dead.letter.
func TestInterruptKillsLetter(t *testing.T) {
	h := newHome(t)
	tm := startTerm(t, h, "-s", "x", "root")
	tm.typeLine("unfinished text")
	time.Sleep(200 * time.Millisecond)
	tm.key("C-c")
	tm.waitFor("one more to kill letter", 1)
	tm.key("C-c")
	tm.waitFor("[exit 0]", 1)
	if q := h.queue(t); len(q) != 0 {
		t.Errorf("%d messages queued after two interrupts", len(q))
	}
	dead, err := os.ReadFile(h.path("dead.letter"))
	if err != nil || string(dead) != "unfinished text\n" {
		t.Errorf("dead.letter: %q %v", dead, err)
	}
}

// TestPagerForLongOutput: with crt set, a message longer than crt lines
// goes through the pager.
func TestPagerForLongOutput(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	// A third message of few lines but 3 MB.
	big := "From: big@example.org\nSubject: wide\n\n" + strings.Repeat("w", 3<<20) + "\nend\n"
	if err := maildir.Dir(h.path("Maildir")).Deliver("1609577500.M9P1.test", []byte(big), strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(h.path(".mailrc"), []byte("set crt=3 PAGER='sed s/^/PAGED:/'\n"), 0o600)
	tm := startTerm(t, h)
	tm.waitFor("& ", 1)
	s := tm.command("p 1")
	if !strings.Contains(s, "PAGED:Body of message 1.") {
		t.Errorf("not paged:\n%s", s)
	}
	s = tm.command("h")
	if strings.Contains(s, "PAGED: N  2") {
		t.Errorf("header summary paged:\n%s", s)
	}
	// A pager that quits before the end has shown enough: no error.
	tm.command("set PAGER='head -2'")
	s = tm.command("p 1")
	if s = s[strings.LastIndex(s, "& p 1"):]; !strings.Contains(s, "Message 1:") || strings.Contains(s, "Body of message 1.") || strings.Contains(s, "pipe") {
		t.Errorf("pager that quits early:\n%s", s)
	}
	// A pager that fails: the text is shown without it.
	tm.command("set PAGER=false")
	s = tm.command("p 1")
	if s = s[strings.LastIndex(s, "& p 1"):]; !strings.Contains(s, "Body of message 1.") {
		t.Errorf("failing pager: text not shown:\n%s", s)
	}
	// Short enough: no pager.
	tm.command("set crt=100 PAGER='sed s/^/PAGED:/'")
	s = tm.command("p 1")
	if s = s[strings.LastIndex(s, "& p 1"):]; !strings.Contains(s, "Body of message 1.") || strings.Contains(s, "PAGED:") {
		t.Errorf("short message:\n%s", s)
	}
	// Few lines, but more than a megabyte: the pager, given it all.
	tm.command("set PAGER='wc -c | sed s/^/PAGED:/'")
	s = tm.command("p 3")
	if s = s[strings.LastIndex(s, "& p 3"):]; !strings.Contains(s, "PAGED:3145781\n") {
		t.Errorf("a wide message of few lines:\n%.2000s", s)
	}
	tm.typeLine("x")
	tm.waitFor("[exit 0]", 1)
}

// A dead.letter that cannot be written (a full disk: /dev/full) is
// reported as such, never announced as saved.
func TestDeadLetterUnwritable(t *testing.T) {
	h := newHome(t)
	h.env = append(h.env, "DEAD=/dev/full")
	stdout, stderr, code := h.mail(t, "some text\n", "-S", "sendmail=/bin/false", "-s", "x", "root")
	if code == 0 || strings.Contains(stdout, `"/dev/full"`) || !strings.Contains(stderr, "/dev/full") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}
