package review

import (
	"os"
	"strings"
	"testing"
	"time"

	"homepost/test/testenv"
)

// "homepost queue hold ID" while the agent delivers ID waits for the
// delivery; when the delivery removed the message meanwhile there is
// nothing to hold, which is not a temporary failure (exit 75) with an
// "open ...: no such file" error.
func TestHoldWhileDelivered(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("slow: \"|sleep 2\"\n"), 0o600)
	e.MustSend("Subject: x\n\nb\n", "slow")
	c := e.Cmd(nil, "homepost", "agent", "--once")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	time.Sleep(500 * time.Millisecond)
	q, _, _ := e.Run(nil, "mailq")
	lines := strings.Split(q, "\n")
	if len(lines) < 2 || len(lines[1]) < 17 {
		t.Fatalf("mailq:\n%s", q)
	}
	id := strings.TrimRight(strings.Fields(lines[1])[0], "*!")
	out, stderr, code := e.Run(nil, "homepost", "queue", "hold", id)
	if code == 75 || strings.Contains(stderr, "no such file") {
		t.Errorf("hold of a message delivered meanwhile: exit %d, %s%s", code, out, stderr)
	}
}

// With only held mail queued and no agent, mailq does not advise a flush:
// a flush does not deliver held mail.
func TestMailqHeldOnly(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.MustSend("Subject: x\n\nb\n", "root")
	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", "ALL"); code != 0 {
		t.Fatalf("hold: %d %s", code, stderr)
	}
	q, stderr, _ := e.Run(nil, "mailq")
	if !strings.Contains(q, "!") || strings.Contains(stderr, "flush") {
		t.Errorf("mailq:\n%s\nstderr: %s", q, stderr)
	}
	e.MustSend("Subject: y\n\nb\n", "root")
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, "flush") {
		t.Errorf("with mail waiting, no advice: %s", stderr)
	}
}
