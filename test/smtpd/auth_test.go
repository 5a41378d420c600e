package smtpd_test

import (
	"crypto/tls"
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// The user's own programs set up with some SMTP user and password log
// in and send: Python's smtplib.login over TCP and over the Unix
// socket, Go's net/smtp with PlainAuth. The agent logs that the login
// was not needed.
func TestOwnProgramsWithCredentials(t *testing.T) {
	l := start(t)
	out := testenv.Python(t, `
import smtplib, socket, sys
addr, path, rcpt = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = addr.rsplit(':', 1)
with smtplib.SMTP(host, int(port), timeout=20) as s:
    s.login('nextcloud@example.org', 'placeholder')
    s.sendmail('nc@example.org', [rcpt], b'Subject: smtplib login tcp\r\n\r\nx\r\n')
s = smtplib.SMTP(timeout=20)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
s.sock = sock
s.getreply()
s.login('someone', 'something')
s.sendmail('nc@example.org', [rcpt], b'Subject: smtplib login unix\r\n\r\nx\r\n')
s.quit()
print('sent')
`, l.Addr, l.Socket, l.Rcpt)
	if strings.TrimSpace(out) != "sent" {
		t.Fatalf("smtplib: %s", out)
	}
	host := strings.Split(l.Addr, ":")[0]
	err := smtp.SendMail(l.Addr, smtp.PlainAuth("", "gitea", "secret-of-gitea", host), "gitea@example.org",
		[]string{l.Rcpt}, []byte("Subject: net/smtp login\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatalf("net/smtp: %v", err)
	}
	got := l.delivered(3)
	for i, subj := range []string{"net/smtp login", "smtplib login tcp", "smtplib login unix"} {
		if !strings.HasPrefix(got[i], subj+"|") {
			t.Errorf("delivered %s, want %s", got[i], subj)
		}
	}
	if log := l.agent.Stderr.(*testenv.LockedBuffer).String(); strings.Count(log, "login not needed") != 3 {
		t.Errorf("the agent's log does not say three times that the login was not needed:\n%s", log)
	}
}

// What the listener refuses is in the agent's log: a message over
// max_message_size, with the client, its uid, the sender and the reply,
// and a client set to TLS on the plain port, with what to set instead.
func TestRefusalsInAgentLog(t *testing.T) {
	l := setup(t, "")
	cfg := l.Path(".config", "homepost", "config.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The [smtp] table is the file's last.
	if err := os.WriteFile(cfg, append(b, "max_message_size = \"20K\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	l.agent = l.StartAgent()
	l.waitListening()
	out := testenv.Python(t, `
import smtplib, sys
host, port = sys.argv[1].rsplit(':', 1)
s = smtplib.SMTP(host, int(port), timeout=20)
try:
    s.sendmail('app@example.org', [sys.argv[2]], b'Subject: big\r\n\r\n' + b'x' * 30000 + b'\r\n')
except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
    print(e.smtp_code, e.smtp_error.decode())
s.noop()
s.quit()
`, l.Addr, l.Rcpt)
	if want := "552 5.3.4 message larger than the 20 KiB [smtp] max_message_size"; strings.TrimSpace(out) != want {
		t.Errorf("smtplib: %q, want %q", out, want)
	}
	c, err := tls.Dial("tcp", l.Addr, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		c.Close()
		t.Errorf("a TLS handshake on the plain port succeeded")
	}
	buf := l.agent.Stderr.(*testenv.LockedBuffer)
	l.WaitFor(func() bool { return strings.Contains(buf.String(), "the client speaks TLS") }, "the TLS client in the log")
	time.Sleep(50 * time.Millisecond)
	log := buf.String()
	for _, want := range []string{
		`level=WARN msg="smtp: message refused" peer=127.0.0.1:`,
		`from=app@example.org nrcpt=0 reply="552 5.3.4 message larger than the 20 KiB [smtp] max_message_size"`,
		`level=WARN msg="smtp: the client speaks TLS: set it to no encryption (plain SMTP); session closed" peer=127.0.0.1:`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the agent's log lacks %s:\n%s", want, log)
		}
	}
}
