package courier

import (
	"context"
	"strings"
	"testing"
	"time"

	"homepost/outbox"
)

// A command that exits 0, leaving a process behind that holds its
// output, has taken its copy even when the delivery is stopped (the
// agent stops) while its output is still waited for: the copy is sent.
// Taken for "interrupted", it was deferred and the command ran again
// at the next attempt, a second copy.
func TestRunCommandLeftChildStoppedIsSent(t *testing.T) {
	e := newEnv(t, "")
	p := script(t, t.TempDir(), "hook", "cat >/dev/null\n(sleep 20) &\nexit 0\n")
	env := NewCommandEnv(e.cfg, "bob@example.com", "alice@box.example.org", "root")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The command has exited long before; its child holds the pipe,
	// which is waited for 5 seconds (WaitDelay).
	time.AfterFunc(time.Second, cancel)
	r := RunCommand(ctx, e.cfg, p, env, strings.NewReader(testMsg))
	if r.Status != outbox.Sent {
		t.Fatalf("a command that exited 0 stopped while its child held the output: %v %s %s", r.Status, r.DSN, r.Reason)
	}
}

// The same when its command_timeout runs out in that wait: the command
// finished in time.
func TestRunCommandLeftChildPastTimeoutIsSent(t *testing.T) {
	e := newEnv(t, "command_timeout = \"2s\"")
	p := script(t, t.TempDir(), "hook", "cat >/dev/null\n(sleep 20) &\nexit 0\n")
	st, dsn, reason := runCmd(t, e.cfg, p)
	if st != outbox.Sent {
		t.Fatalf("a command that exited 0 at once, its child holding the output past command_timeout: %v %s %s", st, dsn, reason)
	}
}
