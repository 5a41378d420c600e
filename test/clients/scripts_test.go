package clients

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// The system scripts of a Debian host call mail(1) as the mailx family
// they were written for expects: apticron as s-nail or bsd-mailx,
// fail2ban as GNU mailutils. Each invocation below is the script's own,
// with HOST for the host name; each must queue the message with exit 0
// and the message must arrive whole.

// reportBody is a report as such scripts write it: UTF-8 text, a line
// holding only a dot and a line that starts with a tilde, none of which
// may change on the way.
const reportBody = "The following packages are currently pending an upgrade:\n\n" +
	"    libc6 2.36-9+deb12u8\n    tzdata 2024b-0+deb12u1 (Zoë's über-fix)\n\n" +
	"~ not a tilde escape\n.\nThe line above holds only a dot.\n"

// mailx returns the path of a link named mailx to the binary: the
// scripts call mail(1) by that name.
func (e *env) mailx() string {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), "mailx")
	if err := os.Symlink(bin("homepost"), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// noDeadLetter fails the test when a dead.letter was written.
func (e *env) noDeadLetter() {
	e.t.Helper()
	if data, err := os.ReadFile(e.path("dead.letter")); err == nil {
		e.t.Errorf("dead.letter written:\n%s", data)
	}
}

// apticron with s-nail installed: -S sets a variable of s-nail's, -r the
// sender.
func TestApticronSNail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	subject := "2 Debian package update(s) for testhost.example"
	e.run(e.command(e.mailx(), "-S", "ttycharset=utf-8", "-r", "root@testhost.example", "-s", subject, "root"), reportBody)
	e.noDeadLetter()
	e.deliver()
	m := bySubject(t, e.maildir(), subject)
	if m.header("From") != "root@testhost.example" || m.header("To") != "root" {
		t.Errorf("header:\n%s", m.rawHeader())
	}
	if parts := e.parts(m); len(parts) != 1 || parts[0] != reportBody {
		t.Errorf("body %q, want %q", parts, reportBody)
	}
}

// apticron with bsd-mailx installed: each -a adds a header line as given,
// the From among them is the message's, and the body goes out as the
// 8-bit text the headers declare.
func TestApticronBSDMailx(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	subject := "2 Debian package update(s) for testhost.example"
	e.run(e.command(e.mailx(), "-a", "MIME-Version: 1.0", "-a", "Content-type: text/plain; charset=UTF-8",
		"-a", "Content-transfer-encoding: 8bit", "-a", "From: root@testhost.example", "-s", subject, "root"), reportBody)
	e.noDeadLetter()
	e.deliver()
	m := bySubject(t, e.maildir(), subject)
	hdr := m.rawHeader()
	for _, want := range []string{"MIME-Version: 1.0", "Content-type: text/plain; charset=UTF-8",
		"Content-transfer-encoding: 8bit", "From: root@testhost.example"} {
		if !strings.Contains(hdr, "\n"+want+"\n") {
			t.Errorf("header lacks %q:\n%s", want, hdr)
		}
	}
	count := map[string]int{}
	for _, n := range headerNames(hdr) {
		count[strings.ToLower(n)]++
	}
	for _, n := range []string{"from", "mime-version", "content-type", "content-transfer-encoding", "subject", "to"} {
		if count[n] != 1 {
			t.Errorf("%d %s fields:\n%s", count[n], n, hdr)
		}
	}
	if string(m.body()) != reportBody {
		t.Errorf("body %q, want %q", m.body(), reportBody)
	}
}

// fail2ban's mail actions, written for GNU mailutils: -E runs a mail
// command before sending.
func TestFail2banMailutils(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	subject := "[Fail2Ban] sshd: banned 192.0.2.10 from testhost.example"
	body := "Hi,\n\nThe IP 192.0.2.10 has just been banned by Fail2Ban after\n5 attempts against sshd.\n\n" +
		"~v lines from the log may start with a tilde\n\nRegards,\n\nFail2Ban\n"
	e.run(e.command(bin("mail"), "-E", "set escape", "-s", subject, "root"), body)
	e.noDeadLetter()
	e.deliver()
	m := bySubject(t, e.maildir(), subject)
	if m.header("To") != "root" {
		t.Errorf("To %q:\n%s", m.header("To"), m.rawHeader())
	}
	if parts := e.parts(m); len(parts) != 1 || parts[0] != body {
		t.Errorf("body %q, want %q", parts, body)
	}
}

// spoolMessage is message i of the fixture system mailbox.
func spoolMessage(i int) string {
	return fmt.Sprintf("From sender%d@example.org Sat Jan  2 08:%02d:00 2021\n"+
		"From: Sender %d <sender%d@example.org>\nTo: me@example.net\nSubject: spool %d\n"+
		"Date: Sat, 2 Jan 2021 08:%02d:00 +0000\nMessage-ID: <spool%d@example.org>\n\n"+
		"Body of spool message %d.\n\n", i, i, i, i, i, i, i, i)
}

// mailEnv is a user with one message in the store (~/Maildir) and three
// in a system mailbox that $MAIL names.
func mailEnv(t *testing.T) (*env, string) {
	e := newEnv(t, "")
	e.sendmail("Subject: in the store\n\nstored body\n", "root")
	e.deliver()
	spool := e.writeFile("spool/mail", spoolMessage(1)+spoolMessage(2)+spoolMessage(3))
	return e, spool
}

// mailWith runs mail with $MAIL set and the given input; it returns the
// output and exit code.
func (e *env) mailWith(mail, stdin string, extra []string, args ...string) (string, string, int) {
	e.t.Helper()
	c := e.command(bin("mail"), append([]string{"-n"}, args...)...)
	c.Env = append(c.Env, "MAIL="+mail)
	c.Env = append(c.Env, extra...)
	out, errOut, err := e.try(c, stdin)
	var xe *exec.ExitError
	if err != nil && !errors.As(err, &xe) {
		e.t.Fatalf("mail: %v", err)
	}
	return out, errOut, c.ProcessState.ExitCode()
}

// subjects lists the subjects of an mbox read with Python's mailbox.
func (e *env) subjects(kind, path string) []string {
	e.t.Helper()
	var out []string
	for _, m := range e.readStore(kind, path) {
		out = append(out, m.header("Subject"))
	}
	return out
}

// mail(1) reads the system mailbox that $MAIL names, as POSIX mailx does:
// the summary, -e, and quit's hold, save to MBOX and delete act on it,
// not on the store.
func TestMailReadsMAIL(t *testing.T) {
	t.Parallel()
	t.Run("summary", func(t *testing.T) {
		t.Parallel()
		e, spool := mailEnv(t)
		out, errOut, code := e.mailWith(spool, "", nil, "-H")
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if code != 0 || len(lines) != 3 || strings.Contains(out, "in the store") {
			t.Fatalf("mail -H: exit %d, want the 3 messages of $MAIL:\n%s%s", code, out, errOut)
		}
		if !strings.HasPrefix(lines[0], ">N  1 sender1@example.org") || !strings.Contains(lines[2], "spool 3") {
			t.Errorf("mail -H:\n%s", out)
		}
	})
	t.Run("check", func(t *testing.T) {
		t.Parallel()
		e, spool := mailEnv(t)
		if _, _, code := e.mailWith(spool, "", nil, "-e"); code != 0 {
			t.Errorf("mail -e with mail in $MAIL: exit %d", code)
		}
		empty := e.writeFile("spool/empty", "")
		if _, _, code := e.mailWith(empty, "", nil, "-e"); code != 1 {
			t.Errorf("mail -e with an empty $MAIL: exit %d, want 1", code)
		}
		if _, errOut, code := e.mailWith(empty, "", nil, "-H"); code != 1 || !strings.Contains(errOut, "No mail for ") {
			t.Errorf("mail -H with an empty $MAIL: exit %d, %q", code, errOut)
		}
	})
	t.Run("hold", func(t *testing.T) {
		t.Parallel()
		e, spool := mailEnv(t)
		out, errOut, code := e.mailWith(spool, "1\nquit\n", nil)
		if code != 0 || !strings.Contains(out, "Body of spool message 1.") {
			t.Fatalf("exit %d:\n%s%s", code, out, errOut)
		}
		if got := e.subjects("mbox", spool); strings.Join(got, "|") != "spool 1|spool 2|spool 3" {
			t.Errorf("$MAIL holds %q after hold", got)
		}
		if _, err := os.Stat(e.path("mbox")); err == nil {
			t.Errorf("~/mbox written with hold set")
		}
		if got := e.subjects("maildir", e.path("Maildir")); len(got) != 1 {
			t.Errorf("the store holds %q", got)
		}
	})
	t.Run("mbox", func(t *testing.T) {
		t.Parallel()
		e, spool := mailEnv(t)
		saved := e.path("saved")
		out, errOut, code := e.mailWith(spool, "unset hold\n1\nquit\n", []string{"MBOX=" + saved})
		if code != 0 {
			t.Fatalf("exit %d:\n%s%s", code, out, errOut)
		}
		if got := e.subjects("mbox", spool); strings.Join(got, "|") != "spool 2|spool 3" {
			t.Errorf("$MAIL holds %q after the read message moved to MBOX", got)
		}
		if got := e.subjects("mbox", saved); strings.Join(got, "|") != "spool 1" {
			t.Errorf("MBOX holds %q", got)
		}
	})
	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		e, spool := mailEnv(t)
		out, errOut, code := e.mailWith(spool, "d 2\nquit\n", nil)
		if code != 0 {
			t.Fatalf("exit %d:\n%s%s", code, out, errOut)
		}
		if got := e.subjects("mbox", spool); strings.Join(got, "|") != "spool 1|spool 3" {
			t.Errorf("$MAIL holds %q after d 2", got)
		}
		if got := e.subjects("maildir", e.path("Maildir")); len(got) != 1 {
			t.Errorf("the store holds %q", got)
		}
	})
	// The default that pam_mail puts in a login shell's environment
	// names a file that homepost never writes: absent or empty, it does
	// not hide the store.
	t.Run("pam_mail", func(t *testing.T) {
		t.Parallel()
		e, _ := mailEnv(t)
		login := testenv.Login(t)
		for _, p := range []string{"/var/mail/" + login, "/var/spool/mail/" + login} {
			if st, err := os.Stat(p); err == nil && st.Size() > 0 {
				t.Logf("%s holds mail: not tried", p)
				continue
			}
			out, errOut, code := e.mailWith(p, "", nil, "-H")
			if code != 0 || !strings.Contains(out, "in the store") {
				t.Errorf("MAIL=%s mail -H: exit %d, want the store:\n%s%s", p, code, out, errOut)
			}
		}
	})
}
