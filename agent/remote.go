package agent

import (
	"context"
	"time"

	"homepost/courier"
	"homepost/outbox"
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

// remoteBatch is a batch's copies for the smarthost and, once they are
// delivered, their results.
type remoteBatch struct {
	sends   []*send
	results []courier.Result
	// recorded is closed once the loop has recorded the results
	// (remoteFinished): the worker holds the smarthost until then.
	recorded chan struct{}
}

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
	copies := make([]*courier.Copy, len(sends))
	for i, s := range sends {
		copies[i] = s.c
	}
	// Between two transactions, what the smarthost took is recorded
	// at once, here in the worker (journalSent).
	dctx := courier.WithSettled(ctx, func(idx []int, res []courier.Result) { a.journalSent(sends, idx, res) })
	go func() {
		// One smarthost delivery at a time: the batches queue here, in
		// the order they came, as they did in the loop. The next one
		// begins once this one's results are recorded: a crash in its
		// first transaction must not find this one's last unrecorded,
		// and send it again.
		a.remoteMu.Lock()
		defer a.remoteMu.Unlock()
		b.results = c.Deliver(dctx, copies)
		if ctx.Err() != nil {
			// Cancelled: the agent stops (stopRemote). What was not
			// answered is deferred; say why.
			for i, r := range b.results {
				if r.Status == outbox.Deferred {
					b.results[i].Reason = "interrupted as the agent stopped: " + r.Reason
				}
			}
		}
		a.remoteDone <- b
		<-b.recorded
	}()
}

// remoteFinished records the smarthost's answers to b and finishes its
// jobs: their results are recorded, DSNs sent, and finished queue files
// retired durably and recycled.
func (a *Agent) remoteFinished(b *remoteBatch) {
	a.remoteOut--
	delete(a.out, b)
	var jobs []*job
	seen := map[*job]bool{}
	for n, s := range b.sends {
		res := courier.Temp("4.3.0", "no result for this copy")
		if n < len(b.results) {
			res = b.results[n]
		}
		if !s.early { // else recorded as the smarthost took it
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
		}
	}
	a.release(retired)
	if b.recorded != nil {
		close(b.recorded)
	}
	if w := a.answering; w != nil {
		delete(w.batches, b)
		if len(w.batches) == 0 {
			a.answering = nil
			a.passAt = w.start
			a.writeStatus()
		}
	}
}

// stopGrace is how long a stopping agent waits for the smarthost's
// answers before it cancels the deliveries still out: a message whose
// data the smarthost has taken, and whose answer is on its way, would
// be sent again if cancelled. Cancelled, a delivery ends at once (the
// connection is closed, a command killed) and its recipients not
// answered are deferred, recorded so.
const stopGrace = 2 * time.Second

// stopRemote takes the answers of every smarthost delivery still out,
// waiting at most stopGrace before it cancels them.
func (a *Agent) stopRemote(cancel context.CancelFunc) {
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	for a.remoteOut > 0 {
		select {
		case b := <-a.remoteDone:
			a.remoteFinished(b)
		case <-grace.C:
			a.log.Info("agent stopping: interrupting the delivery to the smarthost; what it has not answered is deferred", "batches", a.remoteOut)
			cancel()
		}
	}
}
