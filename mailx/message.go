// Package mailx is the mail(1) command: a POSIX mailx that sends mail
// through homepost's outbox and reads the user's Maildir or mbox.
//
// Reading is built to list a mailbox of 100,000 messages in well under a
// second: a Maildir's files are opened in parallel and only their header
// section is read; an mbox is scanned once, sequentially, and each message
// is remembered by its offset. Bodies are read when a message is shown.
//
// Changes are applied on quit, as mailx does: in a Maildir by renaming
// files (new/ to cur/, info flags), replacing edited ones (written in tmp/
// and renamed over the old name) and removing deleted ones; in an mbox by
// rewriting the file atomically under the same locks that delivery takes,
// after picking up any message appended meanwhile.
package mailx

import (
	"strings"
	"time"
)

// flag is the session state of a message, as mailx keeps it.
type flag uint16

const (
	fNew       flag = 1 << iota // arrived since the mailbox was last read (Maildir new/, no Status)
	fSeen                       // read before this session (Maildir S, mbox Status R)
	fRead                       // read in this session
	fDeleted                    // deleted in this session
	fSaved                      // saved to a file with s
	fPreserved                  // pre/ho: keep in the mailbox
	fMbox                       // mb: move to ~/mbox on quit
	fReplied                    // answered in this session
	fTouched                    // printed, saved or otherwise acted on
	fOld                        // mbox Status O / Maildir cur/: listed before
)

// Msg is one message of an open mailbox. Only what the header summary
// needs is kept; the body is read on demand.
type Msg struct {
	Num int

	// Maildir: the file; Name is its base name without the info part.
	Path string
	Name string
	Info string // the Maildir info flags after ":2,", sorted

	// mbox: where the message starts (its "From " line) and its length
	// up to, not including, the blank line that separates it from the
	// next.
	Off, Len int64
	FromLine string // the "From " line without "From " and the newline

	From, Subject, Date, Status, XStatus, MsgID string

	Lines int64 // -1 when not known without reading the body
	Size  int64
	MTime time.Time

	flags flag
	key   int64 // Maildir: sort key, the delivery time of the name

	// edited is the text that edit or visual left, header and body
	// with LF line ends as Raw returns them; nil when the message was
	// not edited. It replaces the stored message for the rest of the
	// session, and quit writes it back.
	edited []byte
}

func (m *Msg) has(f flag) bool { return m.flags&f != 0 }

// stateChar is the letter the header summary shows before the number:
// the s-nail set of N (new), U (unread), R (read in this session), O (old,
// read before), with '*' saved, P preserved, M to mbox and D deleted
// taking precedence.
func (m *Msg) stateChar() byte {
	switch {
	case m.has(fDeleted):
		return 'D'
	case m.has(fSaved):
		return '*'
	case m.has(fMbox):
		return 'M'
	case m.has(fPreserved):
		return 'P'
	case m.has(fRead):
		return 'R'
	case m.has(fSeen):
		return 'O'
	case m.has(fNew):
		return 'N'
	}
	return 'U'
}

// unread reports whether the message has not been read, in this session
// or before.
func (m *Msg) unread() bool { return !m.has(fRead) && !m.has(fSeen) }

// sender returns the address the summary shows: the address part of
// From, else the envelope sender of the "From " line.
func (m *Msg) sender() string {
	if a := addrOf(decodeHeader(m.From)); a != "" {
		return a
	}
	s, _, _ := strings.Cut(m.FromLine, " ")
	return s
}

// addrOf extracts the first address of an address-list header value
// without a full parse: the part in angle brackets, else the value with
// comments removed.
func addrOf(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
	}
	if i := strings.IndexByte(v, '('); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}
