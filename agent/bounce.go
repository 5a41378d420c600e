package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
	"homepost/report"
)

// A bounce's life, and what a crash at each point leaves:
//
//  1. A recipient fails for good. Its verdict is journaled first, as
//     outbox.Bouncing (bounced, the DSN not stored yet), before any DSN
//     is tried: the recipient is never tried again, whatever happens
//     next. A crash before this record leaves the recipient as it was:
//     it is tried again (and fails again); no DSN exists yet.
//  2. The DSN is stored. It reports exactly the recipients that the
//     journal holds as Bouncing, and its name derives from the queue
//     file and the first of them (copyName + "D"). A crash while or
//     after it is stored, before step 3, leaves the same recipients
//     Bouncing: the next attempt builds the DSN for the same set under
//     the same name, and the Maildir courier finds the copy stored
//     before (Copy.Recovered: the journal is not empty), the mbox
//     courier by the DSN's mark (written before the append); it is
//     not stored twice.
//  3. The recipients are journaled as Bounced, which also clears the
//     DSN's mark.
//
// A DSN that cannot be stored (the store cannot be written) leaves its
// recipients Bouncing, with the reason why, and is tried again at the
// next retry; mailq lists them as deferred ("bounced: ...; the bounce
// cannot be stored: ..."). The set of a DSN never changes once it may
// have been stored: the recipients of an earlier attempt's DSN are
// tried first, alone, and new verdicts join them only when that DSN is
// known not to be stored (its courier did not write it). Never for a
// message from the null sender or a mailer-daemon: no bounce of a
// bounce, and no Bouncing state.

// notifyNever reports whether a NOTIFY value (sendmail -N, RFC 3461)
// asks for no DSN at all.
func notifyNever(v string) bool {
	for _, w := range strings.Split(v, ",") {
		if strings.EqualFold(strings.TrimSpace(w), "never") {
			return true
		}
	}
	return false
}

// bounceNote begins, in the reason of a Bouncing recipient, what is
// said of its DSN after the failure itself.
const bounceNote = "; the bounce "

// bounceReason is the failure that a Bouncing recipient's reason
// records, without what is said of its DSN.
func bounceReason(reason string) string {
	if i := strings.LastIndex(reason, bounceNote); i >= 0 {
		return reason[:i]
	}
	return reason
}

// bounce stores a delivery status notification (RFC 3464) for the
// recipients set (indexes in the envelope, ascending, every one
// Bouncing in the journal) in the user's local store. notStored is
// true when the failure says that nothing was stored (as opposed to a
// copy whose durability is not known).
func (a *Agent) bounce(j *job, set []int) (notStored bool, err error) {
	env := j.m.Env
	if !report.ShouldBounce(env.Sender) {
		for _, i := range set {
			a.log.Info("no bounce for a bounce", "id", j.m.ID, "orig_to", env.Original(i))
		}
		return true, nil
	}
	if notifyNever(env.Opts["notify"]) {
		// The sender asked for no DSN (sendmail -N never, NOTIFY=NEVER).
		for _, i := range set {
			a.log.Info("no bounce: the sender asked for none (NOTIFY=NEVER)", "id", j.m.ID, "orig_to", env.Original(i))
		}
		return true, nil
	}
	rep := report.DSN{Host: a.cfg.Hostname, QueueID: j.m.ID, Sender: env.Sender, Arrival: env.Arrival,
		HeadersOnly: strings.EqualFold(env.Opts["ret"], "hdrs"), EnvID: env.Opts["envid"]}
	for _, i := range set {
		r := env.Rcpts[i]
		reason := bounceReason(r.Reason)
		status, diag, _ := strings.Cut(reason, " ")
		if !strings.HasPrefix(status, "5.") && !strings.HasPrefix(status, "4.") {
			status, diag = "5.0.0", reason
		}
		// The address that failed, as Postfix names it: the remote
		// address an alias or .forward sent the copy on to, else the
		// local address whose file, command or store it was.
		final := r.Addr
		if r.Parent >= 0 {
			final = r.Via
		}
		t, ok := j.bouncedAt[i]
		if !ok {
			t = a.failedAt(j, i)
		}
		if t.Kind == forwarder.Remote && t.Value != "" {
			final = t.Value
		}
		rc := report.Recipient{Final: a.qualify(final), Action: "failed", Status: status, Diagnostic: diag}
		if o := a.qualify(env.Original(i)); o != rc.Final {
			rc.Original = o
		}
		rep.Recipients = append(rep.Recipients, rc)
	}
	msg, err := report.BuildDSN(rep, j.m.Body())
	if err != nil {
		return true, err
	}
	now := a.now()
	to := a.qualify(a.cfg.User)
	trace := courier.Trace{Sender: "", DeliveredTo: to, ID: j.m.ID, Host: a.cfg.Hostname, Time: now}
	kind, path := a.store()
	c := &courier.Copy{
		ID: j.m.ID, Name: copyName(j.name, set[0]) + "D", To: path, Rcpt: to, Orig: to,
		Header: trace.Header(), Body: func() io.Reader { return bytes.NewReader(msg) }, Size: int64(len(msg)),
		Time: now, Recovered: j.recovered,
	}
	if kind == forwarder.Mbox {
		c.Mark, c.Marked = j.marker(outbox.DSNIdx, path, env.DSNMark)
	}
	res := a.couriers[kind].Deliver(context.Background(), []*courier.Copy{c})[0]
	if res.Status != outbox.Sent {
		return res.Status != outbox.Pending, errors.New(res.Text())
	}
	// to: whom the DSN is for (the envelope sender); store: where it is,
	// the local store, whoever the sender is (it is never sent on).
	a.log.Info("bounce stored", "id", j.m.ID, "to", env.Sender, "store", path, "recipients", len(rep.Recipients), "reason", res.Reason)
	return false, nil
}

// failedAt is the target recipient i of j failed at in an earlier
// attempt, for its DSN to name: resolved again, as the copy was.
func (a *Agent) failedAt(j *job, i int) forwarder.Target {
	r := j.m.Env.Rcpts[i]
	if r.Parent >= 0 {
		return forwarder.ParseSpec(r.Addr, r.Via)
	}
	if ts := a.fwd.Resolve(r.Addr, j.dt); len(ts) == 1 {
		return ts[0]
	}
	return forwarder.Target{Kind: forwarder.Fail, Via: r.Addr}
}
