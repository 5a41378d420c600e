// Package courier delivers one copy of a queued message to one kind of
// target. It holds what every way of delivering shares: the three
// outcomes (sent, temporary failure, permanent failure) with an enhanced
// status code and a reason, and the trace headers a delivered copy
// carries.
//
// The name is chasquid's (internal/courier): a courier carries a copy to
// where it goes and knows how; when to try, how often, and what to write
// down about it is the queue's business (package agent). The package was
// called delivery while it only held the vocabulary; now that it
// delivers, it is named for what it does. The on-disk formats stay in
// package maildir (the durable Maildir writer, the locked mbox append):
// a courier calls them and turns their errors into Results.
//
// There is one Courier per kind of target: Maildir, Mbox, Command, and
// Relay (the smarthost, through package relay). A courier takes a whole
// batch of copies at once because two kinds of target are fast only in
// bulk: a Maildir shares one directory fsync among all the copies of a
// batch (group commit), and the smarthost carries them all over one
// connection. Each copy still gets its own Result.
//
// A courier keeps no record: it neither retries, nor schedules, nor
// journals. What it needs to avoid storing a copy twice after a crash
// comes with the copy: a name that is the same at every attempt, and
// whether an earlier attempt may have stored it already (Recovered); for
// an mbox, a way to record where the copy is about to go (Mark) and what
// an earlier attempt recorded (Marked).
package courier

import (
	"context"
	"fmt"
	"io"
	"time"

	"homepost/maildir"
	"homepost/outbox"
)

// Courier delivers copies to one kind of target.
type Courier interface {
	// Deliver delivers every copy and returns one Result per copy, in
	// the same order. A copy whose Result is sent is durable (fsynced,
	// its directory too) or accepted by the next hop by the time
	// Deliver returns.
	Deliver(ctx context.Context, copies []*Copy) []Result
}

// Copy is one copy of a queued message for one target.
type Copy struct {
	ID     string // queue ID
	Name   string // unique, and the same at every attempt: a Maildir copy's file name
	Sender string // envelope sender, "" for <>
	// To is where the copy goes: a Maildir's directory, an mbox's path,
	// a command line, or a remote address.
	To string
	// Rcpt is the address the copy is delivered for: its Delivered-To,
	// a command's $RECIPIENT.
	Rcpt string
	// Orig is the recipient as first submitted: a command's
	// $ORIGINAL_RECIPIENT.
	Orig   string
	Header []byte // fields put before the message (trace headers)
	// Body returns the message from its first byte at each call.
	Body func() io.Reader
	Size int64     // bytes that Body returns
	Time time.Time // when it is delivered: an mbox's From line
	// Recovered says that an earlier attempt may have stored the copy
	// already (a crash came before its result was recorded): look for
	// it before storing it again.
	Recovered bool
	// Mark, for an mbox copy, is called under the mbox's locks before
	// the first byte is appended, with where the copy will start and
	// what it will be; it returns once that is durable (the agent
	// writes it in the queue file's journal). Marked is what an earlier
	// attempt's Mark recorded, if any: the mbox is read there to know
	// whether that attempt stored the copy, cut it off, or wrote
	// nothing. The courier keeps no record itself; these carry it.
	Mark   func(maildir.Mark) error
	Marked *maildir.Mark
	// DSN is what the sender asked of delivery status notifications
	// (sendmail -N, -R, -V), passed on to a smarthost that offers DSN.
	DSN DSNRequest
}

// DSNRequest is a sender's request for delivery status notifications
// (RFC 3461), as sendmail -N, -R and -V give it: NOTIFY ("never", or a
// list of success, delay, failure), RET ("full" or "hdrs") and ENVID.
// Empty fields ask nothing.
type DSNRequest struct {
	Notify, Ret, EnvID string
}

// Result is the outcome of one delivery attempt to one target.
type Result struct {
	Status outbox.Status // outbox.Sent, outbox.Deferred or outbox.Bounced
	DSN    string        // enhanced status code, RFC 3463 ("2.0.0", "4.4.1", "5.1.1")
	Reason string        // human-readable, e.g. the remote server's reply
	// Untried: deferred as the delivery was stopped (the agent stops,
	// a reload replaced [relay]) before the copy was offered to anyone:
	// no attempt was made, and none is recorded (NotTried).
	Untried bool
}

// NotTried is the deferral of a copy that a stopped delivery never
// offered to the smarthost (Result.Untried).
func NotTried(dsn, format string, args ...any) Result {
	r := Temp(dsn, format, args...)
	r.Untried = true
	return r
}

// OK is a successful delivery.
func OK(reason string) Result { return Result{Status: outbox.Sent, DSN: "2.0.0", Reason: reason} }

// Temp is a temporary failure: the target is tried again later.
func Temp(dsn, format string, args ...any) Result {
	return Result{Status: outbox.Deferred, DSN: dsn, Reason: fmt.Sprintf(format, args...)}
}

// Perm is a permanent failure: the sender gets a DSN.
func Perm(dsn, format string, args ...any) Result {
	return Result{Status: outbox.Bounced, DSN: dsn, Reason: fmt.Sprintf(format, args...)}
}

// Unknown is an attempt whose outcome is not known: the copy may be
// stored but is not known to be durable (its directory could not be
// fsynced). Nothing is to be recorded for it; the next attempt looks for
// the copy (Copy.Recovered) and makes it durable. Its Status is
// outbox.Pending: the recipient stays as it was.
func Unknown(dsn, format string, args ...any) Result {
	return Result{Status: outbox.Pending, DSN: dsn, Reason: fmt.Sprintf(format, args...)}
}

// Text is the reason as stored in the journal and shown by mailq: the
// status code, then the reason.
func (r Result) Text() string {
	if r.DSN == "" {
		return r.Reason
	}
	return r.DSN + " " + r.Reason
}
