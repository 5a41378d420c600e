package smtpd_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A full outbox file system gets RFC 5321's 452 with RFC 3463's 4.3.1
// ("mail system full"), as Postfix answers it, after which a client
// tries again later; it was 451 4.3.0, a local error in processing.
func TestFullOutboxIs452(t *testing.T) {
	t.Parallel()
	l := setup(t, "")
	state := l.Path(".local", "state")
	os.MkdirAll(state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", state).Run()
	l.agent = l.StartAgent()
	l.waitListening()
	d := dial(t, "unix", l.Socket)
	d.cmd("EHLO client.example", "250")
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<"+l.Rcpt+">", "250")
	d.cmd("DATA", "354")
	body := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef\r\n", 32<<10) // 576 KB
	reply := d.cmd(body+".", "452 4.3.1")
	if !strings.Contains(reply, "insufficient system storage") {
		t.Errorf("reply %q", reply)
	}
	// A small one still fits.
	d.cmd("MAIL FROM:<a@example.org>", "250")
	d.cmd("RCPT TO:<"+l.Rcpt+">", "250")
	d.cmd("DATA", "354")
	d.cmd("Subject: small\r\n\r\nok\r\n.", "250")
}
