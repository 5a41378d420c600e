package clients

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// php runs a PHP script with sendmail_path set as a web application's
// php.ini sets it, and returns what the script prints.
func (e *env) php(script string, args ...string) string {
	e.t.Helper()
	need(e.t, "php")
	argv := append([]string{"-d", "sendmail_path=" + bin("sendmail") + " -t -i", "-d", "display_errors=stderr", "-r", script, "--"}, args...)
	out, _ := e.run(e.command("php", argv...), "")
	return out
}

// PHP's mail() pipes the message into "sendmail -t -i": it arrives with
// the From the script gave, PHP's To and Subject, and the body.
func TestPHPMail(t *testing.T) {
	t.Parallel()
	need(t, "php")
	e := newEnv(t, "")
	out := e.php(`var_export(mail("root", "Your order #42", "Thank you.\nLine two.\n.\nafter a dot line", "From: Shop <shop@example.org>\r\nX-Mailer: PHP/" . phpversion()));`)
	if out != "true" {
		t.Fatalf("mail() returned %s", out)
	}
	e.deliver()
	msgs := e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message, got %d", len(msgs))
	}
	m := msgs[0]
	if !strings.Contains(m.rawHeader(), "\nFrom: Shop <shop@example.org>\n") {
		t.Errorf("From not kept:\n%s", m.rawHeader())
	}
	for name, want := range map[string]string{"To": "root", "Subject": "Your order #42"} {
		if got := m.header(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if m.header("Date") == "" || m.header("Message-ID") == "" {
		t.Errorf("Date or Message-ID not completed:\n%s", m.rawHeader())
	}
	// PHP ends its header lines and the body with CRLF; the store has LF.
	if got, want := string(m.body()), "Thank you.\nLine two.\n.\nafter a dot line\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	if bytes.Contains(m.Raw, []byte("\r")) {
		t.Errorf("CR left in the stored message:\n%q", m.Raw)
	}
}

// A PHP script that puts Bcc in its headers: the Bcc recipient gets the
// mail, and no stored copy (neither the Bcc recipient's nor the others')
// shows the Bcc field or the Bcc address.
func TestPHPMailBccStaysSecret(t *testing.T) {
	t.Parallel()
	need(t, "php")
	e := newEnv(t, "")
	secret := e.path("secret.mbox")
	e.writeFile(".config/homepost/aliases", "auditor: "+secret+"\n")
	out := e.php(`var_export(mail("root", "Invoice", "Total: 12 EUR", "From: billing@example.org\r\nCc: postmaster@localhost\r\nBcc: auditor@localhost"));`)
	if out != "true" {
		t.Fatalf("mail() returned %s", out)
	}
	e.deliver()
	msgs := e.maildir()
	// root and postmaster are both the user: one copy or two.
	if len(msgs) == 0 || len(msgs) > 2 {
		t.Fatalf("want a copy in ~/Maildir (To root, Cc postmaster), got %d", len(msgs))
	}
	for _, m := range msgs {
		if bytes.Contains(bytes.ToLower(m.Raw), []byte("bcc")) || bytes.Contains(m.Raw, []byte("auditor")) {
			t.Errorf("the Bcc recipient shows in a copy for %s:\n%s", m.header("Delivered-To"), m.Raw)
		}
		if m.header("Cc") != "postmaster@localhost" {
			t.Errorf("Cc: %q", m.header("Cc"))
		}
	}
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("the Bcc recipient got nothing: %v", err)
	}
	hidden := e.readStore("mbox", secret)
	if len(hidden) != 1 {
		t.Fatalf("want 1 message in the Bcc recipient's mbox, got %d", len(hidden))
	}
	if h := hidden[0]; h.header("Subject") != "Invoice" || strings.Contains(strings.ToLower("\n"+h.rawHeader()), "\nbcc:") {
		t.Errorf("the Bcc recipient's copy:\n%s", h.Raw)
	}
}

// PHP mailers (Symfony Mailer, PHPMailer) can talk SMTP to "sendmail -bs"
// over pipes. This script does what they do: EHLO, MAIL, RCPT, DATA with
// dot-stuffing, QUIT; the message arrives with its lines unstuffed.
func TestPHPSendmailBS(t *testing.T) {
	t.Parallel()
	need(t, "php")
	e := newEnv(t, "")
	const script = `
$p = proc_open([$argv[1], '-bs'], [0 => ['pipe', 'r'], 1 => ['pipe', 'w']], $pipes);
if (!is_resource($p)) { fwrite(STDERR, "proc_open failed\n"); exit(1); }
function expect($pipes, $code) {
	do {
		$l = fgets($pipes[1]);
		if ($l === false) { fwrite(STDERR, "EOF, wanted $code\n"); exit(1); }
	} while (strlen($l) > 3 && $l[3] === '-');
	if (substr($l, 0, 3) !== $code) { fwrite(STDERR, "got $l, wanted $code\n"); exit(1); }
	echo $l;
}
function say($pipes, $s) { fwrite($pipes[0], $s . "\r\n"); fflush($pipes[0]); }
expect($pipes, '220');
say($pipes, 'EHLO [127.0.0.1]'); expect($pipes, '250');
say($pipes, 'MAIL FROM:<app@example.org>'); expect($pipes, '250');
say($pipes, 'RCPT TO:<root@localhost>'); expect($pipes, '250');
say($pipes, 'DATA'); expect($pipes, '354');
$msg = "From: App <app@example.org>\r\nTo: root@localhost\r\nSubject: via -bs\r\n\r\n.leading dot\r\n.\r\nlast line\r\n";
fwrite($pipes[0], str_replace("\r\n.", "\r\n..", $msg));
say($pipes, '.'); expect($pipes, '250');
say($pipes, 'QUIT'); expect($pipes, '221');
fclose($pipes[0]); fclose($pipes[1]);
echo "exit ", proc_close($p), "\n";
`
	out := e.php(script, bin("sendmail"))
	if !strings.HasSuffix(out, "exit 0\n") {
		t.Fatalf("the SMTP dialogue:\n%s", out)
	}
	e.deliver()
	msgs := e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 message, got %d", len(msgs))
	}
	m := msgs[0]
	if m.header("Subject") != "via -bs" || m.header("Return-Path") != "<app@example.org>" {
		t.Errorf("Subject %q, Return-Path %q:\n%s", m.header("Subject"), m.header("Return-Path"), m.rawHeader())
	}
	if got, want := string(m.body()), ".leading dot\n.\nlast line\n"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
}

// A PHP script mails a local user that does not exist (other_users =
// "bounce"): the bounce lands in the user's store as an RFC 3464 report
// that Python's email package and s-nail read.
func TestPHPMailBounceIsReadable(t *testing.T) {
	t.Parallel()
	need(t, "php")
	e := newEnv(t, "other_users = \"bounce\"\n")
	if out := e.php(`var_export(mail("nosuchuser", "to nobody", "b", "From: shop@example.org"));`); out != "true" {
		t.Fatalf("mail() returned %s", out)
	}
	e.deliver()
	msgs := e.maildir()
	if len(msgs) != 1 {
		t.Fatalf("want 1 bounce, got %d", len(msgs))
	}
	m := msgs[0]
	if m.header("Return-Path") != "<>" || !strings.HasPrefix(m.header("Content-Type"), "multipart/report") {
		t.Errorf("not a bounce:\n%s", m.rawHeader())
	}
	const script = `
import email, email.policy, sys
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
for p in msg.walk():
    if p.get_content_type() == "message/delivery-status":
        for block in p.get_payload():
            for k in ("Final-Recipient", "Action", "Status"):
                if block[k]:
                    print(k + ": " + block[k])
`
	c := e.command("python3", "-c", script)
	need(t, "python3")
	out, _ := e.run(c, string(m.Raw))
	for _, want := range []string{"Final-Recipient: rfc822; nosuchuser@testhost.example", "Action: failed", "Status: 5.1.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("the delivery-status part lacks %q:\n%s", want, out)
		}
	}
	if _, err := exec.LookPath("s-nail"); err == nil {
		list, _ := e.snail("", "-R", "-Sheadline=%s", "-H", "-f", e.path("Maildir"))
		if !strings.Contains(list, "Undelivered Mail Returned to Sender") {
			t.Errorf("s-nail lists:\n%s", list)
		}
	}
}
