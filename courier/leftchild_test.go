package courier

import (
	"testing"

	"homepost/outbox"
)

// A command that exits 0 has taken its copy, even when a process it
// started in the background ("notify-send ... &", a hook's "curl ...
// &") still holds its output when it exits: the copy is sent. Deferred,
// the command ran again at every retry, for max_queue_lifetime.
func TestRunCommandLeftChildIsSent(t *testing.T) {
	e := newEnv(t, "")
	p := script(t, t.TempDir(), "hook", "cat >/dev/null\n(sleep 20) &\nexit 0\n")
	st, dsn, reason := runCmd(t, e.cfg, p)
	if st != outbox.Sent {
		t.Fatalf("%v %s %s", st, dsn, reason)
	}
}
