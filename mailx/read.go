package mailx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
)

// Messages are read from the mailbox as streams, so that showing,
// piping or copying one holds a few buffers however large it is: a
// Maildir file is read from just past its "From " line, if it has one;
// an mbox message is read from its offset with mboxrd quoting undone
// line by line.

// Open returns m as Raw does, as a stream: header and body with LF line
// ends, without the mbox "From " line and with mboxrd quoting undone.
func (b *Box) Open(m *Msg) (io.ReadCloser, error) {
	if m.has(fEdited) {
		return io.NopCloser(bytes.NewReader(b.edits[m])), nil
	}
	if b.Kind == "maildir" {
		f, err := os.Open(b.path(m))
		if errors.Is(err, os.ErrNotExist) && b.relocate(m) {
			f, err = os.Open(b.path(m))
		}
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", m.Num, err)
		}
		// A file copied out of an mbox may start with its "From "
		// line: the envelope, not part of the header.
		start, err := envelopeEnd(f)
		if err == nil {
			_, err = f.Seek(start, io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("message %d: %w", m.Num, err)
		}
		return &msgReader{r: f, c: f, num: m.Num}, nil
	}
	if err := b.current(m); err != nil {
		return nil, err
	}
	r := &mboxReader{br: bufio.NewReaderSize(io.NewSectionReader(b.f, m.Off, m.Size), 64<<10)}
	return &msgReader{r: r, num: m.Num}, nil
}

// msgReader names the message in a read error.
type msgReader struct {
	r   io.Reader
	c   io.Closer
	num int32
}

func (r *msgReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("message %d: %w", r.num, err)
	}
	return n, err
}

func (r *msgReader) Close() error {
	if r.c != nil {
		return r.c.Close()
	}
	return nil
}

// envelopeEnd returns where the message in a Maildir file begins: past
// its first line when that is a "From " line (see envelopeLine), else 0.
func envelopeEnd(f *os.File) (int64, error) {
	buf := make([]byte, 4096)
	n, err := io.ReadFull(f, buf[:5])
	if err == io.EOF || err == io.ErrUnexpectedEOF || string(buf[:n]) != "From " {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	off := int64(n)
	for {
		n, err := f.Read(buf)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return off + int64(i) + 1, nil
		}
		off += int64(n)
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// mboxReader reads an mbox message from its "From " line, which it
// skips, undoing mboxrd quoting (maildir.Unquote) line by line.
type mboxReader struct {
	br      *bufio.Reader
	started bool   // the "From " line is behind
	mid     bool   // within a line
	gt      int    // '>' to return before out
	out     []byte // read, not yet returned
	err     error
}

func (r *mboxReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 && r.gt == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.fill()
	}
	if r.gt > 0 {
		n := min(len(p), r.gt)
		for i := range n {
			p[i] = '>'
		}
		r.gt -= n
		return n, nil
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *mboxReader) fill() {
	if !r.started {
		for {
			_, err := r.br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				r.err = err
				return
			}
			break
		}
		r.started = true
	}
	if !r.mid {
		// A line's leading '>' are counted, not held: there may be
		// more than a buffer's worth.
		for {
			if _, err := r.br.Peek(1); err != nil {
				break
			}
			b, _ := r.br.Peek(r.br.Buffered())
			i := 0
			for i < len(b) && b[i] == '>' {
				i++
			}
			r.gt += i
			r.br.Discard(i)
			if i < len(b) {
				break
			}
		}
		if b, _ := r.br.Peek(5); r.gt > 0 && bytes.HasPrefix(b, []byte("From ")) {
			r.gt--
		}
	}
	line, err := r.br.ReadSlice('\n')
	r.out = line
	switch err {
	case nil:
		r.mid = false
	case bufio.ErrBufferFull:
		r.mid = true
	default:
		r.err = err
	}
}

// textFilter makes decoded text safe for a terminal as displayText
// does (display), or only replaces invalid UTF-8 as validUTF8 does, a
// piece at a time: the result is the same wherever the text is cut.
// Each byte that begins no UTF-8 character is one U+FFFD, as s-nail
// shows it, so that a reader sees how many letters are missing (a run
// of them as one U+FFFD hid that "äöü" in Latin-1 was three).
type textFilter struct {
	display bool
	stash   []byte // a CR or an incomplete sequence at the end of a piece
}

// add appends the filtered p to dst; final marks the end of the text.
func (f *textFilter) add(dst, p []byte, final bool) []byte {
	if len(f.stash) > 0 {
		p = append(f.stash, p...)
		f.stash = nil
	}
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			i++
			if !f.display {
				dst = append(dst, c)
				continue
			}
			switch {
			case c == '\r':
				if i == len(p) && !final {
					f.stash = append(f.stash[:0:0], '\r')
					return dst
				}
				if i < len(p) && p[i] == '\n' {
					dst = append(dst, '\n')
					i++
				} else {
					dst = append(dst, '?')
				}
			case c == '\n' || c == '\t':
				dst = append(dst, c)
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '?')
			default:
				dst = append(dst, c)
			}
			continue
		}
		if !final && !utf8.FullRune(p[i:]) {
			f.stash = append(f.stash[:0:0], p[i:]...)
			return dst
		}
		r, size := utf8.DecodeRune(p[i:])
		if size == 1 {
			dst = append(dst, "\uFFFD"...)
			i++
			continue
		}
		if f.display && (r < 0xa0 || reorders(r)) {
			dst = append(dst, '?')
		} else {
			dst = append(dst, p[i:i+size]...)
		}
		i += size
	}
	return dst
}

// displayWriter writes text through a display textFilter, and notes
// how much it was given and its last byte. Close ends the text.
type displayWriter struct {
	w    io.Writer
	f    textFilter
	buf  []byte
	n    int64
	last byte
}

func newDisplayWriter(w io.Writer) *displayWriter {
	return &displayWriter{w: w, f: textFilter{display: true}}
}

func (d *displayWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	d.n += int64(len(p))
	d.last = p[len(p)-1]
	d.buf = d.f.add(d.buf[:0], p, false)
	if _, err := d.w.Write(d.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (d *displayWriter) Close() error {
	d.buf = d.f.add(d.buf[:0], nil, true)
	_, err := d.w.Write(d.buf)
	return err
}

// filterReader reads r through a textFilter.
type filterReader struct {
	r   io.Reader
	f   textFilter
	in  []byte
	out []byte
	err error
}

func newValidUTF8Reader(r io.Reader) io.Reader {
	return &filterReader{r: r, in: make([]byte, 32<<10)}
}

func (fr *filterReader) Read(p []byte) (int, error) {
	for len(fr.out) == 0 {
		if fr.err != nil {
			return 0, fr.err
		}
		n, err := fr.r.Read(fr.in)
		fr.out = fr.f.add(fr.out[:0], fr.in[:n], err == io.EOF)
		fr.err = err
	}
	n := copy(p, fr.out)
	fr.out = fr.out[n:]
	return n, nil
}

// spool holds a stream to be read again: in memory up to memBody, the
// rest in an unlinked temporary file.
type spool struct {
	mem  []byte
	f    *os.File
	size int64
}

// newSpool reads r to its end into a spool.
func newSpool(r io.Reader) (*spool, error) {
	s := &spool{}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, memBody+1); err == io.EOF {
		s.mem = buf.Bytes()
		s.size = int64(len(s.mem))
		return s, nil
	} else if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "homepost-mail-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	n, err := io.Copy(f, io.MultiReader(&buf, r))
	if err != nil {
		f.Close()
		return nil, err
	}
	s.f, s.size = f, n
	return s, nil
}

// reader reads the spool from its start.
func (s *spool) reader() io.Reader {
	if s.f == nil {
		return bytes.NewReader(s.mem)
	}
	return io.NewSectionReader(s.f, 0, s.size)
}

// lastReader is reader for the last time: the temporary file is closed
// when it reaches its end (or by the collector, when it never does).
func (s *spool) lastReader() io.Reader {
	if s.f == nil {
		return bytes.NewReader(s.mem)
	}
	return &closeAtEOF{r: s.reader(), s: s}
}

func (s *spool) close() {
	if s.f != nil {
		s.f.Close()
	}
}

type closeAtEOF struct {
	r io.Reader
	s *spool
}

func (c *closeAtEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.s.close()
	}
	return n, err
}

// errorsAsEOF ends a stream at its first error, as a part read whole
// before it is shown ends there.
type errorsAsEOF struct {
	r    io.Reader
	done bool
}

func (e *errorsAsEOF) Read(p []byte) (int, error) {
	if e.done {
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	if err != nil {
		e.done = true
		if n > 0 {
			return n, nil
		}
		return 0, io.EOF
	}
	return n, nil
}

// headerLimit passes a message on, failing once more than limit bytes
// have gone by without the empty line that ends the header section: the
// MIME parser holds the header in memory.
type headerLimit struct {
	r       io.Reader
	limit   int64
	n       int64
	mid     bool // within a line
	cr      bool // the line so far is a CR
	through bool // past the header
}

var errHeaderTooLarge = errors.New("header section too large")

func (h *headerLimit) Read(p []byte) (int, error) {
	if h.through {
		return h.r.Read(p)
	}
	n, err := h.r.Read(p)
	for i, c := range p[:n] {
		switch {
		case c == '\n':
			if !h.mid || h.cr {
				h.through = true
				return n, err
			}
			h.mid, h.cr = false, false
		case c == '\r' && !h.mid:
			h.mid, h.cr = true, true
		default:
			h.mid, h.cr = true, false
		}
		if h.n+int64(i) >= h.limit {
			return 0, errHeaderTooLarge
		}
	}
	h.n += int64(n)
	return n, err
}
