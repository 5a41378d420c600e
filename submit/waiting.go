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

// Stranded returns an outbox other than the configured one that holds
// queued mail (new/ or cur/), and how many messages: mail queued before
// outbox or state_dir was changed, which no agent delivers any more. It
// looks where the configuration would have put the outbox without those
// keys (settings.Config.OtherOutboxes).
func Stranded(cfg *settings.Config) (dir string, n int) {
	for _, d := range cfg.OtherOutboxes() {
		box := outbox.Dir(d)
		k := 0
		for _, sub := range []string{"new", "cur"} {
			names, _ := box.Names(sub)
			k += len(names)
		}
		if k > 0 {
			return d, k
		}
	}
	return "", 0
}
