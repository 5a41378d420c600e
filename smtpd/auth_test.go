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

// b64 is a SASL response line.
func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// The base64 of LOGIN's challenges.
var (
	loginUsername = "334 " + b64("Username:")
	loginPassword = "334 " + b64("Password:")
)

// A client of another user that has not logged in is told that it may:
// the 530 says what to do, not that the listener is the user's only.
func TestOtherUser530SaysToLogIn(t *testing.T) {
	ts := startServer(t, os.Getuid()+1, nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	r := d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
	if want := "530 5.7.0 Authentication required: this listener takes mail from its user's own programs; others must AUTH with the user's secret"; r != want {
		t.Errorf("530 %q, want %q", r, want)
	}
}

// A client of another user may log in with AUTH LOGIN (for the clients
// that know no other mechanism, or pick it first), as with PLAIN: the
// user's login name and the secret. A wrong password gets 535 and the
// session stays refused; the log names the mechanism and the user name,
// never a password.
func TestOtherUserAuthLogin(t *testing.T) {
	ts := startServer(t, os.Getuid()+1, nil)
	secret, err := ReadSecret(ts.cfg.SMTP.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	d := dial(t, "tcp", ts.tcp)
	if r := d.cmd("EHLO c", "250"); !strings.Contains(r, "250-AUTH PLAIN LOGIN\n") && !strings.HasSuffix(r, "250 AUTH PLAIN LOGIN") {
		t.Errorf("EHLO does not offer AUTH PLAIN LOGIN:\n%s", r)
	}
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
	const wrong = "guessguessguessguess"
	d.cmd("AUTH LOGIN", loginUsername)
	d.cmd(b64("alice"), loginPassword)
	r := d.cmd(b64(wrong), "535 5.7.8")
	if !strings.Contains(r, "log in as alice with the secret that `homepost check` shows to alice") {
		t.Errorf("535 %q does not say how to log in", r)
	}
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
	// The secret under another name is refused as well.
	d.cmd("AUTH LOGIN", loginUsername)
	d.cmd(b64("mallory"), loginPassword)
	d.cmd(b64(secret), "535 5.7.8")
	d.cmd("AUTH LOGIN", loginUsername)
	d.cmd(b64("alice"), loginPassword)
	d.cmd(b64(secret), "235 2.0.0")
	d.cmd("AUTH LOGIN", "503 5.5.1")
	d.cmd("MAIL FROM:<a@b>", "250")
	d.cmd("RCPT TO:<me@testhost.example>", "250")
	d.cmd("DATA", "354")
	d.send("Subject: login\r\n\r\nhi\r\n.\r\n")
	d.expect("250 2.0.0")
	d.cmd("QUIT", "221")
	if q := queued(t, ts.cfg); len(q) != 1 {
		t.Errorf("%d queued, want 1", len(q))
	}
	l := ts.log.String()
	if strings.Count(l, `msg="smtp: AUTH failed"`) != 2 || !strings.Contains(l, "mech=LOGIN username=alice") || !strings.Contains(l, "mech=LOGIN username=mallory") {
		t.Errorf("the log does not name the two failed LOGINs:\n%s", l)
	}
	if strings.Contains(l, secret) || strings.Contains(l, wrong) {
		t.Errorf("the log holds a password:\n%s", l)
	}
}

// AUTH LOGIN with the user name on the command line (the initial
// response) asks for the password only.
func TestOtherUserAuthLoginInitialResponse(t *testing.T) {
	ts := startServer(t, os.Getuid()+1, nil)
	secret, err := ReadSecret(ts.cfg.SMTP.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("AUTH LOGIN "+b64("alice"), loginPassword)
	d.cmd(b64(secret), "235 2.0.0")
	d.cmd("MAIL FROM:<a@b>", "250")
}

// A client that gives up within AUTH LOGIN ("*") gets 501, stays
// refused, and may log in again.
func TestOtherUserAuthLoginCancel(t *testing.T) {
	ts := startServer(t, os.Getuid()+1, nil)
	secret, err := ReadSecret(ts.cfg.SMTP.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("AUTH LOGIN", loginUsername)
	d.cmd("*", "501")
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
	d.cmd("AUTH LOGIN "+b64("alice"), loginPassword)
	d.cmd("*", "501")
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
	d.cmd("AUTH LOGIN", loginUsername)
	d.cmd(b64("alice"), loginPassword)
	d.cmd(b64(secret), "235")
	d.cmd("MAIL FROM:<a@b>", "250")
	if strings.Contains(ts.log.String(), "AUTH failed") {
		t.Errorf("a cancelled login is logged as failed:\n%s", ts.log.String())
	}
}

// A response that is not base64 ends the AUTH command with 501 5.5.2,
// as RFC 4954 has it, not with a 454 that asks the client to try again
// later; the session stays refused.
func TestAuthLoginBadBase64(t *testing.T) {
	ts := startServer(t, os.Getuid()+1, nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("AUTH LOGIN", loginUsername)
	d.cmd("not base64!", "501 5.5.2")
	d.cmd("AUTH LOGIN not-base64!", "501 5.5.2")
	d.cmd("AUTH PLAIN not-base64!", "501 5.5.2")
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
}

// The user's own program may log in with AUTH LOGIN and anything, as
// with PLAIN.
func TestOwnProgramAuthLoginAccepted(t *testing.T) {
	ts := startServer(t, os.Getuid(), nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("AUTH LOGIN", loginUsername)
	d.cmd(b64("someone@example.org"), loginPassword)
	d.cmd(b64("placeholder"), "235")
	d.cmd("MAIL FROM:<a@b>", "250")
	if l := ts.log.String(); !strings.Contains(l, "login not needed") || !strings.Contains(l, "mech=LOGIN username=someone@example.org") || strings.Contains(l, "placeholder") {
		t.Errorf("the log does not say that the login was not needed, or holds the password:\n%s", l)
	}
}

// "=" is an empty initial response (RFC 4954 4): for PLAIN it holds no
// credentials, a malformed response answered 501, which the client
// must not try again as is, not with a temporary 454.
func TestAuthPlainEmptyResponse(t *testing.T) {
	ts := startServer(t, os.Getuid()+1, nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	d.cmd("AUTH PLAIN =", "501 5.5.2")
	d.cmd("AUTH PLAIN", "334")
	d.cmd("=", "501 5.5.2")
	d.cmd("AUTH PLAIN "+b64("no nul bytes"), "501 5.5.2")
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
}

// A mechanism that is not offered is answered 504 5.5.4 (RFC 4954 6),
// whatever follows it: its initial response is not looked at.
func TestAuthUnknownMechanism(t *testing.T) {
	ts := startServer(t, os.Getuid()+1, nil)
	d := dial(t, "tcp", ts.tcp)
	d.cmd("EHLO c", "250")
	for _, c := range []string{"AUTH XOAUTH2 abc", "AUTH XOAUTH2 YWJj", "AUTH CRAM-MD5", "AUTH XOAUTH2 ="} {
		if r := d.cmd(c, "504"); r != "504 5.5.4 Unrecognized authentication type" {
			t.Errorf("%s: %q", c, r)
		}
	}
	d.cmd("MAIL FROM:<a@b>", "530 5.7.0")
}
