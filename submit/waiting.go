package submit

import (
	"homepost/agentlock"
	"homepost/outbox"
	"homepost/settings"
)

// Where no systemd runs the agent, deferred mail must not wait for the
// next message to be sent: after a reboot, or once a background
// delivery was killed, nothing would retry it. So every command that
// finds mail waiting and no agent (mailq, homepost check, flush, mail,
// resolve, newaliases, queue release) starts the background delivery
// through WakeWaiting, as sendmail does after each message through Wake.

// WakeWaiting starts the background delivery (Wake) when no agent runs
// and the outbox holds mail that is not on hold. It reports whether it
// asked for one. Like Wake it does nothing when deliver_without_agent is
// off. A command whose configuration does not load does not call it:
// the delivery would only hold the queue, and the command says so.
func WakeWaiting(cfg *settings.Config) bool {
	if !cfg.DeliverWithoutAgent {
		return false
	}
	if _, running := agentlock.Running(cfg.LockPath()); running {
		return false
	}
	if !Waiting(cfg) {
		return false
	}
	return Wake(cfg)
}

// Waiting reports whether the outbox holds a message that is not on
// hold: anything in new/, or a message in cur/ (claimed, deferred, or
// left by a crash) with a recipient still to do.
func Waiting(cfg *settings.Config) bool {
	box := outbox.Dir(cfg.Outbox)
	if names, _ := box.Names("new"); len(names) > 0 {
		return true
	}
	names, _ := box.Names("cur")
	for _, n := range names {
		m, err := outbox.Open(box.Path("cur", n))
		if err != nil {
			continue // delivered meanwhile, or unreadable: not ours to wake for
		}
		waiting := !m.Env.Held && !m.Env.Done()
		m.Close()
		if waiting {
			return true
		}
	}
	return false
}
