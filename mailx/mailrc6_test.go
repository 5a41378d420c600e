package mailx

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
)

// "~/dir/" names a Maildir as "$HOME/dir/" and "dir/" do: the trailing
// slash survives the expansion of "~/" (it was lost, and save made an
// mbox file that -f ~/dir/ could then not read).
func TestTildeSlashIsMaildir(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	if _, e, code := h.mail(t, "c 1 ~/md/\nq\n"); code != 0 {
		t.Fatal(e)
	}
	if fi, err := os.Stat(h.path("md/new")); err != nil || !fi.IsDir() {
		t.Fatalf("copy to ~/md/ made no Maildir: %v", err)
	}
	out, e, code := h.mail(t, "", "-H", "-f", h.path("md")+"/")
	if code != 0 || !strings.Contains(out, "Subject 1") {
		t.Errorf("-f ~/md/: exit %d\n%s%s", code, out, e)
	}
}

// s-nail's account and define blocks are skipped whole, with one
// warning naming the block: the lines inside run only when the account
// or macro is called. They were run at start-up, so an account's
// "set from" became the sender of all mail.
func TestMailrcBlocksSkipped(t *testing.T) {
	h := newHome(t)
	os.WriteFile(h.path(".mailrc"), []byte(`set from="Bee <bee@example.org>"
account work {
  set from="me@work.example"
  unset hold
}
define ghost {
  set nosave
}
alias bob bob@example.net
`), 0o600)
	_, e, code := h.mail(t, "body\n", "-s", "rc", "bob")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	if q.sender != "bee@example.org" || !strings.Contains(q.msg.Header.Get("From"), "bee@example.org") {
		t.Errorf("sender %q, From %q: the account block was obeyed", q.sender, q.msg.Header.Get("From"))
	}
	if len(q.rcpts) != 1 || q.rcpts[0] != "bob@example.net" {
		t.Errorf("recipients %q: the alias after the blocks was not read", q.rcpts)
	}
	for _, w := range []string{".mailrc:2: account work: skipped up to line 5", ".mailrc:6: define ghost: skipped up to line 8"} {
		if !strings.Contains(e, w) {
			t.Errorf("no warning %q in:\n%s", w, e)
		}
	}
	if strings.Contains(e, "unknown command") {
		t.Errorf("lines of a skipped block reported one by one:\n%s", e)
	}
	// An unclosed block: the rest of the file is skipped, said once.
	os.WriteFile(h.path(".mailrc"), []byte("define x {\nset from=a@b.example\n"), 0o600)
	_, e, _ = h.mail(t, "", "-H")
	if !strings.Contains(e, ".mailrc:1: define x: no closing '}'") {
		t.Errorf("unclosed block:\n%s", e)
	}
}

// Messages that quit moves to MBOX keep their state there: read ones
// get Status: RO, the others Status: O (none is new), replacing any
// Status field they had, as s-nail, BSD mail and mutt write them. They
// had none, so every one was new again in MBOX.
func TestMovedToMboxKeepState(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 3)
	// A message with a Status field of its own (copied out of an mbox)
	// and CRLF line ends.
	d := h.path("Maildir/new/1609577499.M9P1.test")
	os.WriteFile(d, []byte("From: x@example.org\r\nStatus: O\r\n  folded\r\nSubject: crlf\r\n\r\nbody\r\n"), 0o600)
	os.WriteFile(h.path(".mailrc"), []byte("unset hold\nset MBOX=~/archive.mbox\n"), 0o600)
	out, e, code := h.mail(t, "p 1\np 4\nmb 3\nq\n")
	if code != 0 || !strings.Contains(out, "Saved 3 messages") {
		t.Fatalf("exit %d:\n%s%s", code, out, e)
	}
	got := python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m['Subject'], m.get_all('Status'))
`, h.path("archive.mbox"))
	want := "Subject 1 ['RO']\nSubject 3 ['O']\ncrlf ['RO']\n"
	if got != want {
		t.Errorf("MBOX holds:\n%s\nwant:\n%s", got, want)
	}
	out, _, _ = h.mail(t, "", "-H", "-f", h.path("archive.mbox"))
	if strings.Contains(out, " N ") || strings.Contains(out, ">N") {
		t.Errorf("messages moved to MBOX listed as new:\n%s", out)
	}
}

// With the store in ~/mbox itself, MBOX is the mailbox being read: a
// read message stays where it is, read, rather than move to the end of
// the same file, new again, reported as new mail.
func TestMboxStoreIsMBOX(t *testing.T) {
	h := newHome(t)
	h.setStore(t, "mbox:"+h.path("mbox"))
	appendFixtures(t, h.path("mbox"), 1, 3)
	os.WriteFile(h.path(".mailrc"), []byte("unset hold\n"), 0o600)
	out, e, code := h.mail(t, "p 1\nmb 2\nq\n")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, e)
	}
	if strings.Contains(out, "Saved") || strings.Contains(out, "New mail") || !strings.Contains(out, "Held 3 messages") {
		t.Errorf("quit said:\n%s", out)
	}
	got := python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m['Subject'], m['Status'])
`, h.path("mbox"))
	if want := "Subject 1 RO\nSubject 2 O\nSubject 3 O\n"; got != want {
		t.Errorf("mbox holds:\n%s\nwant:\n%s", got, want)
	}
}

// dot is set by default, and "set nodot" makes a line holding only "."
// text: it was accepted and ignored, so the message was cut short there.
func TestNodotKeepsDotLine(t *testing.T) {
	for _, nodot := range []bool{false, true} {
		h := newHome(t)
		if nodot {
			os.WriteFile(h.path(".mailrc"), []byte("set nodot\n"), 0o600)
		}
		_, e, code := h.mail(t, "line one\n.\nline three\n", "-~", "-s", "dot", "bob@example.net")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, e)
		}
		body := h.only(t).body
		want := "line one\n"
		if nodot {
			want = "line one\n.\nline three\n"
		}
		if body != want {
			t.Errorf("nodot %v: body %q, want %q", nodot, body, want)
		}
	}
}

// pam_mail's default $MAIL names a file homepost never writes: the
// store is read in its place even when it holds mail (left by an
// earlier mail system), and mail says where that mail is. MAIL won when
// the file was not empty, so new mail in the store went unseen.
func TestLoginSpoolWithOldMail(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	login := "hpspooltest"
	// The login spool's path is fixed (/var/mail/USER): the test runs
	// with USER naming a user whose spool it may create there.
	p := "/var/mail/" + login
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Skipf("cannot create %s: %v", p, err)
	}
	f.Close()
	defer os.Remove(p)
	appendFixtures(t, p, 7, 7)
	env := append([]string{}, h.env...)
	h.env = append(h.env, "MAIL="+p, "USER="+login, "LOGNAME="+login)
	out, e, code := h.mail(t, "", "-H")
	if code != 0 || !strings.Contains(out, "Subject 1") || strings.Contains(out, "Subject 7") {
		t.Errorf("MAIL=%s mail -H: exit %d, want the store:\n%s%s", p, code, out, e)
	}
	if !strings.Contains(e, p+" ($MAIL) holds mail that homepost did not deliver") || !strings.Contains(e, "mail -f "+p) {
		t.Errorf("no note of the old mail:\n%s", e)
	}
	// Named by -f, it is read.
	out, _, _ = h.mail(t, "", "-H", "-f", p)
	if !strings.Contains(out, "Subject 7") {
		t.Errorf("mail -f %s:\n%s", p, out)
	}
	// Any other MAIL is read as POSIX says, without a note.
	h.env = append(env, "MAIL="+h.path("other"))
	appendFixtures(t, h.path("other"), 9, 9)
	out, e, _ = h.mail(t, "", "-H")
	if !strings.Contains(out, "Subject 9") || strings.Contains(e, "note:") {
		t.Errorf("MAIL=other:\n%s%s", out, e)
	}
}

// A hangup while composing at a terminal (the window closed, the ssh
// connection dropped) keeps the text typed so far in dead.letter, as
// BSD mail and s-nail keep it; mail died of the SIGHUP with nothing
// saved. A hangup at the "& " prompt leaves the mailbox as it was.
func TestHangupSavesDeadLetter(t *testing.T) {
	h := newHome(t)
	tm := startTerm(t, h, "-s", "hup", "bob@example.net")
	tm.typeLine("text typed before the hangup")
	tm.typeLine("second line")
	// ~p shows that mail has read the lines: a hangup discards what
	// the terminal still holds.
	tm.typeLine("~p")
	tm.waitFor("(continue)", 1)
	exec.Command("tmux", "-S", tm.socket, "kill-server").Run()
	dead := h.path("dead.letter")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(dead)
		if strings.Contains(string(b), "second line") {
			if !strings.Contains(string(b), "text typed before the hangup\n") {
				t.Errorf("dead.letter: %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no text in dead.letter 10 s after the hangup: %q", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if q := h.queue(t); len(q) != 0 {
		t.Errorf("%d messages queued after a hangup", len(q))
	}

	// At the prompt: nothing changes (deleted stays, read stays new).
	deliverFixtures(t, h.path("Maildir"), 2)
	tm = startTerm(t, h)
	tm.waitFor("& ", 1)
	tm.command("d 1")
	exec.Command("tmux", "-S", tm.socket, "kill-server").Run()
	time.Sleep(time.Second)
	if names, _ := filepath.Glob(h.path("Maildir/new/*")); len(names) != 2 {
		t.Errorf("after a hangup at the prompt new/ holds %d messages, want 2", len(names))
	}
}

// mail -e says when it cannot read the mailbox, with status 74: it said
// "no mail" (1) of a Maildir it could not list and "mail" (0) of an
// mbox it could not read, silently.
func TestCheckMailUnreadable(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 1)
	if _, _, code := h.mail(t, "", "-e"); code != 0 {
		t.Errorf("mail -e with mail: %d", code)
	}
	// new/ that cannot be listed (a file, which root cannot read as a
	// directory either; chmod 000 stops only other users).
	os.RemoveAll(h.path("Maildir/new"))
	os.WriteFile(h.path("Maildir/new"), nil, 0o600)
	os.RemoveAll(h.path("Maildir/cur"))
	os.Mkdir(h.path("Maildir/cur"), 0o700)
	_, e, code := h.mail(t, "", "-e")
	if code != 74 || !strings.Contains(e, "Maildir/new") {
		t.Errorf("mail -e, new/ unreadable: exit %d, %q", code, e)
	}
	if os.Getuid() != 0 {
		os.Remove(h.path("Maildir/new"))
		os.Mkdir(h.path("Maildir/new"), 0o700)
		os.Chmod(h.path("Maildir/new"), 0)
		defer os.Chmod(h.path("Maildir/new"), 0o700)
		if _, _, code := h.mail(t, "", "-e"); code != 74 {
			t.Errorf("mail -e, new/ mode 000: exit %d", code)
		}
	}
	// An mbox that is a directory.
	os.Mkdir(h.path("box"), 0o700)
	_, e, code = h.mail(t, "", "-e", "-f", h.path("box"))
	if code != 74 || e == "" {
		t.Errorf("mail -e -f DIR (not a Maildir): exit %d, %q", code, e)
	}
	// Empty and absent are "no mail".
	os.WriteFile(h.path("empty"), nil, 0o600)
	for _, p := range []string{h.path("empty"), h.path("absent")} {
		if _, e, code := h.mail(t, "", "-e", "-f", p); code != 1 || e != "" {
			t.Errorf("mail -e -f %s: exit %d, %q", p, code, e)
		}
	}
}

// A from without a domain (set from="Me", -r me) is qualified with the
// host, in the From field as in the envelope, as sendmail -f is: the
// field said "From: Me", which no smarthost takes.
func TestFromQualified(t *testing.T) {
	for _, tc := range []struct{ rc, flag, wantFrom, wantSender string }{
		{`set from="Me"`, "", "Me@testhost.example", "Me@testhost.example"},
		{`set from="Me Too <me>"`, "", `"Me Too" <me@testhost.example>`, "me@testhost.example"},
		{"", "bee", "bee@testhost.example", "bee@testhost.example"},
		{`set from="Bee <bee@example.org>"`, "", `"Bee" <bee@example.org>`, "bee@example.org"},
	} {
		h := newHome(t)
		os.WriteFile(h.path("config.toml"), []byte("deliver_without_agent = false\nsystem_aliases = \"\"\nhostname = \"testhost.example\"\n"), 0o600)
		os.WriteFile(h.path(".mailrc"), []byte(tc.rc+"\n"), 0o600)
		args := []string{"-s", "q", "bob@example.net"}
		if tc.flag != "" {
			args = append([]string{"-r", tc.flag}, args...)
		}
		if _, e, code := h.mail(t, "body\n", args...); code != 0 {
			t.Fatalf("%q: exit %d: %s", tc.rc, code, e)
		}
		q := h.only(t)
		if got := q.msg.Header.Get("From"); got != tc.wantFrom && got != strings.ReplaceAll(tc.wantFrom, `"`, "") || q.sender != tc.wantSender {
			t.Errorf("%q -r %q: From %q, sender %q; want %q, %q", tc.rc, tc.flag, got, q.sender, tc.wantFrom, tc.wantSender)
		}
	}
}

// A body in 8 bits that is not UTF-8 and holds no UTF-8 character of
// more than one byte (a Latin-1 log) is sent converted from
// windows-1252, as UTF-8 that readers show: it went out as text/plain
// without a charset, and every accented letter showed as U+FFFD. A body
// that is UTF-8 but for a stray byte is sent as it was typed.
func TestLatin1BodyConverted(t *testing.T) {
	h := newHome(t)
	if _, e, code := h.mail(t, "caf\xe9 cr\xe8me \x93quoted\x94\nbinary \x00\x01 here\n", "-s", "latin1", "bob@example.net"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	raw := h.path("latin1.eml")
	os.WriteFile(raw, []byte(h.only(t).raw), 0o600)
	got := python(t, `
import email, sys, email.policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
print(m.get_content_charset(), repr(m.get_content()))
`, raw)
	if want := "utf-8 'café crème “quoted”\\nbinary \\x00\\x01 here\\n'\n"; got != want {
		t.Errorf("Latin-1 body read back as %s, want %s", got, want)
	}

	h = newHome(t)
	if _, e, code := h.mail(t, "caf\xc3\xa9 and a stray \xff byte\n", "-s", "mixed", "bob@example.net"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	if ct := q.msg.Header.Get("Content-Type"); ct != "text/plain" || !strings.Contains(q.raw, "caf=C3=A9 and a stray =FF byte") {
		t.Errorf("UTF-8 with a stray byte: Content-Type %q\n%s", ct, q.raw)
	}
}

// Maildir flags of other readers: T (trashed, mutt's maildir_trash) is
// listed as deleted and kept as it is on quit, undelete drops it, and a
// delete after that removes the message; F (flagged) shows 'F'. A
// trashed message was listed as live mail and a flagged one unmarked.
func TestMaildirTrashedAndFlagged(t *testing.T) {
	h := newHome(t)
	md := h.path("tr")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	put := func(name, subject string) {
		os.WriteFile(filepath.Join(md, "cur", name), []byte("From: a@b.example\nSubject: "+subject+"\n\nx\n"), 0o600)
	}
	reset := func() {
		os.RemoveAll(filepath.Join(md, "cur"))
		os.Mkdir(filepath.Join(md, "cur"), 0o700)
		put("1700000001.M1P1.host:2,ST", "trashed one")
		put("1700000002.M2P1.host:2,FS", "flagged one")
		put("1700000003.M3P1.host:2,S", "plain one")
	}
	names := func() string {
		n, _ := filepath.Glob(filepath.Join(md, "cur", "*"))
		for i := range n {
			n[i] = filepath.Base(n[i])
		}
		return strings.Join(n, " ")
	}
	reset()
	out, _, _ := h.mail(t, "", "-H", "-f", md+"/")
	if strings.Contains(out, "trashed one") || !regexp.MustCompile(`(?m)^ ?>?F +2 .*flagged one`).MatchString(out) {
		t.Errorf("-H:\n%s", out)
	}
	if _, e, code := h.mail(t, "p 2\nq\n", "-f", md+"/"); code != 0 {
		t.Fatal(e)
	}
	if got := names(); got != "1700000001.M1P1.host:2,ST 1700000002.M2P1.host:2,FS 1700000003.M3P1.host:2,S" {
		t.Errorf("after q: %s", got)
	}
	h.mail(t, "u 1\nq\n", "-f", md+"/")
	if got := names(); !strings.HasPrefix(got, "1700000001.M1P1.host:2,S ") {
		t.Errorf("after undelete: %s", got)
	}
	reset()
	h.mail(t, "u 1\nd 1\nq\n", "-f", md+"/")
	if got := names(); got != "1700000002.M2P1.host:2,FS 1700000003.M3P1.host:2,S" {
		t.Errorf("after undelete and delete: %s", got)
	}
}

// A text body that names no charset, in 8 bits that are not UTF-8 (cron
// output in Latin-1 on an old host), is shown read as windows-1252 line
// by line, as header fields are; a UTF-8 line stays as it is. It showed
// one U+FFFD for every letter, or for a run of them.
func TestShowLatin1BodyWithoutCharset(t *testing.T) {
	h := newHome(t)
	d := maildir.Dir(h.path("Maildir"))
	d.Init()
	d.Deliver("1700000001.M1P1.host", []byte("From: cron@old.example\nSubject: cron raw latin1\n\n"),
		strings.NewReader("fichier cr\xe9\xe9 \xe0 minuit\nd\xc3\xa9j\xc3\xa0 UTF-8\n"))
	out, e, code := h.mail(t, "p 1\nx\n")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if !strings.Contains(out, "fichier créé à minuit\n") || !strings.Contains(out, "déjà UTF-8\n") {
		t.Errorf("shown:\n%s", out)
	}
}

// Addresses given with -c or -b alone send, as in s-nail: the message
// was refused, exit 64, "no recipients given".
func TestCcBccOnlySends(t *testing.T) {
	h := newHome(t)
	if _, e, code := h.mail(t, "body\n", "-s", "cc only", "-c", "c@example.org", "-b", "b@example.org"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	q := h.only(t)
	if !slices.Equal(q.rcpts, []string{"c@example.org", "b@example.org"}) || q.msg.Header.Get("Bcc") != "" || q.msg.Header.Get("Cc") != "c@example.org" {
		t.Errorf("recipients %q, header %v", q.rcpts, q.msg.Header)
	}
	if _, e, code := h.mail(t, "", "-s", "nobody"); code != 64 || !strings.Contains(e, "no recipients given") {
		t.Errorf("-s alone: exit %d, %q", code, e)
	}
}
