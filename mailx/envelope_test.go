package mailx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// plantMaildir makes a Maildir at dir with files of the given contents
// in new/.
func plantMaildir(t *testing.T, dir string, files ...string) {
	t.Helper()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range files {
		name := filepath.Join(dir, "new", "160957740"+string(rune('0'+i))+".M1P1.test")
		if err := os.WriteFile(name, []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// A Maildir file that starts with an mbox "From " line (files copied
// out of an mbox: the corpus has two) shows its header decoded, and a
// copy to an mbox has that line as its From_ line, not a ">From " first
// header line that s-nail reads as part of the previous message.
func TestMaildirFileWithFromLine(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	msg := func(n string) string {
		return "From a" + n + "@b.example Mon Feb  8 02:53:47 PST 1993\n" +
			"From: X <a" + n + "@b.example>\nSubject: =?utf-8?q?caf=C3=A9_" + n + "?=\nMIME-Version: 1.0\n" +
			"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 body " + n + "\n"
	}
	plantMaildir(t, md, msg("1"), msg("2"))
	out := h.path("out.mbox")
	stdout, stderr, code := h.mail(t, "p 1\ncopy * "+out+"\nq\n", "-N", "-f", md)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	for _, want := range []string{"Subject: café 1\n", "café body 1\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("p 1 lacks %q:\n%s", want, stdout)
		}
	}
	// The envelope line is shown as an mbox message's is, before
	// the header.
	if !strings.Contains(stdout, "Message 1:\nFrom a1@b.example Mon Feb  8 02:53:47 PST 1993\nFrom: X") {
		t.Errorf("p 1:\n%s", stdout)
	}
	data, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(data), "From a1@b.example Mon Feb  8 02:53:47 1993\nFrom: X <a1@b.example>\n") ||
		strings.Contains(string(data), ">From a") {
		t.Errorf("the copy:\n%s", data)
	}
	if snail, err := exec.LookPath("s-nail"); err == nil {
		cmd := exec.Command(snail, "-n", "-N", "-H", "-f", out)
		cmd.Env = append(h.env, "MAILRC=/dev/null", "COLUMNS=120")
		o, _ := cmd.CombinedOutput()
		if lines := strings.Split(strings.TrimSpace(string(o)), "\n"); len(lines) != 2 || !strings.Contains(string(o), "café 2") {
			t.Errorf("s-nail lists:\n%s", o)
		}
	}
}

// A copy to an mbox gets an ASCII "From " line: the envelope sender
// (Return-Path) when there is one, else the From address, else, when
// that is not ASCII (a UTF-8 address), MAILER-DAEMON as mutt and s-nail
// write; Python's mailbox.mbox fails on any other byte.
func TestSaveFromLineIsASCII(t *testing.T) {
	h := newHome(t)
	md := h.path("Maildir")
	plantMaildir(t, md,
		"From: Jö <jdöe@mächine.example>\nSubject: one\n\nbody\n",
		"Return-Path: <bounce@example.org>\nFrom: Jö <jdöe@mächine.example>\nSubject: two\n\nbody\n")
	out := h.path("out.mbox")
	stdout, stderr, code := h.mail(t, "copy * "+out+"\nq\n", "-N", "-f", md)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	got := python(t, `
import mailbox, sys
for m in mailbox.mbox(sys.argv[1]):
    print(m.get_from().split()[0], m['Subject'])
`, out)
	if got != "MAILER-DAEMON one\nbounce@example.org two\n" {
		t.Errorf("python reads:\n%s", got)
	}
}
