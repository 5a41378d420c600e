package mailx

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

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
	// ReadOnly is set for a mailbox this user may not change (another
	// user's archive, a read-only mount): said when it is opened, its
	// changing commands refused, and quit writes nothing, as in mailx.
	ReadOnly bool
	Msgs     []*Msg

	f    *os.File        // mbox: open for reading bodies by offset
	read maildir.Scanned // mbox: what was scanned
	// sigs holds the signature (mboxSig) of each message of an mbox,
	// by its index in Msgs: by them the messages are found again in a
	// file another program rewrote (see current).
	sigs []uint64
	// stamp is the mbox file's size and times when its offsets were
	// last known to hold.
	stamp fileStamp
	// held is set while this mail holds the mbox's locks and the file
	// is known to be the one read, unchanged (the step of its own
	// rewrite that moves messages to MBOX, maildir.Mbox.RewriteWith):
	// its offsets hold, whatever its times say. The rewrite itself
	// changes them (it reserves the blocks of a longer file first),
	// and checking the file again would wait for the locks this mail
	// holds.
	held bool
	// old holds the files of an mbox read before it was read again,
	// closed with the mailbox.
	old []*os.File
	// errw is where a change by another program is told; standard
	// error when nil.
	errw io.Writer

	// where maps a Maildir message's key to its file as last listed
	// for relocate; nil until a message is first missed.
	where map[string]maildir.Entry
	// stale holds the names in new/ of messages listed at their
	// name in cur/ (see staleName), removed at quit.
	stale []staleName

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
		msgs, stale, err := scanMaildir(path)
		if err != nil {
			return nil, err
		}
		b.Msgs, b.stale = msgs, stale
	default:
		f, msgs, sigs, size, err := openMbox(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && system {
				return b, nil
			}
			return nil, err
		}
		b.f, b.Msgs, b.sigs, b.read = f, msgs, sigs, size
		b.stamp = stampAt(f, size.Size)
	}
	b.ReadOnly = readOnly(kind, path)
	return b, nil
}

// readOnly reports whether this user may not change the mailbox at
// path: an mbox file it may not write (a rewrite writes over the file
// in place, so the directory does not matter), or a Maildir whose new/
// or cur/ it may not change names in. access(2) answers for the real
// user, who is the user here, and says EROFS for a read-only mount. A
// mailbox that does not exist is not read-only: delivery creates it.
func readOnly(kind, path string) bool {
	denied := func(p string) bool {
		err := unix.Access(p, unix.W_OK)
		return err == unix.EACCES || err == unix.EROFS || err == unix.EPERM
	}
	if kind == "maildir" {
		return denied(filepath.Join(path, "new")) || denied(filepath.Join(path, "cur"))
	}
	return denied(path)
}

// Close releases the mbox file.
func (b *Box) Close() {
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	for _, f := range b.old {
		f.Close()
	}
	b.old = nil
}

// Raw returns a message as stored: header and body with LF line ends,
// without the mbox "From " line and with mboxrd quoting undone. It is
// Open read whole; the commands read a message as a stream (Open).
func (b *Box) Raw(m *Msg) ([]byte, error) {
	r, err := b.Open(m)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// maxHeldHeader is how much of a stored message's header section is
// held to read its fields (a reply's addresses, a copy's envelope): a
// field past it is not seen.
const maxHeldHeader = 1 << 20

// header returns the header section of m (as splitMessage cuts it), or
// its first maxHeldHeader bytes.
func (b *Box) header(m *Msg) ([]byte, error) {
	r, err := b.Open(m)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	h, _, err := readHeaderSection(bufio.NewReaderSize(r, 64<<10), maxHeldHeader)
	return h, err
}

// fromLine returns an mbox message's "From " line without "From " and
// the newline, read from the mailbox; "" for a Maildir message.
func (b *Box) fromLine(m *Msg) string {
	if m.loc != "" {
		// A Maildir file that starts with a well-formed "From "
		// line (one copied out of an mbox).
		f, err := os.Open(b.path(m))
		if errors.Is(err, os.ErrNotExist) && b.relocate(m) {
			f, err = os.Open(b.path(m))
		}
		if err != nil {
			return ""
		}
		defer f.Close()
		buf := make([]byte, 1024)
		n, _ := io.ReadFull(f, buf)
		line, _ := envelopeLine(buf[:n])
		if _, _, ok := parseEnvelope(line); !ok {
			return ""
		}
		return line
	}
	if b.current(m) != nil {
		return ""
	}
	return maildir.FromLine(b.f, m.Off)
}

// envelopeLine returns the mbox "From " line a Maildir file starts
// with, without "From " and the line end, and its length with the line
// end; "", 0 when there is none.
func envelopeLine(data []byte) (string, int) {
	if !bytes.HasPrefix(data, []byte("From ")) {
		return "", 0
	}
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return "", 0
	}
	return string(bytes.TrimSuffix(data[5:i], []byte("\r"))), i + 1
}

// parseEnvelope splits a "From " line (without "From ") into its sender
// and date; ok only when the sender is printable ASCII and the date is
// in the ctime form mbox writers use (with or without a zone).
func parseEnvelope(line string) (sender string, t time.Time, ok bool) {
	sender, date, _ := strings.Cut(line, " ")
	if !asciiAddress(sender) {
		return "", time.Time{}, false
	}
	date = strings.Join(strings.Fields(date), " ")
	for _, layout := range []string{
		"Mon Jan 2 15:04:05 2006", "Mon Jan 2 15:04:05 MST 2006", "Mon Jan 2 15:04:05 -0700 2006",
		"Mon Jan 2 15:04 2006", "Mon Jan 2 15:04 MST 2006",
	} {
		if t, err := time.Parse(layout, date); err == nil {
			return sender, t, true
		}
	}
	return "", time.Time{}, false
}

// asciiAddress reports whether s can stand as the sender of a "From "
// line: not empty, printable ASCII, no spaces (Python's mailbox and
// other readers take the line as ASCII).
func asciiAddress(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
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
		if sender, t, ok := parseEnvelope(fl); ok {
			return sender, t
		}
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
	if !asciiAddress(sender) {
		// No sender, or one the "From " line cannot carry (a UTF-8
		// address): as mutt and s-nail write.
		sender = "MAILER-DAEMON"
	}
	return sender, t
}

// relocate finds a Maildir message that another client renamed (moved
// to cur/, changed its flags) since the mailbox was listed, and reports
// whether it is still there. The first miss lists new/ and cur/ once
// into b.where (maildir.Dir.Index), and later misses are looked up
// there: quit, with thousands of messages another reader removed or
// renamed, read both directories whole three times for each of them.
// A message the index places at a name that is gone too was renamed
// again since: the directories are listed once more for it, and only
// when the index was not just made.
func (b *Box) relocate(m *Msg) bool {
	d := maildir.Dir(b.Path)
	key := m.entry().Key()
	fresh := false
	if b.where == nil {
		if !b.index() {
			return false
		}
		fresh = true
	}
	for {
		e, ok := b.where[key]
		if !ok {
			// Not in new/ or cur/ when the index was made,
			// which is after the message was listed: removed.
			return false
		}
		if e != m.entry() {
			if _, err := os.Lstat(d.Path(e)); err == nil {
				m.setEntry(e)
				return true
			}
		}
		if fresh || !b.index() {
			return false
		}
		fresh = true
	}
}

// index lists the Maildir into b.where for relocate.
func (b *Box) index() bool {
	idx, err := maildir.Dir(b.Path).Index()
	if err != nil {
		return false
	}
	b.where = idx
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

// moveID is what the note of a move to MBOX keeps of m (see
// appendnote.go): for an mbox message its signature (moveSig) and how
// many messages of the mailbox have the same, for a Maildir message
// its unique name.
func (b *Box) moveID(m *Msg) (string, int) {
	if b.Kind == "maildir" {
		return m.entry().Key(), 1
	}
	if b.f == nil || m.Off < 0 {
		return "", 0
	}
	var sig string
	if _, err := maildir.ScanMbox(io.NewSectionReader(b.f, m.Off, m.Size), func(e *maildir.MboxMessage, header []byte) {
		if sig == "" {
			sig = moveSig(e.FromLine, header)
		}
	}); err != nil {
		return "", 0
	}
	dups := 0
	for i, o := range b.Msgs {
		if o == m || (i < len(b.sigs) && m.Num-1 < int32(len(b.sigs)) && b.sigs[i] == b.sigs[m.Num-1] && o.Off >= 0) {
			dups++
		}
	}
	return sig, max(dups, 1)
}
