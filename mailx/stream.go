package mailx

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"
)

// A message is sent in memory that does not grow with it, as sendmail
// queues one: the body read from a pipe goes to a temporary file when
// it is larger than memBody (it is read twice: once to choose its
// encoding, once to write it), attachments are encoded as they are read,
// and the message is written into the queue file (or the sendmail
// program, or the record file) as it is built.

// memBody is how much of a body read from a pipe is kept in memory;
// a larger one goes to a temporary file.
const memBody = 1 << 20

// A draft's body is the first spoolSize bytes of spool (when set), then
// body: text is appended to body, and once body passes memBody it moves
// to the end of the spool, an unlinked temporary file. A reply that
// quotes a large message, or a large file read with ~r, so takes a
// megabyte or two of memory however large it is.

// readBody reads the body from r: into d.body, or into an unlinked
// temporary file when it is larger than memBody.
func (d *draft) readBody(r io.Reader) error {
	if _, err := io.CopyN(&d.body, r, memBody+1); err == io.EOF {
		return nil
	} else if err != nil {
		return err
	}
	if err := d.spill(); err != nil {
		return err
	}
	n, err := io.Copy(io.NewOffsetWriter(d.spool, d.spoolSize), r)
	d.spoolSize += n
	return err
}

// spill moves the text held in memory to the end of the spool, which
// it makes when there is none.
func (d *draft) spill() error {
	if d.spool == nil {
		f, err := os.CreateTemp("", "homepost-mail-")
		if err != nil {
			return fmt.Errorf("the text of the message: %w", err)
		}
		os.Remove(f.Name())
		d.spool = f
	}
	if _, err := d.spool.WriteAt(d.body.Bytes(), d.spoolSize); err != nil {
		return fmt.Errorf("the text of the message: %w", err)
	}
	d.spoolSize += int64(d.body.Len())
	d.body.Reset()
	return nil
}

// Write appends p to the body. It never fails: when the spool cannot
// be made or written, the text stays in memory, as it did before it
// was spooled, and no more spooling is tried.
func (d *draft) Write(p []byte) (int, error) {
	d.body.Write(p)
	if d.body.Len() > memBody && !d.spoolFailed {
		if err := d.spill(); err != nil {
			d.spoolFailed = true
		}
	}
	return len(p), nil
}

// WriteString appends s to the body.
func (d *draft) WriteString(s string) (int, error) {
	return d.Write([]byte(s))
}

// bodyLen is the size of the body.
func (d *draft) bodyLen() int64 {
	return d.spoolSize + int64(d.body.Len())
}

// bodyReader reads the body from its start.
func (d *draft) bodyReader() io.Reader {
	if d.spool != nil {
		return io.MultiReader(io.NewSectionReader(d.spool, 0, d.spoolSize), bytes.NewReader(d.body.Bytes()))
	}
	return bytes.NewReader(d.body.Bytes())
}

// truncateBody cuts the body to its first n bytes.
func (d *draft) truncateBody(n int64) error {
	if n >= d.spoolSize {
		d.body.Truncate(int(n - d.spoolSize))
		return nil
	}
	d.body.Reset()
	d.spoolSize = n
	return d.spool.Truncate(n)
}

// replaceBody makes nd's body d's, dropping d's.
func (d *draft) replaceBody(nd *draft) {
	d.closeBody()
	d.body, d.spool, d.spoolSize = nd.body, nd.spool, nd.spoolSize
	nd.body, nd.spool, nd.spoolSize = bytes.Buffer{}, nil, 0
}

// closeBody removes the temporary file of the body.
func (d *draft) closeBody() {
	if d.spool != nil {
		d.spool.Close()
		d.spool = nil
		d.spoolSize = 0
	}
}

// boundary is the multipart boundary of the message, the same each time
// it is written (once to the queue, once to the record file).
func (d *draft) multipartBoundary() string {
	if d.boundary == "" {
		var b [15]byte
		rand.Read(b[:])
		d.boundary = "homepost-" + hex.EncodeToString(b[:])
	}
	return d.boundary
}

// textScan learns, as a body is written to it, what textHeader needs
// to know of it: whether it is ASCII, valid UTF-8, and has lines over
// 998 bytes.
type textScan struct {
	lineLen  int
	long     bool
	nonASCII bool // a byte of 0x80 and over, or NUL
	invalid  bool // not UTF-8
	// multibyte: a character of more than one byte in UTF-8 was seen.
	multibyte bool
	carry     []byte
}

// latin reports whether the text is in 8 bits but not UTF-8, without a
// single UTF-8 character of more than one byte: text from a program or
// file in Latin-1 or windows-1252 (an old log, a Windows tool), which is
// sent converted to UTF-8 (as mail(1)'s reader takes such header
// fields), rather than in bytes no reader can name. A text that is
// UTF-8 but for some bytes (a character cut in two) is left as it is.
func (s *textScan) latin() bool { return s.invalid && !s.multibyte }

func (s *textScan) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			s.lineLen = 0
			continue
		}
		s.lineLen++
		if s.lineLen > 998 {
			s.long = true
		}
		if c >= 0x80 || c == 0 {
			s.nonASCII = true
		}
	}
	if s.nonASCII && !(s.invalid && s.multibyte) {
		b := append(s.carry, p...)
		// A rune cut at the end of p is checked with the next write.
		cut := len(b)
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if b[i]&0xC0 != 0x80 {
				if !utf8.FullRune(b[i:]) {
					cut = i
				}
				break
			}
		}
		for i := 0; i < cut; {
			if b[i] < utf8.RuneSelf {
				i++
				continue
			}
			r, n := utf8.DecodeRune(b[i:cut])
			if r == utf8.RuneError && n == 1 {
				s.invalid = true
			} else {
				s.multibyte = true
			}
			i += n
		}
		s.carry = append(s.carry[:0:0], b[cut:]...)
	}
	return len(p), nil
}

// scanText reads the body once to describe it.
func (d *draft) scanText() (*textScan, error) {
	s := &textScan{}
	if _, err := io.Copy(s, d.bodyReader()); err != nil {
		return nil, err
	}
	if len(s.carry) > 0 {
		s.invalid = true
	}
	return s, nil
}

// lfWriter writes CRLF as LF, holding a CR at the end of a write until
// the next one shows what follows it. Close writes a CR still held.
type lfWriter struct {
	w  io.Writer
	cr bool
}

func (l *lfWriter) Write(p []byte) (int, error) {
	n := len(p)
	if l.cr {
		l.cr = false
		if len(p) == 0 || p[0] != '\n' {
			if _, err := l.w.Write([]byte{'\r'}); err != nil {
				return 0, err
			}
		}
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\r')
		if i < 0 {
			break
		}
		if i+1 == len(p) {
			if _, err := l.w.Write(p[:i]); err != nil {
				return 0, err
			}
			l.cr = true
			return n, nil
		}
		if p[i+1] == '\n' {
			if _, err := l.w.Write(p[:i]); err != nil {
				return 0, err
			}
			p = p[i+1:]
			continue
		}
		if _, err := l.w.Write(p[:i+1]); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	if _, err := l.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

func (l *lfWriter) Close() error {
	if l.cr {
		l.cr = false
		_, err := l.w.Write([]byte{'\r'})
		return err
	}
	return nil
}

// foldWriter holds the header section back until it ends, folds its long
// lines (foldHeader) and passes the body through as it comes.
type foldWriter struct {
	w    io.Writer
	head []byte
	done bool
}

func (f *foldWriter) Write(p []byte) (int, error) {
	if f.done {
		return f.w.Write(p)
	}
	f.head = append(f.head, p...)
	if n := scanHeaderBlock(f.head, nil); n >= 0 {
		return len(p), f.flush()
	}
	return len(p), nil
}

func (f *foldWriter) flush() error {
	f.done = true
	hdr, body := splitMessage(f.head)
	f.head = nil
	if len(hdr) > 0 {
		hdr = foldHeader(hdr)
	}
	if _, err := f.w.Write(hdr); err != nil {
		return err
	}
	_, err := f.w.Write(body)
	return err
}

// Close writes a header section that never ended.
func (f *foldWriter) Close() error {
	if f.done {
		return nil
	}
	return f.flush()
}

// writeMessage builds the message into w as it will be queued: with LF
// line ends and the header folded.
func (d *draft) writeMessage(w io.Writer, now time.Time) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	fw := &foldWriter{w: bw}
	lw := &lfWriter{w: fw}
	if err := d.build(lw, now); err != nil {
		return err
	}
	if err := lw.Close(); err != nil {
		return err
	}
	if err := fw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// buildError marks a failure to build the message (an attachment that
// cannot be read) rather than to pass it on.
type buildError struct{ err error }

func (e *buildError) Error() string { return e.err.Error() }
func (e *buildError) Unwrap() error { return e.err }

// messageReader returns the message as writeMessage builds it, through
// a pipe; wait, called once the reader is done with (or has given up
// on) it, returns the error that stopped the building, as a *buildError.
func (d *draft) messageReader(now time.Time) (r io.Reader, wait func() error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := d.writeMessage(pw, now)
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			err = &buildError{err}
			pw.CloseWithError(err)
		} else {
			pw.Close()
		}
		done <- err
	}()
	return pr, func() error {
		pr.Close()
		err := <-done
		if errors.Is(err, io.ErrClosedPipe) {
			return nil
		}
		return err
	}
}

// lineCounter passes writes on and counts their bytes and lines as
// countLines does.
type lineCounter struct {
	w    io.Writer
	n    int64
	nl   int
	last byte
}

func (c *lineCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.nl += bytes.Count(p[:n], []byte{'\n'})
	if n > 0 {
		c.last = p[n-1]
	}
	return n, err
}

func (c *lineCounter) lines() int {
	if c.n > 0 && c.last != '\n' {
		return c.nl + 1
	}
	return c.nl
}
