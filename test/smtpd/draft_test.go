package smtpd_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// drafts lists outbox/tmp without the spares.
func (l *listener) drafts() []string {
	var out []string
	for _, f := range testenv.Files(l.Outbox("tmp")) {
		if !strings.HasPrefix(f, "spare.") {
			out = append(out, f)
		}
	}
	return out
}

// halfSent opens a session and sends part of a message, more than the
// queue file's buffer, so that its draft has bytes on the disk.
func (l *listener) halfSent(t *testing.T) *dialog {
	d := dial(t, "unix", l.Socket)
	d.cmd("EHLO c", "250 ")
	d.cmd("MAIL FROM:<a@example.org>", "250 ")
	d.cmd("RCPT TO:<"+l.Rcpt+">", "250 ")
	d.cmd("DATA", "354 ")
	fmt.Fprintf(d.c, "Subject: cut off\r\n\r\n%s", strings.Repeat(strings.Repeat("y", 99)+"\r\n", 2000))
	l.WaitFor(func() bool { return len(l.drafts()) > 0 }, "the draft in outbox/tmp")
	return d
}

// An agent stopped (SIGTERM) while a client is in the middle of DATA
// removes the session's draft before it exits: the message was never
// answered, and its file is the session's own. Nothing is queued.
func TestStopInDataLeavesNoDraft(t *testing.T) {
	l := start(t)
	d := l.halfSent(t)
	defer d.c.Close()
	l.agent.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- l.agent.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop")
	}
	if dr := l.drafts(); len(dr) != 0 {
		t.Errorf("drafts left in outbox/tmp: %v", dr)
	}
	for _, sub := range []string{"new", "cur"} {
		if f := testenv.Files(l.Outbox(sub)); len(f) != 0 {
			t.Errorf("outbox/%s: %v", sub, f)
		}
	}
}

// An agent killed (kill -9) in the middle of DATA leaves nothing queued:
// the draft was never in new/, and the next agent delivers nothing of
// it.
func TestKillInDataQueuesNothing(t *testing.T) {
	l := start(t)
	d := l.halfSent(t)
	defer d.c.Close()
	l.agent.Process.Kill()
	l.agent.Wait()
	for _, sub := range []string{"new", "cur"} {
		if f := testenv.Files(l.Outbox(sub)); len(f) != 0 {
			t.Errorf("outbox/%s after kill -9: %v", sub, f)
		}
	}
	l.Once()
	if f := testenv.Files(l.Path("Maildir", "new")); len(f) != 0 {
		t.Errorf("delivered after kill -9: %v", f)
	}
}
