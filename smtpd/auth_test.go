package smtpd

import (
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"
)

// A program of the user's own configured with any SMTP username and
// password (PHPMailer with SMTPAuth, Nextcloud, smtplib.login) logs in
// with AUTH whatever it gives, on TCP as on the Unix socket: its peer
// is known to be the user, so the login is not needed, and the log
// says so. The message is taken.
func TestOwnProgramAuthAccepted(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	for _, nw := range []string{"tcp", "unix"} {
		addr := ts.tcp
		if nw == "unix" {
			addr = ts.unix
		}
		d := dial(t, nw, addr)
		if r := d.cmd("EHLO web.example", "250"); !strings.Contains(r, "AUTH PLAIN") {
			t.Errorf("%s: EHLO does not offer AUTH PLAIN:\n%s", nw, r)
		}
		d.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00someone@example.org\x00placeholder")), "235")
		d.cmd("MAIL FROM:<www-data@web.example>", "250")
		d.cmd("RCPT TO:<me@testhost.example>", "250")
		d.cmd("DATA", "354")
		d.send("Subject: logged in\r\n\r\nhi\r\n.\r\n")
		d.expect("250 2.0.0")
		d.cmd("QUIT", "221")
	}
	if q := queued(t, ts.cfg); len(q) != 2 {
		t.Errorf("%d queued, want 2", len(q))
	}
	if l := ts.log.String(); strings.Count(l, "login not needed") != 2 || !strings.Contains(l, "username=someone@example.org") {
		t.Errorf("the log does not say twice that the login was not needed:\n%s", l)
	}
}

// A client of another user is still refused without the secret, and the
// 535 tells it what to do: log in as the user with the secret that
// homepost check shows the user. It does not name the secret's file:
// the user's file layout is none of another user's business.
func TestOtherUserAuthFailedSaysWhatToDo(t *testing.T) {
	foreignTCP(t)
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	r := d.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00someone\x00placeholder")), "535 5.7.8")
	if want := "535 5.7.8 Authentication failed: log in as alice with the secret that `homepost check` shows to alice (the user's own programs need no login)"; r != want {
		t.Errorf("535 %q, want %q", r, want)
	}
	if strings.Contains(r, ts.cfg.SMTP.SecretFile) || strings.Contains(r, "/") {
		t.Errorf("535 %q names a path", r)
	}
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
}

// A session of another user that has not logged in within authWait is
// told so, not that it was idle.
func TestNoLoginInTimeSaysSo(t *testing.T) {
	foreignTCP(t)
	saved := authWait
	authWait = 300 * time.Millisecond
	t.Cleanup(func() { authWait = saved })
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	time.Sleep(2 * authWait)
	d.send("NOOP\r\n")
	r := d.expect("421 4.7.0")
	if !strings.Contains(r, "no login within 300ms") || strings.Contains(r, "Idle") {
		t.Errorf("reply %q, want one that says no login within 300ms", r)
	}
	if !strings.Contains(r, "log in as alice with the secret that `homepost check` shows to alice") || strings.Contains(r, "/") {
		t.Errorf("reply %q, want one that says how to log in, naming no path", r)
	}
}
