package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// forwardEnv is a HOME with a fixture standing in for /etc/aliases (the
// chain a Debian host has), the user's own aliases with every target
// kind, and a delivery log file for pipes.
func forwardEnv(t *testing.T) *testenv.Env {
	t.Helper()
	dir := t.TempDir()
	sys := filepath.Join(dir, "aliases")
	me := testenv.Login(t)
	os.WriteFile(sys, []byte("# fixture for /etc/aliases\nmailer-daemon: postmaster\npostmaster: root\nroot: "+me+"\n"), 0o644)
	e := testenv.New(t, fmt.Sprintf("system_aliases = %q\n", sys))
	pipeOut := e.Path("pipe.out")
	script := e.Path("exit.sh")
	os.WriteFile(script, []byte("#!/bin/sh\ncat >> "+e.Path("script.out")+"\nexit $CODE_FROM_ALIAS\n"), 0o755)
	aliases := strings.Join([]string{
		"archive: " + e.Path("archive.mbox"),
		"box: " + e.Path("box") + "/",
		"pipe: \"|cat >> " + pipeOut + "\"",
		"both: \\" + me + ", archive",
		"temp: \"|" + script + " 75\"",
		"gone: \"|echo 5.1.1 no such list; exit 67\"",
		"",
	}, "\n")
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte(aliases), 0o600)
	return e
}

func TestForwardingTargets(t *testing.T) {
	t.Parallel()
	e := forwardEnv(t)
	me := testenv.Login(t)
	e.MustSend("Subject: to mailer-daemon\n\nchain\n", "mailer-daemon")
	e.MustSend("Subject: to archive\n\nFrom here\n", "archive@localhost")
	e.MustSend("Subject: to box\n\nm\n", "box")
	e.MustSend("Subject: to pipe\n\np\n", "pipe+ext")
	e.MustSend("Subject: to both\n\nb\n", "both")
	e.Once()

	inbox := testenv.Files(e.Path("Maildir", "new"))
	if len(inbox) != 2 {
		t.Fatalf("~/Maildir/new has %v, want the chain's copy and both's", inbox)
	}
	out := testenv.Python(t, `
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for m in sorted(md, key=lambda m: m['Subject']):
    print(m['Subject'], '|', m['Delivered-To'], '|', m['X-Original-To'])
`, e.Path("Maildir"))
	want := "to both | " + me + "@testhost.example | both@testhost.example\n" +
		"to mailer-daemon | " + me + "@testhost.example | mailer-daemon@testhost.example\n"
	if out != want {
		t.Errorf("store:\n%s\nwant:\n%s", out, want)
	}
	mbox, _ := os.ReadFile(e.Path("archive.mbox"))
	if strings.Count(string(mbox), "\nSubject: to ") != 2 || !strings.Contains(string(mbox), "\n>From here\n") {
		t.Errorf("archive mbox:\n%s", mbox)
	}
	if n := testenv.Files(e.Path("box", "new")); len(n) != 1 {
		t.Errorf("box Maildir: %v", n)
	}
	pipe, _ := os.ReadFile(e.Path("pipe.out"))
	if !strings.Contains(string(pipe), "Subject: to pipe") || !strings.Contains(string(pipe), "Delivered-To: pipe+ext@testhost.example") {
		t.Errorf("pipe got:\n%s", pipe)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}

// A command exiting 75 defers (mailq says why); one exiting 67 with an
// enhanced status code bounces, and the DSN lands in the store.
func TestCommandExitCodesAndDSN(t *testing.T) {
	t.Parallel()
	e := forwardEnv(t)
	// The script reads its exit code from its argument.
	os.WriteFile(e.Path("exit.sh"), []byte("#!/bin/sh\ncat >/dev/null\nexit $1\n"), 0o755)
	e.MustSend("Subject: temp\n\nx\n", "-f", testenv.Login(t)+"@testhost.example", "temp")
	e.MustSend("Subject: gone\n\nx\n", "-f", testenv.Login(t)+"@testhost.example", "gone")
	e.Once()
	q, _, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "temp") || strings.Contains(q, "gone") || !strings.Contains(unwrapped(q), "exit status 75 (temporary failure))") {
		t.Errorf("mailq after 75 and 67:\n%s", q)
	}
	inbox := testenv.Files(e.Path("Maildir", "new"))
	if len(inbox) != 1 {
		t.Fatalf("want one DSN in the store, got %v", inbox)
	}
	out := testenv.Python(t, `
import email, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'))
print(m.get_content_type(), m.get_param('report-type'))
for part in m.walk():
    if part.get_content_type() == 'message/delivery-status':
        for block in part.get_payload():
            for k in ('Action', 'Status', 'Final-Recipient', 'Original-Recipient'):
                if block[k]: print(k, block[k])
    if part.get_content_type() == 'message/rfc822':
        inner = part.get_payload(0)
        print('headers', inner['Subject'] == 'gone', 'body', inner.get_payload() == 'x\n')
`, e.Path("Maildir", "new", inbox[0]))
	for _, want := range []string{"multipart/report delivery-status", "Action failed", "Status 5.1.1", "headers True body True"} {
		if !strings.Contains(out, want) {
			t.Errorf("DSN lacks %q:\n%s", want, out)
		}
	}
}

// A message that already carries Delivered-To for the recipient is a
// forwarding loop: bounced with 5.4.6, never delivered again.
func TestForwardingLoopBounces(t *testing.T) {
	t.Parallel()
	e := forwardEnv(t)
	me := testenv.Login(t)
	e.MustSend("Delivered-To: "+me+"@testhost.example\nSubject: loop\n\nx\n", "-f", "someone@testhost.example", me)
	e.Once()
	inbox := testenv.Files(e.Path("Maildir", "new"))
	if len(inbox) != 1 {
		t.Fatalf("store: %v", inbox)
	}
	b, _ := os.ReadFile(e.Path("Maildir", "new", inbox[0]))
	if !strings.Contains(string(b), "multipart/report") || !strings.Contains(string(b), "5.4.6") {
		t.Errorf("want a DSN with 5.4.6, got:\n%s", b)
	}
	// A bounce of a bounce is never made.
	e.MustSend("Delivered-To: "+me+"@testhost.example\nSubject: loop2\n\nx\n", "-f", "<>", me)
	e.Once()
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 1 {
		t.Errorf("a DSN to the null sender was stored: %v", n)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}

// An unsafe ~/.forward is not obeyed: mail stays in the store.
func TestUnsafeForwardIgnored(t *testing.T) {
	t.Parallel()
	e := forwardEnv(t)
	os.WriteFile(e.Path(".forward"), []byte("|cat > "+e.Path("forwarded")+"\n"), 0o666)
	os.Chmod(e.Path(".forward"), 0o666)
	e.MustSend("Subject: s\n\nx\n", testenv.Login(t))
	e.Once()
	if _, err := os.Stat(e.Path("forwarded")); err == nil {
		t.Error("a world-writable .forward was obeyed")
	}
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 1 {
		t.Errorf("store: %v", n)
	}
	// Made safe, it is obeyed.
	os.Chmod(e.Path(".forward"), 0o600)
	e.MustSend("Subject: s2\n\nx\n", testenv.Login(t))
	e.Once()
	if b, err := os.ReadFile(e.Path("forwarded")); err != nil || !strings.Contains(string(b), "Subject: s2") {
		t.Errorf("safe .forward not obeyed: %v %s", err, b)
	}
}

// Two recipients that lead to the same place get one copy.
func TestDuplicateElimination(t *testing.T) {
	t.Parallel()
	e := forwardEnv(t)
	e.MustSend("Subject: dup\n\nx\n", "root", "postmaster", testenv.Login(t))
	e.Once()
	if n := testenv.Files(e.Path("Maildir", "new")); len(n) != 1 {
		t.Errorf("want one copy for root, postmaster and the user, got %v", n)
	}
	if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
		t.Errorf("mailq:\n%s", q)
	}
}
