package mailx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
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

	f    *os.File // mbox: open for reading bodies by offset
	size int64    // mbox: bytes scanned
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
		b.f, b.Msgs, b.size = f, msgs, size
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
	if m.edited != nil {
		// A copy: callers append to the header that splitMessage
		// cuts out of it, which would write into the body.
		return bytes.Clone(m.edited), nil
	}
	if b.Kind == "maildir" {
		data, err := os.ReadFile(m.Path)
		if errors.Is(err, os.ErrNotExist) && b.relocate(m) {
			data, err = os.ReadFile(m.Path)
		}
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", m.Num, err)
		}
		return data, nil
	}
	if b.f == nil {
		return nil, errors.New("mailbox is closed")
	}
	out, err := maildir.ReadMessage(b.f, m.Off, m.Len)
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", m.Num, err)
	}
	return out, nil
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
	if m.FromLine != "" {
		sender, date, _ := strings.Cut(m.FromLine, " ")
		if t, err := time.Parse("Mon Jan _2 15:04:05 2006", strings.TrimSpace(date)); err == nil {
			return sender, t
		}
		return sender, m.MTime
	}
	sender := ""
	if m.MTime.IsZero() && m.Path != "" {
		if st, err := os.Stat(m.Path); err == nil {
			m.MTime = st.ModTime()
		}
	}
	t := m.MTime
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
	d := maildir.Dir(b.Path)
	e, ok := d.Find(m.Name)
	if !ok {
		return false
	}
	m.Path = d.Path(e)
	if !e.New {
		m.Info = e.Info()
	}
	return true
}

// entry is the Maildir file of m as last listed or found.
func (m *Msg) entry() maildir.Entry {
	return maildir.Entry{File: filepath.Base(m.Path), New: filepath.Base(filepath.Dir(m.Path)) == "new"}
}
