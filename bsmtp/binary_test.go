package bsmtp

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/config"
	"homepost/outbox"
	"homepost/test/testenv"
)

// TestSendmailBS talks SMTP to "sendmail -bs" of the built binary, line
// by line as a PHP mailer does, under a temporary HOME, and reads the
// message back from the outbox.
func TestSendmailBS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testenv.Program(t, "sendmail")
	home := t.TempDir()
	conf := filepath.Join(home, "config.toml")
	// No detached delivery after the message: the test reads the queue.
	os.WriteFile(conf, []byte("deliver_without_agent = false\nhostname = \"laptop\"\n"), 0o600)
	cmd := exec.Command(bin, "-bs")
	cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home + "/.config", "XDG_STATE_HOME=" + home + "/.local/state",
		"HOMEPOST_CONFIG=" + conf, "PATH=" + os.Getenv("PATH")}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	// reply reads one (possibly multi-line) reply and returns its last line.
	reply := func(want string) string {
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply: %v (stderr %s)", err, stderr.String())
			}
			if len(l) >= 4 && l[3] == '-' {
				continue
			}
			if !strings.HasPrefix(l, want) {
				t.Fatalf("reply %q, want %s", l, want)
			}
			return strings.TrimRight(l, "\r\n")
		}
	}
	say := func(format string, args ...any) { fmt.Fprintf(stdin, format+"\r\n", args...) }
	reply("220 laptop")
	say("EHLO www.local")
	reply("250")
	say("MAIL FROM:<www-data@laptop>")
	reply("250")
	say("RCPT TO:<customer@example.org>")
	reply("250")
	say("DATA")
	reply("354")
	say("To: customer@example.org\r\nSubject: Your order\r\n\r\nThank you.\r\n..\r\n.")
	queued := reply("250 2.0.0 Ok: queued as ")
	say("QUIT")
	reply("221")
	stdin.Close()
	done := make(chan error, 1)
	go func() { io.Copy(io.Discard, r); done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sendmail -bs: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("sendmail -bs did not exit after QUIT")
	}

	id := strings.TrimPrefix(queued, "250 2.0.0 Ok: queued as ")
	cfg := &config.Config{Outbox: filepath.Join(home, ".local/state/homepost/outbox")}
	p, err := outbox.Dir(cfg.Outbox).Find(id)
	if err != nil {
		t.Fatal(err)
	}
	m, err := outbox.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b, _ := io.ReadAll(m.Body())
	if m.Env.Sender != "www-data@laptop" || len(m.Env.Rcpts) != 1 || m.Env.Rcpts[0].Addr != "customer@example.org" {
		t.Errorf("envelope %+v", m.Env)
	}
	if !strings.HasPrefix(string(b), "To: customer@example.org\nSubject: Your order\n") || !strings.HasSuffix(string(b), "\n\nThank you.\n.\n") {
		t.Errorf("queued message %q", b)
	}
}
