package agent

import (
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
	"homepost/report"
	"homepost/safeio"
)

// What an attempt leaves behind: a journal record per recipient, the
// next due time of the message, a DSN for what bounced, and the removal
// of the queue file once nothing is left to do.

// result records one recipient's outcome in j and logs it.
func (a *Agent) result(j *job, i int, t forwarder.Target, res courier.Result) {
	env := j.m.Env
	r := env.Rcpts[i]
	now := a.now()
	if res.Status == outbox.Pending {
		// Not known to be durable: record nothing, and look for the
		// copy in a minute.
		a.log.Error("delivery not durable", "id", j.m.ID, "to", a.qualify(t.Via), "orig_to", env.Original(i),
			"target", t.Spec(), "reason", res.Reason)
		j.delay = time.Minute
		return
	}
	if res.Untried {
		// Never offered to anyone (the delivery was stopped before
		// its turn): no attempt, and no retry to wait for; the
		// recipient stays as it was, due as it was, and the next
		// agent tries it as it starts.
		a.log.Info("delivery", "id", j.m.ID, "from", "<"+env.Sender+">", "to", a.qualify(t.Via),
			"orig_to", env.Original(i), "target", t.Spec(), "status", "not tried", "reason", res.Reason)
		return
	}
	attempts := r.Attempts + 1
	var next time.Time
	if res.Status == outbox.Deferred {
		if now.Sub(env.Arrival) >= a.cfg.MaxQueueLifetime.Duration {
			res = courier.Result{Status: outbox.Bounced, DSN: res.DSN,
				Reason: "message expired after " + a.cfg.MaxQueueLifetime.Duration.String() + " in the queue: " + res.Reason}
		} else {
			next = now.Add(backoff(now.Sub(env.Arrival)))
		}
	}
	if res.Status == outbox.Bounced {
		j.bounced = append(j.bounced, i)
		if j.bouncedAt == nil {
			j.bouncedAt = map[int]forwarder.Target{}
		}
		j.bouncedAt[i] = t
	}
	j.recs = append(j.recs, outbox.StateRecord(i, res.Status, attempts, now, next, res.Text()))
	a.logResult(j, i, t, res, now, a.cfg.Hostname)
}

// logResult logs recipient i's outcome; host qualifies a bare Via (an
// alias's name), as qualify does.
func (a *Agent) logResult(j *job, i int, t forwarder.Target, res courier.Result, now time.Time, host string) {
	env := j.m.Env
	a.log.Info("delivery", "id", j.m.ID, "from", "<"+env.Sender+">", "to", qualifyAt(t.Via, host),
		"orig_to", env.Original(i), "target", t.Spec(), "status", res.Status.String(),
		"delay", now.Sub(j.m.Arrived()).Round(time.Millisecond).String(), "dsn", res.DSN, "reason", res.Reason)
}

// journalSent records durably, at once, the copies among sends that the
// smarthost has taken (by index in sends, with their results), as it
// tells them between two transactions of one delivery
// (courier.WithSettled): were they left to the end of the delivery, a
// crash in a later transaction would send them again. Other results
// wait for the end: sending a deferred or bounced copy again is no
// duplicate, and a bounce's record goes with its DSN (finish). One
// append and fsync per queue file that has such copies.
//
// In the daemon it runs in the smarthost's worker (remote.go), while
// the jobs are in flight: nothing else reads or writes their queue
// files until the loop takes the answer. A copy recorded here is marked
// early, and its result is not recorded again. host is the host name
// read in the loop (logResult): the worker must not read a.cfg.
func (a *Agent) journalSent(sends []*send, idx []int, res []courier.Result, host string) {
	now := a.now()
	recs := map[*job][]outbox.Record{}
	early := map[*job][]int{} // the positions in idx of each job's copies
	var jobs []*job
	for n, k := range idx {
		if res[n].Status != outbox.Sent || k < 0 || k >= len(sends) {
			continue
		}
		s := sends[k]
		if s.early {
			continue
		}
		if _, ok := recs[s.j]; !ok {
			jobs = append(jobs, s.j)
		}
		attempts := s.j.m.Env.Rcpts[s.idx].Attempts + 1
		recs[s.j] = append(recs[s.j], outbox.StateRecord(s.idx, outbox.Sent, attempts, now, time.Time{}, res[n].Text()))
		early[s.j] = append(early[s.j], n)
	}
	for _, j := range jobs {
		if err := j.m.Append(recs[j]...); err != nil {
			// Recorded with the others at the end, as before.
			a.log.Error("record results", "id", j.m.ID, "reason", err)
			continue
		}
		for _, n := range early[j] {
			s := sends[idx[n]]
			s.early = true
			a.logResult(j, s.idx, s.t, res[n], now, host)
		}
	}
}

// finish records j's results, sends DSNs, and retires or reschedules
// it. A retired job's file stays open: the caller recycles it once the
// batch's retirements are durable.
func (a *Agent) finish(j *job) (retired bool) {
	defer func() {
		if !retired {
			j.m.Close()
		}
	}()
	env := j.m.Env
	if j.away || j.hold {
		// homepost queue hold, while a copy was out to a command or
		// the smarthost (outbox.Dir.AskHold): recorded with the
		// results, unless they finish the message. A hold that held
		// the message back before its delivery began (heldBack)
		// stands only while its request does: homepost queue release
		// removes it, and the delivery of the others in its batch may
		// have taken minutes meanwhile.
		j.hold = a.box.HoldAsked(j.m.ID)
	}
	if _, ok := a.unwritten[j.name]; ok {
		// The last attempt's results are not written yet: no DSN
		// either (writeUnwritten). A hold asked for stands, and is
		// recorded as the message is next taken up (open).
		a.reschedule(j)
		return
	}
	if len(j.recs) == 0 && !env.Done() && !slices.ContainsFunc(env.Rcpts, bouncing) {
		if j.hold {
			a.holdAsked(j, nil)
			return
		}
		a.reschedule(j)
		return
	}
	if !a.bounces(j) {
		return
	}
	// Apply the results in memory first, to know whether anything is
	// left to do.
	done := true
	state := map[int]outbox.Status{}
	for _, r := range j.recs {
		state[r.Idx] = r.Status
	}
	for i, r := range env.Rcpts {
		st := r.Status
		if s, ok := state[i]; ok {
			st = s
		}
		if !st.Done() {
			done = false
		}
	}
	if done && len(j.bounced) == 0 && !j.dsn {
		// Every copy is durable: the file can go without a journal
		// write. Should the retirement be lost in a crash, the retry
		// finds its Maildir copies by name and its mbox copies by their
		// marks, and stores nothing twice; the caller makes the
		// retirement durable before the batch ends, so that no command
		// runs twice and no remote copy goes out twice.
		a.notHeld(j)
		return a.retire(j)
	}
	if !done && j.hold {
		// The results and the hold in one append.
		a.holdAsked(j, j.recs)
		return false
	}
	if err := j.m.Append(j.recs...); err != nil {
		a.log.Error("record results", "id", j.m.ID, "reason", err)
		a.keepUnwritten(j, j.recs)
		a.schedule(j, a.now().Add(time.Minute))
		return
	}
	if done {
		a.notHeld(j)
		return a.retire(j)
	}
	a.reschedule(j)
	return false
}

// holdAsked records j's results recs and the hold that homepost queue
// hold asked for while the delivery had the message (outbox.Dir.AskHold),
// in one append, then removes the request: the message stays in cur/,
// due never, until it is released. Should the append fail, the results
// are kept for the next attempt and the request stands: the next look
// records the hold (open) before anything is delivered.
func (a *Agent) holdAsked(j *job, recs []outbox.Record) {
	all := append(slices.Clone(recs), outbox.Record{Kind: 'h', Hold: true})
	if err := j.m.Append(all...); err != nil {
		a.log.Error("record results", "id", j.m.ID, "reason", err)
		if len(recs) > 0 {
			a.keepUnwritten(j, recs)
		}
		a.schedule(j, a.now().Add(time.Minute))
		return
	}
	delete(a.due, j.name)
	if _, err := a.box.DropAskedHold(j.m.ID); err != nil {
		a.log.Warn("queue", "id", j.m.ID, "reason", err)
	}
}

// notHeld says, for a message retired whose hold homepost queue hold
// asked for while a delivery had it, that nothing is held: that
// delivery finished it. The request goes.
func (a *Agent) notHeld(j *job) {
	if !j.hold {
		return
	}
	// The hold itself first, if not logged yet (asked for as the agent
	// stopped): the last word on the message is that it is not held.
	a.logQueueActions()
	a.log.Info("queue", "id", j.m.ID, "status", "not held", "by", "homepost queue",
		"reason", "the delivery in progress when the hold was asked for finished the message")
	if _, err := a.box.DropAskedHold(j.m.ID); err != nil {
		a.log.Warn("queue", "id", j.m.ID, "reason", err)
	}
}

func bouncing(r outbox.Recipient) bool { return r.Status == outbox.Bouncing }

// bounces stores the DSN of the recipients that bounced, in this
// attempt or in an earlier one whose DSN could not be stored, in the
// order that bounce.go describes: verdicts journaled first (Bouncing),
// then the DSN, then Bounced (left in j.recs for finish to record). It
// returns false when j is scheduled again: a DSN could not be stored,
// or the journal could not be written; what the journal holds then is
// all that is known.
func (a *Agent) bounces(j *job) bool {
	env := j.m.Env
	now := a.now()
	next := now.Add(backoff(now.Sub(env.Arrival)))
	isNew := map[int]bool{}
	for _, i := range j.bounced {
		isNew[i] = true
	}
	// pending turns this attempt's bounces in j.recs into Bouncing
	// records noted with note; the other results are kept as they are.
	pending := func(note string) []outbox.Record {
		var out []outbox.Record
		for _, r := range j.recs {
			if r.Kind == 's' && r.Status == outbox.Bounced && isNew[r.Idx] {
				r.Status, r.Next, r.Reason = outbox.Bouncing, next, r.Reason+bounceNote+note
			}
			out = append(out, r)
		}
		return out
	}
	// again records Bouncing anew for set, with why its DSN failed.
	again := func(set []int, err error) []outbox.Record {
		var out []outbox.Record
		for _, i := range set {
			r := env.Rcpts[i]
			out = append(out, outbox.StateRecord(i, outbox.Bouncing, r.Attempts, now, next,
				bounceReason(r.Reason)+bounceNote+"cannot be stored: "+err.Error()))
		}
		return out
	}
	record := func(recs []outbox.Record) bool {
		if err := j.m.Append(recs...); err != nil {
			a.log.Error("record results", "id", j.m.ID, "reason", err)
			a.keepUnwritten(j, recs)
			a.schedule(j, now.Add(time.Minute))
			return false
		}
		return true
	}
	var done []outbox.Record // Bounced records of an earlier DSN now stored
	var earlier []int
	for i, r := range env.Rcpts {
		if r.Status == outbox.Bouncing {
			earlier = append(earlier, i)
		}
	}
	if len(earlier) > 0 {
		notStored, err := a.bounce(j, earlier)
		if err != nil {
			a.log.Error("bounce", "id", j.m.ID, "reason", err)
			recs := j.recs
			switch {
			case len(j.bounced) == 0:
			case notStored:
				// This attempt's verdicts join the DSN that waits:
				// nothing was stored under its name.
				recs = pending("cannot be stored: " + err.Error())
			default:
				// The DSN waiting may be stored: its set may not
				// change. This attempt's bounces are tried again.
				recs = slices.DeleteFunc(slices.Clone(j.recs), func(r outbox.Record) bool {
					return r.Kind == 's' && r.Status == outbox.Bounced && isNew[r.Idx]
				})
			}
			if record(append(recs, again(earlier, err)...)) {
				a.reschedule(j)
			}
			return false
		}
		j.dsn = true
		for _, i := range earlier {
			r := env.Rcpts[i]
			done = append(done, outbox.StateRecord(i, outbox.Bounced, r.Attempts, now, time.Time{}, bounceReason(r.Reason)))
		}
	}
	if len(j.bounced) == 0 || !report.ShouldBounce(env.Sender) {
		if len(j.bounced) > 0 {
			a.bounce(j, j.bounced) // logs that there is none
		}
		j.recs = append(j.recs, done...)
		return true
	}
	// The verdicts first, with the other results and the earlier DSN's
	// Bounced records (which clear its mbox mark before the next DSN).
	if !record(append(pending("is not stored yet"), done...)) {
		return false
	}
	j.recs = nil
	set := slices.Sorted(maps.Keys(isNew))
	if _, err := a.bounce(j, set); err != nil {
		a.log.Error("bounce", "id", j.m.ID, "reason", err)
		if record(again(set, err)) {
			a.reschedule(j)
		}
		return false
	}
	j.dsn = true
	for _, i := range set {
		r := env.Rcpts[i]
		j.recs = append(j.recs, outbox.StateRecord(i, outbox.Bounced, r.Attempts, now, time.Time{}, bounceReason(r.Reason)))
	}
	return true
}

// Results that the journal could not take (a full disk, an I/O error)
// are kept in memory, by queue file, and written first at the next
// attempt (writeUnwritten, from plan): until they are, nothing of the
// message is delivered. Left out, the file said the copies the
// smarthost or a command had taken were still to do, and each try, a
// minute apart, sent them again for as long as the disk stayed full.
// They live as long as the agent: after a restart the file is all
// that is known, and what it lacks goes out once more (at least once).

// keepUnwritten keeps recs, which j's journal could not take.
func (a *Agent) keepUnwritten(j *job, recs []outbox.Record) {
	if a.unwritten == nil {
		a.unwritten = map[string][]outbox.Record{}
	}
	a.unwritten[j.name] = append(a.unwritten[j.name], recs...)
}

// writeUnwritten appends to j's journal what an earlier attempt could
// not, and reports whether j may be delivered: false while the journal
// still cannot take them.
func (a *Agent) writeUnwritten(j *job) bool {
	recs, ok := a.unwritten[j.name]
	if !ok {
		return true
	}
	if err := j.m.Append(recs...); err != nil {
		a.log.Error("record results", "id", j.m.ID, "reason", err)
		return false
	}
	delete(a.unwritten, j.name)
	return true
}

// retire takes j's file out of the queue (outbox.Message.Retire).
//
// A message with copies that a retry cannot find (a command's, the
// smarthost's) or with bounces is retired without its results written
// (finish), and must then never come back as new: its name in new/,
// dropped once its claim was durable, is made durable gone before it
// leaves cur/. Else, on a file system that orders no writes (ext4
// without a journal), a power loss can keep the removal from cur/ and
// lose the one from new/, and the message is delivered again as new
// (TestPowerLossSnapshotRelay and Forward in test/sweep).
func (a *Agent) retire(j *job) bool {
	delete(a.due, j.name)
	delete(a.unwritten, j.name)
	if (j.away || len(j.bounced) > 0 || j.dsn) && a.newDropped.Swap(false) {
		if err := safeio.Shared.Sync(nil, []string{a.box.Path("new")}); err != nil {
			// Retired all the same: kept, the message would go
			// out again at its next try, power loss or not.
			a.newDropped.Store(true)
			a.log.Error("sync outbox", "reason", err)
		}
	}
	if err := j.m.Retire(); err != nil {
		if deletedFromQueue(j) {
			// homepost queue delete removed it while the delivery
			// had it open: gone already, as asked.
			a.log.Info("queue file already removed", "id", j.m.ID, "reason", "the message was deleted from the queue (homepost queue delete) during its delivery")
			return false
		}
		a.log.Error("remove queue file", "id", j.m.ID, "reason", err)
		return false
	}
	return true
}

func (a *Agent) schedule(j *job, t time.Time) {
	a.due[j.name] = t
}

// reschedule makes j due when its next recipient is, or after the delay
// that a failure of our own asked for.
func (a *Agent) reschedule(j *job) {
	if j.delay > 0 {
		a.schedule(j, a.now().Add(j.delay))
		return
	}
	t := j.m.Env.NextAttempt()
	if now := a.now(); t.Sub(now) > maxWait {
		// Scheduled by a clock that was ahead and has been set back
		// since: due now, rather than when the clock reaches it.
		t = now
	}
	a.schedule(j, t)
}

// maxWait is the furthest ahead a retry is ever scheduled: maxBackoff
// with its jitter, and the second that the journal's whole seconds may
// add. A next attempt further ahead was computed by a clock that has
// since been set back (a wrong hardware clock set right, a date typed
// by hand); waiting for it would hold the message for as long as the
// clock was wrong, a year for a year.
const maxWait = maxBackoff + maxBackoff/10 + time.Second

// notYet reports whether next, a recipient's next attempt, is still to
// come at now: after now, and no further than any retry is scheduled
// (maxWait).
func notYet(next, now time.Time) bool { return next.After(now) && next.Sub(now) <= maxWait }

// Bounds of the retry schedule (backoff), as Postfix's
// minimal_backoff_time and maximal_backoff_time.
const (
	minBackoff = time.Minute
	maxBackoff = time.Hour
)

// backoff is the retry schedule: the wait before the next try of a
// message that has been age in the queue. As Postfix's queue manager
// does, the wait is the age itself, at least minBackoff and at most
// maxBackoff, so that it doubles with each try (1m, 1m, 2m, 4m, ... up
// to hourly), and a flush, which tries again early, does not push the
// next automatic try further out: counted per attempt, five flushes
// in a minute made the next one an hour away. ±10% jitter keeps many
// deferred messages from retrying in step.
//
// An arrival more than minBackoff in the future means that the clock
// was set back since the message was queued: its time in the queue is
// not known, and it is retried hourly, not every minute until the
// clock reaches its arrival.
func backoff(age time.Duration) time.Duration {
	if age < -minBackoff {
		age = maxBackoff
	}
	d := min(max(age, minBackoff), maxBackoff)
	j := time.Duration(rand.Int64N(int64(d)/5)) - d/10
	return d + j
}
