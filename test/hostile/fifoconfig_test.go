package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// A config.toml replaced by a FIFO while the agent runs is refused at
// the reload (the configuration read before is kept), and nothing the
// agent does afterwards opens it for reading: the agent goes on
// delivering, and a SIGTERM ends it. The reload's look for the lines
// that name the forwarding files read the FIFO with a plain open, which
// blocked the agent's loop for good: mail queued after it waited, and
// only SIGKILL ended the agent.
func TestConfigBecomesFIFO(t *testing.T) {
	e := testenv.New(t, "")
	me := testenv.Login(t)
	agent := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	agent.Stderr = &log
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- agent.Wait() }()
	t.Cleanup(func() {
		agent.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")

	cfg := e.Path(".config", "homepost", "config.toml")
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Contains(log.String(), "keeping the configuration read before") }, "the reload refusing the FIFO")

	e.MustSend("Subject: after the fifo\n\nbody\n", me)
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 1 }, "the message queued after the FIFO to be delivered")

	agent.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent still runs 10 s after SIGTERM")
	}
	if b, err := os.ReadFile(filepath.Join(e.Path("Maildir", "new"), testenv.Files(e.Path("Maildir", "new"))[0])); err != nil || !strings.Contains(string(b), "after the fifo") {
		t.Errorf("the copy: %v\n%s", err, b)
	}
}
