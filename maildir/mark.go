package maildir

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Appending to an mbox by record.
//
// An mbox append cannot be made atomic the way a Maildir delivery is: a
// process killed in the middle of it leaves the first part of the copy
// at the end of the file, and a retry cannot tell from the file alone
// whether a copy it finds there is whole, nor where a cut-off one
// begins. So the caller writes down, durably and before the first byte
// is written, where the copy will start and what it will be (a Mark:
// offset, length and SHA-256 of the bytes to be appended). After a crash
// Resolve reads the mbox at that offset and knows: the whole copy is
// there, or nothing of it, or a cut-off copy at the end of the file,
// which it cuts back under the locks, as Postfix's local(8) truncates a
// failed append. A retry never searches the mbox and never guesses.

// Mark is where and what an append is about to write.
type Mark struct {
	Off  int64    // the file's size when the append began: where the entry starts
	Len  int64    // bytes the append writes
	Sum  [32]byte // their SHA-256
	Time time.Time
}

// MarkState is what an mbox holds at a Mark.
type MarkState int

const (
	// Absent: the mbox ends at the mark; nothing of the copy was written.
	Absent MarkState = iota
	// Whole: the whole copy is there.
	Whole
	// Cut: the beginning of the copy was at the end of the mbox; Resolve
	// has cut it off, so that the mbox ends at the mark again.
	Cut
	// Foreign: the mbox holds something else at the mark: it was
	// rewritten since (a reader deleted messages), or another program
	// appended after a cut-off copy, which then stays (cutting it off
	// would take the other program's mail with it).
	Foreign
)

func (s MarkState) String() string {
	return [...]string{"absent", "whole", "cut", "foreign"}[s]
}

// AppendMarked appends one message as Append does, after calling mark
// with where it starts and what it will be. The mark must be made
// durable by mark before it returns: if mark fails, nothing is written.
// body is called twice: once to measure the entry, once to write it.
func (l *Locked) AppendMarked(sender string, t time.Time, header []byte, body func() io.Reader, mark func(Mark) error) error {
	end, err := l.F.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("mbox: %w", err)
	}
	m, err := l.measure(end, sender, t, header, body())
	if err != nil {
		return fmt.Errorf("mbox: %w", err)
	}
	if err := mark(m); err != nil {
		return err
	}
	return l.appendAt(end, sender, t, header, body())
}

// measure computes the Mark of an entry appended at off.
func (l *Locked) measure(off int64, sender string, t time.Time, header []byte, body io.Reader) (Mark, error) {
	h := sha256.New()
	cw := &countWriter{w: h}
	w := bufio.NewWriterSize(cw, 64<<10)
	if err := writeEntry(w, l.tail(off), sender, t, header, body); err != nil {
		return Mark{}, err
	}
	if err := w.Flush(); err != nil {
		return Mark{}, err
	}
	m := Mark{Off: off, Len: cw.n, Time: t}
	h.Sum(m.Sum[:0])
	return m, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Resolve tells what the mbox holds at m, for the copy of sender's
// message that an earlier attempt marked, and cuts off a cut-off copy at
// the end of the file (the file is fsynced after). It reads at most the
// copy's length.
func (l *Locked) Resolve(m Mark, sender string) (MarkState, error) {
	st, err := l.F.Stat()
	if err != nil {
		return 0, fmt.Errorf("mbox: %w", err)
	}
	size := st.Size()
	switch {
	case size < m.Off:
		return Foreign, nil
	case size == m.Off:
		return Absent, nil
	}
	if size >= m.Off+m.Len {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(l.F, m.Off, m.Len)); err != nil {
			return 0, fmt.Errorf("mbox: %w", err)
		}
		if bytes.Equal(h.Sum(nil), m.Sum[:]) {
			return Whole, nil
		}
		return Foreign, nil
	}
	// Shorter than the copy: a cut-off copy, if it begins with the
	// copy's From line and no other message begins after it (every
	// "From " at the start of a line inside a copy is quoted).
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	from := []byte("From " + sender + " " + m.Time.UTC().Format("Mon Jan _2 15:04:05 2006") + "\n")
	br := bufio.NewReaderSize(io.NewSectionReader(l.F, m.Off, size-m.Off), 64<<10)
	// The separator: up to two newlines before the From line.
	for range 2 {
		if b, err := br.Peek(1); err == nil && b[0] == '\n' {
			br.ReadByte()
		}
	}
	first, err := br.ReadSlice('\n')
	if !bytes.HasPrefix(from, first) && !bytes.Equal(first, from) {
		return Foreign, nil
	}
	if err == nil {
		if found, err := appendedAfter(br); err != nil {
			return 0, fmt.Errorf("mbox: %w", err)
		} else if found {
			return Foreign, nil
		}
	}
	if err := l.F.Truncate(m.Off); err != nil {
		return 0, fmt.Errorf("mbox: cut off %s at %d: %w", l.path, m.Off, err)
	}
	if err := l.F.Sync(); err != nil {
		return 0, fmt.Errorf("mbox: sync %s: %w", l.path, err)
	}
	return Cut, nil
}

// fromLine is an mbox "From " line with its asctime date, anywhere: mutt
// appends to an mbox that does not end in a newline with no separator,
// so that its message's From line can follow a cut-off copy's last
// bytes in the middle of a line.
var fromLine = regexp.MustCompile(`From [^ \n]+ +(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}\n`)

// appendedAfter reports whether what follows a cut-off copy's first line
// holds another message: a line that begins with "From " (every one
// inside a copy is quoted), or a From line with its date in the middle
// of a line (mutt's append after a copy cut off mid-line). Such bytes
// are another program's mail: cutting at the mark would take them too.
func appendedAfter(br *bufio.Reader) (bool, error) {
	const carry = 256 // longer than any From line the pattern takes
	buf := make([]byte, 0, 64<<10+carry)
	for first := true; ; first = false {
		n := len(buf)
		k, err := io.ReadFull(br, buf[n:cap(buf)])
		buf = buf[:n+k]
		// A pattern across two reads is whole in the second: its
		// start is in the bytes kept from the first.
		if first && bytes.HasPrefix(buf, []byte("From ")) || bytes.Contains(buf, []byte("\nFrom ")) || fromLine.Match(buf) {
			return true, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		buf = append(buf[:0], buf[max(len(buf)-carry, 0):]...)
	}
}
