package sweep

import (
	"fmt"
	"time"

	"homepost/test/testenv"
)

// daemonDeadline bounds one run of the daemon: a queue that it has not
// delivered by then is a failure, not a hang.
const daemonDeadline = 30 * time.Second

// daemon runs "homepost agent" (the daemon) under the killer, killed at
// the nth call of sys, on the queue the world holds. Once that is
// delivered (outbox new/ and cur/ empty, nothing but spares in tmp/:
// the results recorded, the files retired durably and recycled), it
// stops the agent with SIGTERM, so that a run that is not killed ends,
// and its calls until the exit are swept too.
func (w *world) daemon(sys string, n int) outcome {
	term, wait := w.startKill(nil, sys, n, "homepost", "agent")
	exited := make(chan outcome, 1)
	go func() { exited <- wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(daemonDeadline)
	for {
		select {
		case o := <-exited:
			if o.err == nil && !o.killed {
				o.err = fmt.Errorf("the agent exited before it was stopped: %s", o.stderr)
			}
			return o
		case <-tick.C:
			if !w.delivered() {
				continue
			}
			term()
			return <-exited
		case <-deadline:
			term()
			o := <-exited
			if o.err == nil && !o.killed {
				o.err = fmt.Errorf("the agent had not delivered the queue after %v: %s", daemonDeadline, o.stderr)
			}
			return o
		}
	}
}

// delivered reports whether the outbox is done with: nothing in new/ or
// cur/, and nothing in tmp/ but spares.
func (w *world) delivered() bool {
	return len(testenv.Files(w.e.Outbox("new"))) == 0 && len(testenv.Files(w.e.Outbox("cur"))) == 0 &&
		onlySpares(w.e.Outbox("tmp"))
}
