package agent

// A configuration file with an error does not stop the agent: mail keeps
// being queued (the shims need only the outbox, see config.LoadQueue),
// so an agent that refused to start would leave it without a word where
// the user looks. The daemon starts on the fallback configuration, which
// tells where the queue is, delivers nothing (it "holds the queue"), and
// says so with the file:line in its log and in its status file, which
// mailq and homepost check read. It watches the file and takes the fixed
// one up once it has settled (watch.go), or at SIGHUP. So does the
// background delivery that the shims start where no daemon runs, as long
// as mail waits: were it to end, nothing would deliver the mail after the
// fix until some other command ran (on a host with cron alone, hours
// later). Waiting costs nothing (no wake-ups: the file and the outbox are
// watched) and is not bounded: a delivery that gave up would be started
// again by the next message only to hold again. It ends as it always
// does, once the queue is empty, and at once on SIGTERM (nothing is in
// flight while the queue is held): it does not look for mail once more
// then, which a held delivery would always find (Run, errStopped). A
// one-shot delivery (agent --once, flush) logs the same line and ends,
// exit 78. homepost flush asks a running agent that holds the queue all
// the same: a fix that it is letting settle is read before its pass
// answers.
//
// A running agent whose file breaks later keeps the configuration it
// read before (a reload never takes a broken file), and says so.

import (
	"errors"
	"fmt"
)

// ErrHeld is the error of a one-shot delivery with a configuration that
// does not load: nothing was delivered.
var ErrHeld = errors.New("delivery is held until the configuration is fixed")

// heldError wraps the configuration's error in ErrHeld.
func heldError(err error) error { return fmt.Errorf("%w: %v", ErrHeld, err) }

// hold stops delivery for a configuration error, or resumes it (nil).
func (a *Agent) hold(err error) {
	was := a.held
	a.held = err
	a.writeStatus()
	switch {
	case err != nil && a.background && was == nil:
		a.log.Error("configuration error: delivery is held until it is fixed; this background delivery watches the file while mail waits, and delivers once it is fixed", "reason", err)
	case err != nil:
		a.log.Error("configuration error: delivery is held until it is fixed", "reason", err)
	case was != nil:
		a.resumed = true
		a.log.Info("configuration fixed: delivering")
	}
}
