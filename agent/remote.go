package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"homepost/config"
	"homepost/courier"
	"homepost/outbox"
	"homepost/settings"
)

// # The smarthost in the background
//
// A smarthost can take minutes to answer (command_timeout, a slow
// password_command, a relay that accepts and never greets). In the
// daemon's loop (Agent.loop: the agent, the background delivery), the
// copies of a batch for the smarthost go out in a goroutine of their
// own, so that local mail of later batches is stored meanwhile. Only
// the courier runs there, and the recording of the copies the
// smarthost took before each transaction after the first
// (journalSent); everything else stays in the loop's goroutine: the
// other results are recorded, and the jobs finished, when the loop
// takes the answer (remoteDone).
//
// The crash rules are those of a batch delivered at once. The claims
// are durable before the copies leave (claimSync, in dispatch); the
// batch's local copies are durable before its results are recorded and
// before the smarthost gets anything (a batch with a copy for the
// smarthost syncs its Maildirs itself, deliverHolding); results are
// recorded after the smarthost's answers, and the queue file is retired
// and the retirement made durable (release) before the file is
// recycled. Until then the job keeps its queue file open under its lock
// and is in inflight, out of due: nothing else claims, delivers or
// schedules it. A crash meanwhile leaves it in cur/, taken up as
// possibly delivered, as before.
//
// What a crash sends again is at most the transaction in flight, as
// with Postfix: the copies of every transaction the smarthost answered
// are recorded before the next transaction begins, those of the
// delivery's last one by the loop (remoteFinished), and the worker
// begins the next batch's delivery only once that is done
// (remoteBatch.recorded). The cost: one append and fsync of a queue
// file between two transactions, none for a delivery of one
// transaction (a message to at most 50 recipients alone in its batch),
// whose results are recorded as before.
//
// The loop never waits for the worker but to stop (the worker waits
// for the loop, to begin its next delivery): a waiter's pass
// (await.go) is answered when the deliveries out at its end have come
// back, and a stop waits stopGrace for them, then cancels them. The
// relay closes the connection (kills an exec: program) and defers what
// was not answered; those results, deferrals from the relay itself, are
// recorded as any other before the agent exits.

// # A reload that changes [relay]
//
// A delivery out under the smarthost settings that a reload replaced
// (the url fixed: smtp+starttls:// to an implicit-TLS port waits the
// whole command_timeout for a greeting) would hold every later remote
// message behind it. relayReplaced lets each such delivery end within
// stopGrace, as a stop does, then cancels it: what the smarthost has not
// answered is deferred, recorded so, and tried again at once with the
// new settings (remoteFinished). A batch that had not begun is not sent
// with the old settings at all. As with a stop, a message whose data
// the smarthost took without answering yet is sent again (at least
// once, as documented).
//
// # A smarthost that does not keep up
//
// A batch handed to the worker keeps its queue files open, under their
// locks, until its answer is recorded, and the batches wait their turn
// there. Behind a smarthost that hangs (up to command_timeout), a queue
// of thousands of remote messages held one file descriptor each, until
// none was left: a local delivery then failed to open its Maildir and
// waited for the smarthost, and the listener could not read
// /proc/net/tcp to tell the user's own clients. So at most
// remoteOutLimit batches are out (with the batch being delivered, that
// many and one of maxBatch files open for the smarthost at the most); a
// later batch's copies for the smarthost wait in the backlog instead:
// its jobs are finished with their local results (recorded, their files
// closed, as for a switch of outbox, waitForSwitch), out of due, and as
// deliveries come back, the loop delivers them again before it takes up
// new mail (runBacklog), in the order they came, with the flush asked
// of them; their local copies are found stored. mailq lists them waiting
// behind the delivery in progress, as the batches out; a waiter's pass
// is answered once those of them that were waiting at its end are sent
// and answered (answerIfDone). A crash leaves them in cur/, taken up at
// the next start as any other.
//
// # What mailq is told
//
// While a delivery is out, the worker keeps a small file beside the
// status file (sendingPath) that names the smarthost, when the delivery
// began, and the recipients it carries; mailq shows them "being sent"
// (Sending). One write (no fsync: it is of no use after a crash) when
// the delivery begins, one removal when its results are recorded. While
// other deliveries wait behind it, the loop lists them too (showQueued),
// and mailq shows them waiting for it; with one delivery out at a time,
// that costs nothing.
//
// The local copies of a message that also goes to the smarthost are
// durable before the smarthost gets anything; their results are
// recorded then (recordLocal, in the worker, before it waits for the
// smarthost), not when the smarthost answers, which may be minutes
// later: mailq meanwhile lists only what still waits, and a crash does
// not make a command run again. Mail for local places alone pays
// nothing for it.

// remoteBatch is a batch's copies for the smarthost and, once they are
// delivered, their results.
type remoteBatch struct {
	sends   []*send
	results []courier.Result
	// recorded is closed once the loop has recorded the results
	// (remoteFinished): the worker holds the smarthost until then.
	recorded chan struct{}
	// cancel ends the delivery (relayReplaced); replaced is set when the
	// [relay] settings it goes out with were replaced by a reload, and
	// cut is the timer that then cancels it after stopGrace.
	cancel   context.CancelCauseFunc
	replaced atomic.Bool
	cut      *time.Timer
	// started: the worker began the delivery (it may not, replaced
	// first). Written by the worker before it hands the batch back.
	started bool
	// stop holds, under its mutex, whether the smarthost has a
	// message's data whole and its answer is awaited, and whether the
	// agent is stopping: a stop cuts the delivery at once unless the
	// answer is awaited, and then as soon as it is in (stopRemote).
	stop struct {
		sync.Mutex
		awaiting, stopping bool
		cause              error // why it is cut: nil (a stop), errRelayReplaced
		// answered: cut once the awaited answer was in, which the
		// results say; only those never offered were interrupted.
		answered bool
		// answerCut cancels, stopAnswerWait after the replaced
		// settings' stopGrace, a delivery awaiting an answer
		// (relayReplaced); back means the batch is back in the loop,
		// and no such timer is set any more.
		answerCut *time.Timer
		back      bool
	}
}

// awaiting is told by the smarthost's client (courier.WithAwaiting)
// when the answer to a message's data is awaited, and when it is not.
func (b *remoteBatch) awaiting(on bool) {
	b.stop.Lock()
	defer b.stop.Unlock()
	b.stop.awaiting = on
	if !on && b.stop.stopping {
		b.stop.answered = true
		b.cancel(b.stop.cause) // the answer is in: nothing more goes out
	}
}

// stopping cuts the delivery, for cause, unless the answer to a
// message's data is awaited, which it reports; then the delivery is cut
// once the answer is in.
func (b *remoteBatch) stopping(cause error) bool {
	b.stop.Lock()
	defer b.stop.Unlock()
	b.stop.stopping, b.stop.cause = true, cause
	if !b.stop.awaiting {
		b.cancel(cause)
	}
	return b.stop.awaiting
}

// errRelayReplaced is the cause of a delivery cancelled as a reload
// replaced the [relay] settings it went out with.
var errRelayReplaced = errors.New("the [relay] configuration changed")

// sendRemote hands a batch's smarthost copies to a goroutine. jobs are
// the batch's jobs with such copies: finished when the answer is taken
// (remoteFinished).
func (a *Agent) sendRemote(ctx context.Context, sends []*send, c courier.Courier) {
	for _, s := range sends {
		a.inflight[s.j.name] = true
	}
	a.remoteOut++
	b := &remoteBatch{sends: sends, recorded: make(chan struct{})}
	a.out[b] = true
	a.showQueued()
	copies := make([]*courier.Copy, len(sends))
	for i, s := range sends {
		copies[i] = s.c
	}
	jobs := jobsOf(sends)
	where := a.sendingWhere(c)
	// Where mailq is told of it is fixed here, in the loop: the worker
	// must not read a.cfg, which a reload replaces meanwhile, and the
	// file must be removed from the state_dir it was written in.
	status := sendingPath(a.cfg)
	host := a.cfg.Hostname // for the worker's log lines (journalSent)
	bctx, cancel := context.WithCancelCause(ctx)
	b.cancel = cancel
	box := a.box
	go func() {
		defer cancel(nil)
		// The local copies are durable: their results need not wait
		// for the smarthost, nor for the deliveries before this one.
		a.recordLocal(jobs)
		// One smarthost delivery at a time: the batches queue here, in
		// the order they came, as they did in the loop. The next one
		// begins once this one's results are recorded: a crash in its
		// first transaction must not find this one's last unrecorded,
		// and send it again.
		a.remoteMu.Lock()
		defer a.remoteMu.Unlock()
		if !b.replaced.Load() {
			b.started = true
			// What homepost queue hold asked to hold while this
			// delivery waited its turn is not sent (heldBack).
			out := heldBack(box, sends)
			if len(out) < len(sends) {
				copies = copies[:0]
				for _, s := range out {
					copies = append(copies, s.c)
				}
			}
			if len(out) > 0 {
				if where != "" {
					a.showSending(status, out, where)
				}
				// Between two transactions, what the smarthost took
				// is recorded at once, here in the worker
				// (journalSent).
				dctx := courier.WithSettled(bctx, func(idx []int, res []courier.Result) { a.journalSent(out, idx, res, host) })
				dctx = courier.WithAwaiting(dctx, b.awaiting)
				res := c.Deliver(dctx, copies)
				// By sends, as the loop reads them; a copy held back
				// has none.
				b.results = make([]courier.Result, len(sends))
				k := 0
				for n, s := range sends {
					if s.held {
						continue
					}
					if k < len(res) {
						b.results[n] = res[k]
					} else {
						b.results[n] = courier.Temp("4.3.0", "no result for this copy")
					}
					k++
				}
			}
		}
		if b.started && bctx.Err() != nil {
			// Cancelled: the agent stops (stopRemote), or a reload
			// replaced the smarthost (relayReplaced). What was not
			// answered is deferred; say why.
			why := "interrupted as the agent stopped: "
			if errors.Is(context.Cause(bctx), errRelayReplaced) {
				why = "interrupted as the [relay] configuration changed: "
			}
			b.stop.Lock()
			answered := b.stop.answered
			b.stop.Unlock()
			for i, r := range b.results {
				if r.Status == outbox.Deferred && (!answered || r.Untried) {
					b.results[i].Reason = why + r.Reason
				}
			}
		}
		a.remoteDone <- b
		<-b.recorded
		if b.started && where != "" {
			a.showSending(status, nil, "")
		}
	}()
}

// remoteOutLimit is how many batches of copies for the smarthost may be
// out at once (each holds up to maxBatch queue files open); the others
// wait in the backlog. A variable for the tests.
var remoteOutLimit = 2

// backlogged is a message in the backlog: its copies for the smarthost
// (for mailq), and the flush that was asked of it.
type backlogged struct {
	sends                          []*send
	force, forceRemote, forceLocal bool
}

// toBacklog puts the jobs of sends, finished with their local results,
// in the backlog (see "A smarthost that does not keep up").
func (a *Agent) toBacklog(sends []*send) {
	for _, j := range jobsOf(sends) {
		if _, ok := a.due[j.name]; !ok {
			continue // retired, or taken up otherwise
		}
		delete(a.due, j.name)
		if _, ok := a.backlog[j.name]; !ok {
			a.backlogList = append(a.backlogList, j.name)
		}
		bl := &backlogged{force: j.force, forceRemote: j.forceRemote, forceLocal: j.forceLocal}
		for _, s := range sends {
			if s.j == j {
				bl.sends = append(bl.sends, s)
			}
		}
		a.backlog[j.name] = bl
	}
	a.showQueued()
}

// runBacklog delivers, in the order they came, as many messages of the
// backlog as the deliveries out leave room for: in the loop, before new
// mail is taken up, which would otherwise take the room as it comes and
// leave the backlog waiting for as long as mail came faster than the
// smarthost took it.
func (a *Agent) runBacklog(ctx context.Context) {
	for a.remoteOut < remoteOutLimit && len(a.backlogList) > 0 && ctx.Err() == nil {
		var batch []*job
		for len(batch) < maxBatch && len(a.backlogList) > 0 {
			name := a.backlogList[0]
			a.backlogList = a.backlogList[1:]
			bl, ok := a.backlog[name]
			delete(a.backlog, name)
			if !ok {
				continue
			}
			if _, scheduled := a.due[name]; scheduled || a.inflight[name] {
				continue // taken up otherwise (a switch of outbox, a start)
			}
			batch = append(batch, &job{name: name, path: a.box.Path("cur", name), recovered: true,
				force: bl.force, forceRemote: bl.forceRemote, forceLocal: bl.forceLocal})
		}
		if len(a.backlogList) == 0 {
			a.backlogList = nil
		}
		if len(batch) > 0 {
			a.deliver(ctx, batch)
		}
	}
}

// backlogDue makes every message of the backlog due now: the deliveries
// out are over (a switch of outbox is made, moveOn).
func (a *Agent) backlogDue() {
	for _, name := range a.backlogList {
		if bl, ok := a.backlog[name]; ok {
			if _, scheduled := a.due[name]; !scheduled {
				a.due[name] = time.Time{}
				a.forced[name] = a.forced[name] || bl.force
				a.forcedRemote[name] = a.forcedRemote[name] || bl.forceRemote
				a.forcedLocal[name] = a.forcedLocal[name] || bl.forceLocal
			}
		}
	}
	clear(a.backlog)
	a.backlogList = nil
	a.showQueued()
}

// jobsOf returns the jobs of sends, each once.
func jobsOf(sends []*send) []*job {
	var jobs []*job
	seen := map[*job]bool{}
	for _, s := range sends {
		if !seen[s.j] {
			seen[s.j] = true
			jobs = append(jobs, s.j)
		}
	}
	return jobs
}

// relayReplaced is called when a reload has replaced the [relay]
// settings: every smarthost delivery out goes with the old ones. Each
// gets stopGrace to end, then is cancelled, or, awaiting the answer to
// a message the smarthost has whole, once that answer is in (up to
// stopAnswerWait more), as at a stop; one not yet begun is not begun.
// Their messages are due at once when they are back (remoteFinished).
func (a *Agent) relayReplaced() {
	n := 0
	for b := range a.out {
		if b.replaced.Swap(true) {
			continue
		}
		n++
		b.cut = time.AfterFunc(stopGrace, func() {
			if b.stopping(errRelayReplaced) {
				// The answer to a message the smarthost has whole:
				// waited for, as at a stop.
				b.stop.Lock()
				if !b.stop.back {
					b.stop.answerCut = time.AfterFunc(stopAnswerWait, func() { b.cancel(errRelayReplaced) })
				}
				b.stop.Unlock()
			}
		})
	}
	if n > 0 {
		a.log.Info("the [relay] configuration changed: the delivery to the smarthost in progress is interrupted unless it ends within "+stopGrace.String()+"; what it has not answered is sent again with the new configuration", "batches", n)
	}
}

// recordLocal records durably, in the worker before the smarthost gets
// anything, the results of the jobs' copies that are done: the local
// ones (stored, their syncs done in deliverHolding), and those that
// failed at once. Bounces wait for their DSN (finish). One append and
// fsync per message that has such results beside its smarthost copies;
// a failure leaves them to be recorded with the others at the end.
func (a *Agent) recordLocal(jobs []*job) {
	for _, j := range jobs {
		var now, later []outbox.Record
		for _, r := range j.recs {
			if r.Kind == 's' && r.Status == outbox.Bounced {
				later = append(later, r)
			} else {
				now = append(now, r)
			}
		}
		if len(now) == 0 {
			continue
		}
		if err := j.m.Append(now...); err != nil {
			a.log.Error("record results", "id", j.m.ID, "reason", err)
			continue
		}
		j.recs = later
	}
}

// remoteFinished records the smarthost's answers to b and finishes its
// jobs: their results are recorded, DSNs sent, and finished queue files
// retired durably and recycled.
func (a *Agent) remoteFinished(b *remoteBatch) {
	a.remoteOut--
	delete(a.out, b)
	a.showQueued()
	if b.cut != nil {
		b.cut.Stop()
	}
	b.stop.Lock()
	b.stop.back = true
	if b.stop.answerCut != nil {
		b.stop.answerCut.Stop()
	}
	b.stop.Unlock()
	if !b.started {
		a.log.Info("the [relay] configuration changed before this delivery to the smarthost began: it goes out with the new configuration", "copies", len(b.sends))
	}
	var jobs []*job
	seen := map[*job]bool{}
	for n, s := range b.sends {
		res := courier.Temp("4.3.0", "no result for this copy")
		if n < len(b.results) {
			res = b.results[n]
		}
		// else recorded as the smarthost took it, or not sent; and a
		// copy not sent of a message that homepost queue deleted while
		// it was out is no delivery to log or bounce: the message is gone.
		if !s.early && !s.held && b.started && (res.Status == outbox.Sent || !deletedFromQueue(s.j)) {
			a.result(s.j, s.idx, s.t, res)
		}
		if !seen[s.j] {
			seen[s.j] = true
			jobs = append(jobs, s.j)
		}
	}
	var retired []*outbox.Message
	for _, j := range jobs {
		delete(a.inflight, j.name)
		if a.finish(j) {
			retired = append(retired, j.m)
			continue
		}
		if _, ok := a.due[j.name]; ok && b.replaced.Load() {
			// Sent out with the smarthost settings a reload replaced:
			// with the new ones at once, not after the backoff.
			a.due[j.name] = time.Time{}
			a.forcedRemote[j.name] = true
		}
	}
	a.release(retired)
	if b.recorded != nil {
		close(b.recorded)
	}
	if w := a.answering; w != nil {
		delete(w.batches, b)
		a.answerIfDone()
	}
}

// stopGrace is how long a stopping agent lets the deliveries still out
// to the smarthost go on before it cancels them. Cancelled, a delivery
// ends at once (the connection is closed, a command killed) and its
// recipients not answered are deferred, recorded so.
const stopGrace = 2 * time.Second

// stopAnswerWait is how long, past stopGrace, a stopping agent waits
// for the smarthost's answer to a message whose data it has whole (its
// final dot sent, or an exec: program that has read it all): the
// smarthost takes such a message whatever becomes of the connection,
// and a delivery cut off in that wait would send it again, a second
// copy. A server that scans content may take tens of seconds (RFC 5321,
// 4.5.3.2.6, lets it take 10 minutes); systemd kills the unit that has
// not stopped within its TimeoutStopSec (45 s in homepost.service).
const stopAnswerWait = 30 * time.Second

// stopRemote takes the answers of every smarthost delivery still out.
// After stopGrace it cancels those that have no message's answer
// pending, and each of the others as soon as its answer is in (no
// later message goes out), or after stopAnswerWait more.
func (a *Agent) stopRemote(cancel context.CancelFunc) {
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	var late <-chan time.Time
	for a.remoteOut > 0 {
		select {
		case b := <-a.remoteDone:
			a.remoteFinished(b)
		case <-grace.C:
			waits := 0
			for b := range a.out {
				if b.stopping(nil) {
					waits++
				}
			}
			if waits == 0 {
				a.log.Info("agent stopping: interrupting the delivery to the smarthost; what it has not answered is deferred", "batches", a.remoteOut)
				cancel()
				continue
			}
			a.log.Info("agent stopping: waiting for the smarthost's answer to a message it has whole (cut off, it would be sent again)", "up_to", stopAnswerWait.String())
			t := time.NewTimer(stopAnswerWait)
			defer t.Stop()
			late = t.C
		case <-late:
			a.log.Info("agent stopping: no answer from the smarthost; interrupting the delivery; the message is sent again at the next try", "batches", a.remoteOut)
			cancel()
		}
	}
}

// stopOnce gives the delivery to the smarthost of a one-shot pass
// (homepost flush, agent --once) a stopping daemon's rules
// (stopRemote): once SIGTERM or SIGINT has come, it goes on for
// stopGrace, then is cancelled, unless the answer to a message the
// smarthost has whole is awaited: then it is cancelled once that
// answer is in, or after stopAnswerWait more. It ran to its end:
// data_timeout for an exec: program that waits for a passphrase at the
// terminal where ^C was typed, now that the ^C is not the program's
// (relay.execSend); and a ^C that killed such a program after it had
// read the message had it sent twice. The function returned is called
// once the delivery has ended.
func (a *Agent) stopOnce(ctx context.Context) (context.Context, func()) {
	stopped := a.stopped
	if stopped == nil {
		return ctx, func() {}
	}
	bctx, cancel := context.WithCancelCause(ctx)
	b := &remoteBatch{cancel: cancel}
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		select {
		case <-stopped:
		case <-done:
			return
		}
		grace := time.NewTimer(stopGrace)
		defer grace.Stop()
		select {
		case <-grace.C:
		case <-done:
			return
		}
		if !b.stopping(nil) {
			a.log.Info("stopping: interrupting the delivery to the smarthost; what it has not answered is deferred")
			return
		}
		a.log.Info("stopping: waiting for the smarthost's answer to a message it has whole (cut off, it would be sent again)", "up_to", stopAnswerWait.String())
		late := time.NewTimer(stopAnswerWait)
		defer late.Stop()
		select {
		case <-late.C:
			a.log.Info("stopping: no answer from the smarthost; interrupting the delivery; the message is sent again at the next try")
			cancel(nil)
		case <-done:
		}
	}()
	return courier.WithAwaiting(bctx, b.awaiting), func() {
		close(done)
		<-ended
		cancel(nil)
	}
}

// sendingPath is the file that says which smarthost delivery is out
// (showSending, Sending).
func sendingPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "agent.sending") }

// relayWhere names the smarthost as mailq shows it: host:port, or the
// program of an exec: relay.
func relayWhere(cfg *config.Config) string {
	ep, err := settings.ParseRelayURL(cfg.Relay.URL)
	switch {
	case err != nil:
		return "the smarthost"
	case ep.Kind == settings.RelayExec && len(ep.Argv) > 0:
		return ep.Argv[0]
	}
	return ep.Addr()
}

// sendingWhere is the smarthost that courier c sends to, as mailq
// shows it; "" for none (no usable smarthost: the copies are deferred
// at once, and there is nothing to show).
func (a *Agent) sendingWhere(c courier.Courier) string {
	if _, ok := c.(courier.Hold); ok {
		return ""
	}
	return relayWhere(a.cfg)
}

// showSending replaces the file p (sendingPath, as the delivery was
// handed to the worker) that says which smarthost delivery is out:
// sends, to where, from now; none removes it. Its first line is
// "PID SINCE WHERE" (SINCE in Unix seconds), each other "ID IDX,IDX..."
// for a message and its recipients. Written whole and renamed into
// place, without fsync: after a crash it names a process that is gone,
// and is not read.
func (a *Agent) showSending(p string, sends []*send, where string) {
	if len(sends) == 0 {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Debug("remove smarthost status", "reason", err)
		}
		return
	}
	a.writeSends(p, strconv.Itoa(os.Getpid())+" "+strconv.FormatInt(a.now().Unix(), 10)+" "+oneLine(where), sends)
}

// showQueued is called by the loop when the smarthost deliveries out
// change: while more than one is out, the others wait behind the one in
// progress (remoteMu), and a file beside sendingPath lists them all for
// mailq, "PID" then a line per message as there. Nothing is written
// while at most one is out. The file is removed where it was written
// (a.queuedAt), in the state_dir that a move may since have replaced.
func (a *Agent) showQueued() {
	p := queuedPath(a.cfg)
	none := len(a.out) <= 1 && len(a.backlog) == 0
	if a.queuedAt != "" && (none || a.queuedAt != p) {
		if err := os.Remove(a.queuedAt); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Debug("remove smarthost status", "reason", err)
		}
		a.queuedAt = ""
	}
	if none {
		return
	}
	a.queuedAt = p
	var sends []*send
	for b := range a.out {
		sends = append(sends, b.sends...)
	}
	for _, name := range a.backlogList {
		if bl, ok := a.backlog[name]; ok {
			sends = append(sends, bl.sends...)
		}
	}
	a.writeSends(p, strconv.Itoa(os.Getpid()), sends)
}

// queuedPath is the file that lists the smarthost deliveries out
// (showQueued).
func queuedPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "agent.queued") }

// writeSends replaces the file p with the line head, then a line "ID
// IDX,IDX..." per message of sends, with its recipients there.
func (a *Agent) writeSends(p, head string, sends []*send) {
	var b strings.Builder
	b.WriteString(head + "\n")
	line := map[*job]int{}
	var rows [][]string
	var ids []string
	for _, s := range sends {
		k, ok := line[s.j]
		if !ok {
			k = len(rows)
			line[s.j] = k
			rows = append(rows, nil)
			ids = append(ids, s.j.m.ID)
		}
		rows[k] = append(rows[k], strconv.Itoa(s.idx))
	}
	for k, id := range ids {
		b.WriteString(id + " " + strings.Join(rows[k], ",") + "\n")
	}
	if err := writeNote(p, p+".tmp", []byte(b.String())); err != nil {
		a.log.Debug("write smarthost status", "reason", err)
	}
}

// oneLine replaces the line breaks of s, which a file of lines cannot
// hold.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return '?'
		}
		return r
	}, s)
}

// Sending is what the running agent says of its delivery to the
// smarthost in progress.
type Sending struct {
	Where string    // host:port, or the program of an exec: relay
	Since time.Time // when the delivery began
	// Rcpts maps the queue ID of each message it carries to its
	// recipients there (their index in the envelope).
	Rcpts map[string][]int
	// Waiting holds, in the same way, what other deliveries out wait
	// behind it.
	Waiting map[string][]int
}

// Has reports whether the delivery in progress carries the message id,
// or one waiting behind it does.
func (s Sending) Has(id string) bool {
	_, out := s.Rcpts[id]
	_, waits := s.Waiting[id]
	return out || waits
}

// RunningSending reads what the running agent says of its delivery to
// the smarthost in progress; false when none is out, or no agent runs.
func RunningSending(cfg *config.Config) (Sending, bool) {
	running, ok := Running(cfg)
	if !ok {
		return Sending{}, false
	}
	var s Sending
	// Files left by an agent that is gone name another pid.
	if f, rcpts, ok := readSends(sendingPath(cfg), running); ok && len(f) == 3 {
		if since, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			s.Where, s.Since, s.Rcpts = f[2], time.Unix(since, 0), rcpts
		}
	}
	if _, rcpts, ok := readSends(queuedPath(cfg), running); ok {
		for id, idx := range rcpts {
			if _, out := s.Rcpts[id]; !out {
				if s.Waiting == nil {
					s.Waiting = map[string][]int{}
				}
				s.Waiting[id] = idx
			}
		}
	}
	return s, len(s.Rcpts)+len(s.Waiting) > 0
}

// readSends reads a file that writeSends wrote for the agent of pid:
// the fields of its first line (at most 3: PID SINCE WHERE) and the
// recipients of each message.
func readSends(p string, pid int) ([]string, map[string][]int, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, false
	}
	first, rest, _ := strings.Cut(string(b), "\n")
	f := strings.SplitN(first, " ", 3)
	if n, err := strconv.Atoi(f[0]); err != nil || n != pid {
		return nil, nil, false
	}
	rcpts := map[string][]int{}
	for _, line := range strings.Split(rest, "\n") {
		id, list, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, n := range strings.Split(list, ",") {
			if i, err := strconv.Atoi(n); err == nil {
				rcpts[id] = append(rcpts[id], i)
			}
		}
	}
	return f, rcpts, true
}

// deletedFromQueue reports whether j's queue file was removed (homepost
// queue delete) while the agent had it open.
func deletedFromQueue(j *job) bool {
	_, err := os.Lstat(j.path)
	return errors.Is(err, os.ErrNotExist)
}
