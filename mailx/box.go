package mailx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"time"

	"homepost/maildir"
)

// Box is an open mailbox: a Maildir or an mbox.
type Box struct {
	Kind string // "maildir" or "mbox"
	Path string
	// System is set for the user's own store: on quit, read messages may
	// move to ~/mbox and saved ones are removed, as mailx does with the
	// system mailbox; another folder (-f) only loses deleted messages.
	System bool
	Msgs   []*Msg

	f    *os.File        // mbox: open for reading bodies by offset
	read maildir.Scanned // mbox: what was scanned

	// edits holds the text that edit or visual left for a message,
	// header and body with LF line ends as Raw returns them. It
	// replaces the stored message for the rest of the session, and
	// quit writes it back.
	edits map[*Msg][]byte
}

// edited is the text that replaces m, or nil when m was not edited.
func (b *Box) edited(m *Msg) []byte {
	if !m.has(fEdited) {
		return nil
	}
	return b.edits[m]
}

// openBox opens and lists a mailbox. A missing system mailbox is an empty
// one.
func openBox(kind, path string, system bool) (*Box, error) {
	b := &Box{Kind: kind, Path: path, System: system}
	switch kind {
	case "maildir":
		msgs, err := scanMaildir(path)
		if err != nil {
			return nil, err
		}
		b.Msgs = msgs
	default:
		f, msgs, size, err := openMbox(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && system {
				return b, nil
			}
			return nil, err
		}
		b.f, b.Msgs, b.read = f, msgs, size
	}
	return b, nil
}

// Close releases the mbox file.
func (b *Box) Close() {
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
}

// Raw returns a message as stored: header and body with LF line ends,
// without the mbox "From " line and with mboxrd quoting undone.
func (b *Box) Raw(m *Msg) ([]byte, error) {
	if m.has(fEdited) {
		// A copy: callers append to the header that splitMessage
		// cuts out of it, which would write into the body.
		return bytes.Clone(b.edits[m]), nil
	}
	if b.Kind == "maildir" {
		data, err := os.ReadFile(b.path(m))
		if errors.Is(err, os.ErrNotExist) && b.relocate(m) {
			data, err = os.ReadFile(b.path(m))
		}
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", m.Num, err)
		}
		return data, nil
	}
	if b.f == nil {
		return nil, errors.New("mailbox is closed")
	}
	out, err := maildir.ReadMessage(b.f, m.Off, m.Size)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", m.Num, err)
	}
	return out, nil
}

// fromLine returns an mbox message's "From " line without "From " and
// the newline, read from the mailbox; "" for a Maildir message.
func (b *Box) fromLine(m *Msg) string {
	if m.loc != "" || b.f == nil {
		return ""
	}
	return maildir.FromLine(b.f, m.Off)
}

// path is a Maildir message's file.
func (b *Box) path(m *Msg) string { return maildir.Dir(b.Path).Path(m.entry()) }

// mtime is a Maildir message's file's modification time, or zero.
func (b *Box) mtime(m *Msg) time.Time {
	if m.loc == "" {
		return time.Time{}
	}
	st, err := os.Stat(b.path(m))
	if err != nil {
		return time.Time{}
	}
	return st.ModTime()
}

// splitMessage splits raw message bytes at the end of the header.
func splitMessage(raw []byte) (header, body []byte) {
	if n := scanHeaderBlock(raw, nil); n >= 0 {
		return raw[:n], raw[n:]
	}
	return raw, nil
}

// envelope returns the envelope sender and arrival time that an mbox
// "From " line of a copy should carry.
func (b *Box) envelope(m *Msg, header []byte) (string, time.Time) {
	if fl := b.fromLine(m); fl != "" {
		sender, date, _ := strings.Cut(fl, " ")
		if t, err := time.Parse("Mon Jan _2 15:04:05 2006", strings.TrimSpace(date)); err == nil {
			return sender, t
		}
		return sender, time.Time{}
	}
	sender := ""
	t := b.mtime(m)
	if hdr, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(append(bytes.Clone(header), '\n')))); err == nil {
		sender = addrOf(hdr.Header.Get("Return-Path"))
		if sender == "" {
			sender = addrOf(hdr.Header.Get("From"))
		}
		if d, err := hdr.Header.Date(); err == nil && t.IsZero() {
			t = d
		}
	}
	if t.IsZero() {
		t = time.Now()
	}
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	return sender, t
}

// relocate finds a Maildir message that another client renamed (moved
// to cur/, changed its flags) since the mailbox was listed.
func (b *Box) relocate(m *Msg) bool {
	e, ok := maildir.Dir(b.Path).Find(m.entry().Key())
	if !ok {
		return false
	}
	m.setEntry(e)
	return true
}

// entry is the Maildir file of m as last listed or found.
func (m *Msg) entry() maildir.Entry { return maildir.Entry{File: m.loc, New: m.has(fInNew)} }

// setEntry records where m's Maildir file is now.
func (m *Msg) setEntry(e maildir.Entry) {
	m.loc = e.File
	m.flags &^= fInNew
	if e.New {
		m.flags |= fInNew
	}
}
