package courier

import (
	"bytes"
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
	b = t.Time.AppendFormat(b, time.RFC1123Z)
	return append(b, '\n')
}

// identity returns the part of a trace header (Header) that tells its
// copy from every other: everything up to the date of the Received
// field, that is the envelope sender, the recipient and the queue ID. A
// retry after a crash looks for it in an mbox. A header of another shape
// is its own identity.
func identity(hdr []byte) []byte {
	i := bytes.Index(hdr, []byte(" (homepost) id "))
	if i < 0 {
		return hdr
	}
	j := bytes.Index(hdr[i:], []byte("; "))
	if j < 0 {
		return hdr
	}
	return hdr[:i+j+1]
}
