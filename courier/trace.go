package courier

import (
	"time"
)

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
	// In UTC: a retry makes a marked mbox copy's trace again from the
	// first attempt's time (to find the copy a reader's rewrite moved),
	// and the process that retries may run in another time zone than
	// the one that tried first (a shell's TZ, the systemd agent's).
	b = t.Time.UTC().AppendFormat(b, time.RFC1123Z)
	return append(b, '\n')
}
