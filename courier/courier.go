// Package courier delivers one copy of a queued message to one kind of
// target. It holds what every way of delivering shares: the three
// outcomes (sent, temporary failure, permanent failure) with an enhanced
// status code and a reason, and the trace headers a delivered copy
// carries.
//
// The name is chasquid's (internal/courier): a courier carries a copy to
// where it goes and knows how; when to try, how often, and what to write
// down about it is the queue's business (package agent).
package courier

import (
	"fmt"
	"io"
	"time"

	"homepost/outbox"
)

// Result is the outcome of one delivery attempt to one target.
type Result struct {
	Status outbox.Status // outbox.Sent, outbox.Deferred or outbox.Bounced
	DSN    string        // enhanced status code, RFC 3463 ("2.0.0", "4.4.1", "5.1.1")
	Reason string        // human-readable, e.g. the remote server's reply
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

// Text is the reason as stored in the journal and shown by mailq: the
// status code, then the reason.
func (r Result) Text() string {
	if r.DSN == "" {
		return r.Reason
	}
	return r.DSN + " " + r.Reason
}

// Trace is what the trace headers of a delivered copy say.
type Trace struct {
	Sender      string // envelope sender ("" for <>)
	DeliveredTo string // the recipient this copy is for
	ID          string // queue ID
	Host        string // this host's name
	Time        time.Time
}

// Header returns the Return-Path, Delivered-To and Received fields that
// are prepended to a delivered copy (RFC 5321 4.4).
func (t Trace) Header() []byte {
	b := make([]byte, 0, 256)
	b = append(b, "Return-Path: <"...)
	b = append(b, t.Sender...)
	b = append(b, ">\n"...)
	if t.DeliveredTo != "" {
		b = append(b, "Delivered-To: "...)
		b = append(b, t.DeliveredTo...)
		b = append(b, '\n')
	}
	b = append(b, "Received: by "...)
	b = append(b, t.Host...)
	b = append(b, " (homepost) id "...)
	b = append(b, t.ID...)
	if t.DeliveredTo != "" {
		b = append(b, "\n\tfor <"...)
		b = append(b, t.DeliveredTo...)
		b = append(b, '>')
	}
	b = append(b, "; "...)
	b = t.Time.AppendFormat(b, time.RFC1123Z)
	return append(b, '\n')
}

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
}
