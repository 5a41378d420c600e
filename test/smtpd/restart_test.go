package smtpd_test

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
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
	c := l.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { c.Wait(); close(exited) }()
	t.Cleanup(func() {
		c.Process.Kill()
		<-exited
	})
	l.WaitFor(func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		return strings.Contains(log.String(), "agent started")
	}, "the new agent's start or exit")
	select {
	case <-exited:
		t.Fatalf("the new agent exited:\n%s", log.String())
	default:
	}
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
