package mailx

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/maildir"
)

// Read mode driven through a pipe, as scripts do (no prompt, no
// terminal).

func TestHoldUnsetMovesReadToMbox(t *testing.T) {
	h := newHome(t)
	h.setStore(t, "mbox:~/spool")
	appendFixtures(t, h.path("spool"), 1, 3)
	os.WriteFile(h.path(".mailrc"), []byte("unset hold\n"), 0o600)
	out, stderr, code := h.mail(t, "p 2\nmb 3\nq\n")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "Saved 2 messages in "+h.path("mbox")) || !strings.Contains(out, "Held 1 message in "+h.path("spool")) {
		t.Errorf("output:\n%s", out)
	}
	got := python(t, `
import mailbox, sys
for p in sys.argv[1:]:
    print(p.rsplit('/', 1)[1], [m['Subject'] for m in mailbox.mbox(p)])
`, h.path("spool"), h.path("mbox"))
	want := "spool ['Subject 1']\nmbox ['Subject 2', 'Subject 3']\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestExitLeavesMailboxUnchanged(t *testing.T) {
	h := newHome(t)
	h.setStore(t, "mbox:~/spool")
	appendFixtures(t, h.path("spool"), 1, 3)
	before, _ := os.ReadFile(h.path("spool"))
	if _, e, code := h.mail(t, "p 1\nd 2\nx\n"); code != 0 {
		t.Fatal(e)
	}
	after, _ := os.ReadFile(h.path("spool"))
	if !bytes.Equal(before, after) {
		t.Error("x changed the mbox")
	}
	deliverFixtures(t, h.path("Maildir"), 2)
	h2 := newHome(t)
	deliverFixtures(t, h2.path("Maildir"), 2)
	h2.mail(t, "p 1\nd 2\nx\n")
	names, _ := filepath.Glob(h2.path("Maildir/new/*"))
	if len(names) != 2 {
		t.Errorf("x changed the Maildir: %q", names)
	}
}

func TestSavedRemovedUnlessKeepsave(t *testing.T) {
	for _, keep := range []bool{false, true} {
		h := newHome(t)
		deliverFixtures(t, h.path("Maildir"), 2)
		if keep {
			os.WriteFile(h.path(".mailrc"), []byte("set keepsave\n"), 0o600)
		}
		if _, e, code := h.mail(t, "s 1 "+h.path("box")+"\nw 2 "+h.path("text")+"\nq\n"); code != 0 {
			t.Fatal(e)
		}
		// w does not mark the message saved: it stays.
		names, _ := filepath.Glob(h.path("Maildir/cur/*"))
		want := 1
		if keep {
			want = 2
		}
		if len(names) != want {
			t.Errorf("keepsave=%v: %d messages left, want %d", keep, len(names), want)
		}
		text, _ := os.ReadFile(h.path("text"))
		if string(text) != "Body of message 2.\nSecond line.\nFrom here on, mboxrd quotes.\n" {
			t.Errorf("w wrote %q", text)
		}
	}
}

func TestFolderOptionReadsOtherMailboxes(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("other"), 2)
	out, _, code := h.mail(t, "", "-H", "-f", h.path("other"))
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "Subject 2") {
		t.Errorf("-f Maildir: exit %d\n%s", code, out)
	}
	appendFixtures(t, h.path("mbox"), 1, 3)
	out, _, _ = h.mail(t, "", "-f", "-H")
	if strings.Count(out, "\n") != 3 {
		t.Errorf("bare -f (~/mbox):\n%s", out)
	}
	// -f on an mbox: d removes, read messages stay even without hold.
	os.WriteFile(h.path(".mailrc"), []byte("unset hold\n"), 0o600)
	out, _, _ = h.mail(t, "p 1\nd 2\ns 3 "+h.path("copy")+"\nq\n", "-f", h.path("mbox"))
	if !strings.Contains(out, "Held 2 messages") {
		t.Errorf("quit:\n%s", out)
	}
	got := python(t, `
import mailbox, sys
print([(m['Subject'], m['Status']) for m in mailbox.mbox(sys.argv[1])])
`, h.path("mbox"))
	if got != "[('Subject 1', 'RO'), ('Subject 3', 'O')]\n" {
		t.Errorf("mbox: %s", got)
	}
	if _, err := os.Stat(h.path("mbox.lock")); err == nil {
		t.Error("dotlock left behind")
	}
}

func TestNoMail(t *testing.T) {
	h := newHome(t)
	out, stderr, code := h.mail(t, "")
	if code != 1 || out != "" || !strings.HasPrefix(stderr, "No mail for ") {
		t.Errorf("exit %d: %q %q", code, out, stderr)
	}
	if out, _, _ := h.mail(t, "", "-H"); out != "" {
		t.Errorf("-H on no mail: %q", out)
	}
}

// An empty mailbox named by -f (an mbox, a Maildir, ~/mbox) has no mail
// either: exit 1, with nothing on standard output, for -H and for read
// mode, as s-nail ("s-nail -H -f empty.mbox" prints nothing and exits
// 1); s-nail agrees when it is installed.
func TestNoMailInFolder(t *testing.T) {
	h := newHome(t)
	empty := h.path("empty.mbox")
	os.WriteFile(empty, nil, 0o600)
	md := h.path("folder")
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(md, sub), 0o700)
	}
	os.WriteFile(h.path("mbox"), nil, 0o600)
	for _, args := range [][]string{
		{"-H", "-f", empty}, {"-f", empty}, {"-H", "-f", md}, {"-f", md + "/"}, {"-H", "-f"}, {"-f"},
	} {
		out, stderr, code := h.mail(t, "", args...)
		if code != 1 || out != "" || stderr != "" {
			t.Errorf("mail %q: exit %d, stdout %q, stderr %q; want exit 1 and no output", args, code, out, stderr)
		}
	}
	if snail, err := exec.LookPath("s-nail"); err == nil {
		cmd := exec.Command(snail, "-n", "-H", "-f", empty)
		cmd.Env = h.env
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || len(out) != 0 {
			t.Errorf("s-nail -H -f on an empty mbox: %v %q (the test's expectation is s-nail's)", err, out)
		}
	}
	// A missing folder is still an error (66), and one with mail is read.
	if _, stderr, code := h.mail(t, "", "-H", "-f", h.path("missing")); code != 66 || !strings.Contains(stderr, "missing") {
		t.Errorf("missing folder: exit %d %q", code, stderr)
	}
}

func TestMIMEDisplay(t *testing.T) {
	h := newHome(t)
	msg := "From: =?iso-8859-1?q?Andr=E9?= <andre@example.org>\nSubject: =?utf-8?b?w6ljaG8=?=\n" +
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n" +
		"--XX\nContent-Type: multipart/alternative; boundary=YY\n\n" +
		"--YY\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 cr=E8me, soft=\nbreak.\n" +
		"--YY\nContent-Type: text/html\n\n<p>Caf&eacute;</p>\n--YY--\n" +
		"--XX\nContent-Type: application/pdf; name=report.pdf\nContent-Disposition: attachment; filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n" +
		"--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nR3LDvMOfZQo=\n--XX--\n"
	os.MkdirAll(h.path("Maildir/new"), 0o700)
	os.MkdirAll(h.path("Maildir/cur"), 0o700)
	os.MkdirAll(h.path("Maildir/tmp"), 0o700)
	os.WriteFile(h.path("Maildir/new/1.M1P1.test"), []byte(msg), 0o600)
	out, _, _ := h.mail(t, "p\nx\n")
	for _, want := range []string{
		"From: André <andre@example.org>", "Subject: écho", "Café crème, softbreak.",
		"[-- #1.1.2 text/html, 18 bytes --]", `[-- #1.2 application/pdf, 9 bytes, "report.pdf" --]`, "Grüße",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("display lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "JVBERi0") || strings.Contains(out, "=E9") {
		t.Errorf("encoded text shown:\n%s", out)
	}
	// s saves the message as stored, not decoded.
	h.mail(t, "s "+h.path("raw")+"\nx\n")
	raw, _ := os.ReadFile(h.path("raw"))
	if !bytes.Contains(raw, []byte("Caf=E9 cr=E8me")) || !bytes.Contains(raw, []byte("JVBERi0xLjQK")) {
		t.Errorf("s did not save the raw message:\n%s", raw)
	}
}

// TestCorpusDisplays reads every real-world message of the shared corpus
// from a Maildir and from an mbox that delivery wrote: none may crash
// mail, leak a terminal escape, or go missing from the summary.
func TestCorpusDisplays(t *testing.T) {
	files, _ := filepath.Glob("../../shared/corpus/messages/*.eml")
	if len(files) == 0 {
		t.Skip("SKIP: no corpus at ../../shared/corpus/messages")
	}
	h := newHome(t)
	md := maildir.Dir(h.path("Maildir"))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%d.M%dP1.corpus", 1700000000+i, i)
		if err := md.Deliver(name, data, bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
		header, body := splitMessage(data)
		if err := maildir.Mbox(h.path("corpus.mbox")).Append("corpus@example.org", time.Now(), header, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{nil, {"-f", h.path("corpus.mbox")}} {
		out, stderr, code := h.mail(t, "", append([]string{"-H"}, args...)...)
		if code != 0 || strings.Count(out, "\n") != len(files) {
			t.Errorf("%v -H: exit %d, %d lines for %d messages: %s", args, code, strings.Count(out, "\n"), len(files), stderr)
		}
		out, stderr, code = h.mail(t, "p *\nx\n", args...)
		if code != 0 || strings.Contains(stderr, "panic") {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if strings.ContainsRune(out, 0x1b) {
			t.Errorf("%v: an escape character reaches the terminal", args)
		}
		if n := strings.Count(out, "Message "); n < len(files) {
			t.Errorf("%v: %d messages shown of %d", args, n, len(files))
		}
	}
}

// TestCommandTour runs most commands once through a pipe and checks what
// each prints.
func TestCommandTour(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 5)
	script := strings.Join([]string{
		"set screen=2 toplines=1",
		"h",
		"z",
		"z",
		"z",
		"z-",
		"P 1",
		"top 2",
		"size 3",
		"=",
		"!echo shell-ran",
		"?",
		"d 1",
		"f *",
		"u 1",
		"dp 4",
		"pre 2",
		"c 3 " + h.path("copied"),
		"C 5",
		"echo hello 'quoted words'",
		"nosuchcmd",
		"p 9",
		"from user5",
		"f :u",
		"x",
	}, "\n") + "\n"
	out, stderr, code := h.mail(t, script)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"On last screenful of messages",
		"Message-ID: <msg1@example.org>", // P shows every field
		"Message 2:\nFrom: User 2",
		"Body of message 2.\n3: 201\n",                          // top prints one body line
		"Subject 5\nOn last screenful of messages\n N  3 user3", // h, z, z, z, z- with screen=2
		"shell-ran\n!",
		"Commands (MSGS is a message list",
		"Body of message 5.", // dp 4 prints 5
		`"` + h.path("copied") + `" [New file]`,
		"hello quoted words",
		`Unknown command: "nosuchcmd"`,
		`"user5" [New file]`,
		"9: Invalid message number",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	if strings.Count(out, "Message-ID") != 1 {
		t.Errorf("p shows Message-ID by default")
	}
}

// TestComposeFromReadMode composes with m through a pipe: ~m quotes the
// current message, ~e runs $EDITOR on the text, "." ends the message
// and the commands after it still run.
func TestComposeFromReadMode(t *testing.T) {
	h := newHome(t)
	deliverFixtures(t, h.path("Maildir"), 2)
	h.env = append(h.env, "EDITOR=sed -i s/typo/fixed/")
	out, stderr, code := h.mail(t, "2\nm friend@example.org\nA typo here.\n~m\n~e\n.\nr 1\nAll: reply.\n.\nq\n")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	q := h.queue(t)
	if len(q) != 2 {
		t.Fatalf("%d messages queued, want 2\n%s", len(q), out)
	}
	var m, r queued
	for _, x := range q {
		if strings.HasPrefix(x.msg.Header.Get("Subject"), "Re:") {
			r = x
		} else {
			m = x
		}
	}
	if !strings.HasPrefix(m.body, "A fixed here.\n") || !strings.Contains(m.body, "\tBody of message 2.\n") {
		t.Errorf("composed body:\n%s", m.body)
	}
	if m.msg.Header.Get("To") != "friend@example.org" {
		t.Errorf("To %q", m.msg.Header.Get("To"))
	}
	// r answers the sender and the other recipients (me@example.net).
	if !strings.Contains(r.msg.Header.Get("To"), "user1@example.org") || !strings.Contains(r.msg.Header.Get("To"), "me@example.net") {
		t.Errorf("reply To %q", r.msg.Header.Get("To"))
	}
	if !strings.Contains(r.body, "All: reply.") {
		t.Errorf("reply body %q", r.body)
	}
	if !strings.Contains(out, "Held 2 messages") {
		t.Errorf("the commands after the messages did not run:\n%s", out)
	}
}

func TestArgv0Names(t *testing.T) {
	h := newHome(t)
	for _, name := range []string{"mail", "mailx", "Mail"} {
		link := h.path(name)
		if err := os.Symlink(binary(t), link); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(link, "--help")
		cmd.Env = h.env
		out, err := cmd.Output()
		if err != nil || !strings.HasPrefix(string(out), "usage: mail") {
			t.Errorf("%s --help: %v %q", name, err, out)
		}
	}
}
