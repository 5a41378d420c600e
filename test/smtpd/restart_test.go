package smtpd_test

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An agent restarted as README and make install say, "kill PID; then
// homepost agent", while it is busy: the old agent, stopped in the
// middle of a client's DATA, takes up to 5 s to end the session, and a
// new agent started meanwhile said "another agent is running" and
// exited, so that none was left once the old one had gone (no
// listener, nothing delivered). The new agent waits for an agent that
// is stopping, then takes over: it serves the socket and delivers.
func TestRestartWhileBusy(t *testing.T) {
	l := start(t)
	d := l.halfSent(t)
	defer d.c.Close()
	old := l.agent
	old.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	_, log, exited := l.OwnAgent()
	l.AwaitStarted(log, exited)
	if err := old.Wait(); err != nil {
		t.Errorf("the old agent: %v", err)
	}
	if !strings.Contains(log.String(), "waiting for the agent that is stopping") {
		t.Errorf("the new agent does not say that it waited:\n%s", log.String())
	}
	// It serves the socket and delivers.
	l.WaitFor(func() bool {
		c, err := net.Dial("unix", l.Socket)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "the socket")
	l.MustSend("Subject: after the restart\n\nhello\n", "-oi", l.Rcpt)
	if got := l.delivered(1); !strings.Contains(got[0], "after the restart") {
		t.Errorf("delivered %q", got)
	}
}
