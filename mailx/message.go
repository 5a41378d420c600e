// Package mailx is the mail(1) command: a POSIX mailx that sends mail
// through homepost's outbox and reads the user's Maildir or mbox. It
// holds the command language and the display; the mailbox formats
// (listing, header reads, locks, scans, rewrites) are package maildir's.
//
// Reading is built to list a mailbox of 100,000 messages in well under a
// second and in less memory than s-nail: a Maildir's files are opened in
// parallel and only their header section is read; an mbox is scanned
// once, sequentially, and each message is remembered by its offset. A
// session keeps a compact summary per message (see Msg); mail -H keeps
// none (see listHeaders). Bodies are read when a message is shown.
//
// Changes are applied on quit, as mailx does: in a Maildir by renaming
// files (new/ to cur/, info flags), replacing edited ones (written in tmp/
// and renamed over the old name) and removing deleted ones; in an mbox by
// rewriting the file atomically under the same locks that delivery takes,
// after picking up any message appended meanwhile.
package mailx

import (
	"strings"
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

	fInNew    // Maildir: the file is in new/ (else in cur/)
	fFromDate // the summary shows the mbox "From " line's date
	fEdited   // edit or visual replaced the text (see Box.edited)
	// fTrashed: Maildir T (mutt's maildir_trash, s-nail): listed as
	// deleted, but kept on quit, trashed, unless undeleted (the T is
	// then dropped) or deleted again after that.
	fTrashed
	fFlagged // Maildir F: shown 'F', as s-nail shows it
)

// Msg is one message of an open mailbox, as a compact summary: where it
// is, its size and lines, its flags, and the few header fields that the
// header summary and message lists look at, decoded once and packed into
// one string (sum) in an arena of the mailbox. The rest of a message,
// the mbox "From " line included, is read from the mailbox when it is
// needed. A Msg is 64 bytes, and the summaries of a big mailbox are
// allocated together, so that listing 100,000 messages holds less
// memory than s-nail does.
type Msg struct {
	Num   int32
	Lines int32 // -1 when not known without reading the body

	// loc is the Maildir file name, info part included, in new/
	// (fInNew) or cur/; empty for an mbox message.
	loc string
	// sum packs the summary's fields; see the sum* constants.
	sum string

	// Off is where an mbox message starts (its "From " line).
	Off int64
	// Size is the message's length: a Maildir file's size; an mbox
	// message's span from its "From " line up to, not including, the
	// blank line that separates it from the next; the edited text's.
	Size int64

	flags flag
}

// Fields of sum, in order: From and Subject, decoded and made
// printable; an mbox message's Status field as stored; the envelope
// sender of its "From " line when From gives no address; the date
// column: the "From " line's date as written (fFromDate), else the
// Date field's, else a Maildir file's modification time, in Unix
// seconds (zigzag varint), or nothing.
const (
	sumFrom = iota
	sumSubject
	sumStatus
	sumEnvSender
	sumDate
	sumFields
)

// packSum appends the summary fields packed to buf: each field is its
// length as a uvarint, then its bytes.
func packSum(buf []byte, fields *[sumFields][]byte) []byte {
	for _, f := range fields {
		n := uint64(len(f))
		for ; n >= 0x80; n >>= 7 {
			buf = append(buf, byte(n)|0x80)
		}
		buf = append(buf, byte(n))
		buf = append(buf, f...)
	}
	return buf
}

// field returns field k of sum.
func (m *Msg) field(k int) string {
	s := m.sum
	for i := 0; s != ""; i++ {
		var n uint64
		w := 0
		for shift := 0; w < len(s) && shift < 64; shift += 7 {
			c := s[w]
			w++
			n |= uint64(c&0x7f) << shift
			if c < 0x80 {
				break
			}
		}
		if uint64(len(s)-w) < n {
			return ""
		}
		if i == k {
			return s[w : w+int(n)]
		}
		s = s[w+int(n):]
	}
	return ""
}

// from is the From field, decoded.
func (m *Msg) from() string { return m.field(sumFrom) }

// subject is the Subject field, decoded.
func (m *Msg) subject() string { return m.field(sumSubject) }

// status is an mbox message's Status field as stored.
func (m *Msg) status() string { return m.field(sumStatus) }

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
	case m.has(fFlagged):
		return 'F'
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
	if a := addrOf(m.from()); a != "" {
		return a
	}
	return m.field(sumEnvSender)
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
