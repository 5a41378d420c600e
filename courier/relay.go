package courier

import (
	"bytes"
	"context"
	"io"
)

// Outgoing is a queued message handed to the smarthost: one envelope,
// the recipients still to do, and the message (LF line endings, as
// queued; the relay converts to CRLF and dot-stuffs on the wire).
type Outgoing struct {
	ID     string   // queue ID, for logs
	Sender string   // envelope sender, "" for <>
	Rcpts  []string // remote recipients
	Size   int64
	// Open returns a fresh reader of the message each call, so that a
	// retry on another connection starts from the beginning.
	Open func() io.Reader
	// Settled, when set, is told the results of the recipients (their
	// indexes in Rcpts) that the Sender has settled, before it begins
	// its next transaction of the same call, so that they can be
	// recorded durably first: a crash then sends again only what was in
	// flight. The last transaction's results are not told; they come
	// back from Send with the rest.
	Settled func(rcpts []int, res []Result)
	// DSN is the sender's request for delivery status notifications,
	// sent as MAIL's RET and ENVID and each RCPT's NOTIFY where the
	// smarthost offers DSN.
	DSN DSNRequest
}

type settledKey struct{}

// WithSettled returns ctx carrying f to the Relay courier, which tells
// f the results that the smarthost settled before each transaction
// after the first (Outgoing.Settled), by index of the copies given to
// Deliver.
func WithSettled(ctx context.Context, f func(copies []int, res []Result)) context.Context {
	return context.WithValue(ctx, settledKey{}, f)
}

type awaitingKey struct{}

// WithAwaiting returns ctx carrying f, which the smarthost's client
// tells when a message's data has all gone out and its answer is
// awaited (true), and when the answer is in or the wait is over
// (false). A delivery cut off in that wait has the message sent again
// once more, since the smarthost may have taken it: a stop lets such a
// delivery end (see agent.stopRemote).
func WithAwaiting(ctx context.Context, f func(bool)) context.Context {
	return context.WithValue(ctx, awaitingKey{}, f)
}

// Awaiting tells ctx's WithAwaiting function, if any, whether the answer
// to a message's data is awaited.
func Awaiting(ctx context.Context, on bool) {
	if f, ok := ctx.Value(awaitingKey{}).(func(bool)); ok {
		f(on)
	}
}

// Sender sends messages through the smarthost, all of them over as few
// connections as it can; relay.Client is the real one. It returns one
// Result per recipient of each message.
type Sender interface {
	Send(ctx context.Context, msgs []*Outgoing) [][]Result
}

// Relay delivers remote copies through the smarthost. The copies of one
// message that carry the same header (the same Delivered-To, or none)
// travel as one message with several recipients; the whole batch goes to
// the Sender in one call, so that one connection carries it.
type Relay struct{ Sender Sender }

// Deliver implements Courier.
func (r Relay) Deliver(ctx context.Context, copies []*Copy) []Result {
	var out []*Outgoing
	type place struct{ msg, rcpt int }
	where := make([]place, len(copies))
	byKey := map[string]int{}
	settled, _ := ctx.Value(settledKey{}).(func([]int, []Result))
	var copyOf [][]int // message, recipient → copy
	for i, c := range copies {
		key := c.ID + "\x00" + string(c.Header)
		k, ok := byKey[key]
		if !ok {
			k = len(out)
			byKey[key] = k
			m := &Outgoing{ID: c.ID, Sender: c.Sender, Size: c.Size + int64(len(c.Header)), DSN: c.DSN,
				Open: func() io.Reader { return io.MultiReader(bytes.NewReader(c.Header), c.Body()) }}
			if settled != nil {
				copyOf = append(copyOf, nil)
				m.Settled = func(rcpts []int, res []Result) {
					idx := make([]int, len(rcpts))
					for n, r := range rcpts {
						idx[n] = copyOf[k][r]
					}
					settled(idx, res)
				}
			}
			out = append(out, m)
		}
		where[i] = place{k, len(out[k].Rcpts)}
		out[k].Rcpts = append(out[k].Rcpts, c.To)
		if settled != nil {
			copyOf[k] = append(copyOf[k], i)
		}
	}
	res := make([]Result, len(copies))
	if len(out) == 0 {
		return res
	}
	sent := r.Sender.Send(ctx, out)
	for i, w := range where {
		res[i] = Temp("4.3.0", "no result from the smarthost")
		if w.msg < len(sent) && w.rcpt < len(sent[w.msg]) {
			res[i] = sent[w.msg][w.rcpt]
		}
	}
	return res
}

// Hold answers every copy with the same Result without delivering it:
// without a usable smarthost, remote mail waits in the queue (mailq
// says why) instead of being lost or bounced.
type Hold struct{ Result Result }

// Deliver implements Courier.
func (h Hold) Deliver(_ context.Context, copies []*Copy) []Result {
	res := make([]Result, len(copies))
	for i := range res {
		res[i] = h.Result
	}
	return res
}
