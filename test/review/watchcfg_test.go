package review

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/agentlock"
	"homepost/test/testenv"
)

// How the agent follows config.toml: it ends on SIGTERM while it holds
// the queue, it never keeps a reading the file no longer has, it
// follows a file that is a symbolic link, and flush and SIGHUP wait for
// a change that is settling.

// The background delivery that holds the queue for a configuration
// error while mail waits ends on SIGTERM at once, as the daemon does:
// nothing is in flight while the queue is held.
func TestHeldBackgroundDeliveryEndsOnSIGTERM(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	good := strings.Replace(baseConfig, "= false", "= true", 1)
	setConfig(t, e, good+"stroe = 1\n", 0o600)
	e.MustSend("Subject: waits for the fix\n\nb\n", testenv.Login(t))
	lock := e.Path(".local", "state", "homepost", "agent.lock")
	e.WaitFor(func() bool { return strings.Contains(readLog(e), "held") }, "the background delivery to hold the queue")
	pid, ok := agentlock.Running(lock)
	if !ok || pid <= 0 {
		t.Fatalf("no background delivery holds the lock:\n%s", readLog(e))
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the held background delivery (pid %d) still runs 3s after SIGTERM:\n%s", pid, readLog(e))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(testenv.Files(e.Outbox("new"))) + len(testenv.Files(e.Outbox("cur"))); n != 1 {
		t.Errorf("%d messages in the outbox after the stop, want the one queued", n)
	}
}
