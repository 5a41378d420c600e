package mailx

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// show prints messages and marks them read; all shows every header
// field. Long output goes through $PAGER when crt is set. A message is
// read from the mailbox as it is written out, never whole in memory.
func (s *session) show(list []int, all bool) error {
	return s.display(list, all, -1)
}

// display writes the messages of list as show (maxBody < 0) or top
// (the retained header and maxBody lines of the body) does: show adds
// the envelope line, marks each message read and puts an empty line
// between messages. Both make the last one the current message.
func (s *session) display(list []int, all bool, maxBody int) error {
	whole := maxBody < 0
	return s.paged(func(w io.Writer) error {
		for _, i := range list {
			m := s.box.Msgs[i]
			r, err := s.box.Open(m)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Message %d:\n", m.Num)
			if whole {
				if fl := s.box.fromLine(m); fl != "" {
					fmt.Fprintf(w, "From %s\n", printable(fl))
				}
			}
			if err := s.render(w, m, r, all, maxBody); err != nil {
				return err
			}
			s.dot = i
			s.shown = true
			if !whole {
				continue
			}
			if m.Lines < 0 {
				if n, err := s.box.countLines(m); err == nil {
					m.Lines = clampLines(n)
				}
			}
			m.flags |= fRead | fTouched
			if len(list) > 1 {
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// countLines counts the lines of m as stored (see countLines).
func (b *Box) countLines(m *Msg) (int, error) {
	r, err := b.Open(m)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	c := &lineCounter{w: io.Discard}
	if _, err := io.Copy(c, r); err != nil {
		return 0, err
	}
	return c.lines(), nil
}

// errPagerGone stops the output of a pager that has quit.
var errPagerGone = errors.New("the pager has quit")

// paged runs emit with a writer to the terminal, or to the pager when
// crt is set and the text is longer than crt lines (crt without a
// value: the terminal height) or a megabyte. Should the pager fail, the
// text is written again without it.
func (s *session) paged(emit func(w io.Writer) error) error {
	crt, ok := s.set.vars["crt"]
	if !ok || !s.in.tty {
		return emit(s.out)
	}
	limit, err := strconv.Atoi(crt)
	if err != nil || limit <= 0 {
		_, limit = termSize()
	}
	p := &pageWriter{s: s, limit: limit}
	err = emit(p)
	if errors.Is(err, errPagerGone) {
		err = nil
	}
	if p.pipe == nil {
		// Short enough: written as it is.
		if len(p.buf) > 0 && err == nil {
			_, err = s.out.Write(p.buf)
		}
		return err
	}
	if perr := p.close(); perr != nil && err == nil {
		return emit(s.out)
	}
	return err
}

// pageWriter holds text back until it is known to need the pager, then
// starts the pager and writes into it.
type pageWriter struct {
	s     *session
	limit int
	buf   []byte
	lines int
	cmd   *exec.Cmd
	pipe  io.WriteCloser
	out   io.Writer // once the pager is known not to be needed or usable
}

func (p *pageWriter) Write(b []byte) (int, error) {
	switch {
	case p.out != nil:
		return p.out.Write(b)
	case p.pipe != nil:
		if _, err := p.pipe.Write(b); err != nil {
			return 0, errPagerGone
		}
		return len(b), nil
	}
	p.buf = append(p.buf, b...)
	p.lines += bytes.Count(b, []byte{'\n'})
	if p.lines <= p.limit && len(p.buf) <= memBody {
		return len(b), nil
	}
	if err := p.start(); err != nil {
		p.out = p.s.out
	}
	text := p.buf
	p.buf = nil
	if _, err := p.Write(text); err != nil {
		return 0, err
	}
	return len(b), nil
}

// start runs the PAGER variable, else $PAGER, else more.
func (p *pageWriter) start() error {
	pager := os.Getenv("PAGER")
	if v := p.s.set.get("PAGER"); v != "" {
		pager = v
	}
	if pager == "" {
		pager = "more"
	}
	p.s.out.Flush()
	cmd := exec.Command(shellPath(), "-c", pager)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	pipe, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.pipe = cmd, pipe
	return nil
}

// runPager shows text through the pager.
func (s *session) runPager(text []byte) error {
	p := &pageWriter{s: s}
	if err := p.start(); err != nil {
		return err
	}
	p.pipe.Write(text) // a pager that quits early has seen enough
	return p.close()
}

// close waits for the pager, and returns its error.
func (p *pageWriter) close() error {
	p.pipe.Close()
	return p.cmd.Wait()
}

// render writes m, read from r (closed when done), for reading: the
// header fields (decoded; only the retained ones unless all), an empty
// line and the body with plain text parts decoded, enclosed messages
// shown with their fields that p shows (all: every one), and other
// parts listed (renderBodyFrom). maxBody >= 0 cuts the body to that
// many lines (top), and ends the reading there.
func (s *session) render(w io.Writer, m *Msg, r io.ReadCloser, all bool, maxBody int) error {
	keep := func(name string) bool { return all || s.set.shown(name) }
	err := writeHeaderFrom(w, r, keep)
	r.Close()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	open := func() (io.ReadCloser, error) { return s.box.Open(m) }
	if maxBody >= 0 {
		lw := &lineLimit{w: w, max: maxBody}
		if err := renderBodyFrom(lw, open, keep); err != nil && !errors.Is(err, errEnough) {
			return err
		}
		return lw.finish()
	}
	tw := &lastByte{w: w}
	if err := renderBodyFrom(tw, open, keep); err != nil {
		return err
	}
	if tw.n > 0 && tw.last != '\n' {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// lastByte passes writes on and notes the last byte.
type lastByte struct {
	w    io.Writer
	n    int64
	last byte
}

func (t *lastByte) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if n > 0 {
		t.n += int64(n)
		t.last = p[n-1]
	}
	return n, err
}

// errEnough ends the reading of a message once top has its lines.
var errEnough = errors.New("enough lines")

// lineLimit passes on the first max lines written to it, each ended by
// a newline, then refuses more with errEnough. A line of a MiB or more
// ends the text there, as it always has (a bufio.Scanner's limit).
type lineLimit struct {
	w     io.Writer
	max   int
	lines int
	cur   []byte
	done  bool
}

const maxTopLine = 1 << 20

func (l *lineLimit) Write(p []byte) (int, error) {
	n := len(p)
	for !l.done {
		if l.lines >= l.max {
			l.done = true
			break
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.cur = append(l.cur, p...)
			if len(l.cur) >= maxTopLine {
				l.done = true
				break
			}
			return n, nil
		}
		l.cur = append(l.cur, p[:i]...)
		p = p[i+1:]
		if len(l.cur) >= maxTopLine {
			l.done = true
			break
		}
		if err := l.emit(); err != nil {
			return 0, err
		}
	}
	return 0, errEnough
}

func (l *lineLimit) emit() error {
	line := l.cur
	if k := len(line); k > 0 && line[k-1] == '\r' {
		line = line[:k-1]
	}
	line = append(line, '\n')
	_, err := l.w.Write(line)
	l.cur = l.cur[:0]
	l.lines++
	return err
}

// finish writes a last line that no newline ended.
func (l *lineLimit) finish() error {
	if l.done || l.lines >= l.max || len(l.cur) == 0 {
		return nil
	}
	return l.emit()
}

// maxField is how much of one header field is shown: the rest is
// counted and named, not held.
const maxField = 1 << 20

// writeHeaderFrom reads a header section from r, up to the first empty
// line (or the end), and writes the fields that keep() accepts,
// unfolded and RFC 2047 decoded. A field longer than maxField is shown
// cut, with the number of bytes left out.
func writeHeaderFrom(w io.Writer, r io.Reader, keep func(string) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		name  string
		value []byte
		cut   int64
	)
	flush := func() error {
		var err error
		if name != "" && keep(name) {
			v := decodeHeader(string(bytes.TrimSpace(value)))
			if cut > 0 {
				v += fmt.Sprintf(" [-- %d more bytes not shown --]", cut)
			}
			_, err = fmt.Fprintf(w, "%s: %s\n", printable(name), v)
		}
		name, value, cut = "", value[:0], 0
		return err
	}
	for {
		l, dropped, err := readCapped(br, maxField)
		if err != nil && err != io.EOF {
			return err
		}
		if dropped == 0 && isBlank(l) {
			return flush()
		}
		l = bytes.TrimSuffix(l, []byte{'\n'})
		l = bytes.TrimRight(l, "\r")
		switch {
		case len(l) == 0:
		case l[0] == ' ' || l[0] == '\t':
			l = bytes.TrimSpace(l)
			if cut > 0 || len(value)+1+len(l) > maxField {
				cut += 1 + int64(len(l)) + dropped
			} else {
				value = append(append(value, ' '), l...)
				cut += dropped
			}
		default:
			if ferr := flush(); ferr != nil {
				return ferr
			}
			n, v, ok := bytes.Cut(l, []byte{':'})
			if ok {
				name, value, cut = string(n), append(value[:0], v...), dropped
			}
		}
		if err == io.EOF {
			return flush()
		}
	}
}

// readCapped reads a line, its newline included, keeping its first max
// bytes and counting the rest.
func readCapped(br *bufio.Reader, max int) (line []byte, dropped int64, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if room := max - len(line); room > 0 {
			line = append(line, frag[:min(room, len(frag))]...)
			dropped += int64(len(frag) - min(room, len(frag)))
		} else {
			dropped += int64(len(frag))
		}
		if err != bufio.ErrBufferFull {
			return line, dropped, err
		}
	}
}

// writeHeader writes the fields of a raw header that keep() accepts, as
// writeHeaderFrom does.
func writeHeader(w *bytes.Buffer, header []byte, keep func(string) bool) {
	writeHeaderFrom(w, bytes.NewReader(header), keep)
}

// renderBody writes the body of a raw message as render does, with the
// fields of enclosed messages that keep() accepts.
func renderBody(w *bytes.Buffer, raw []byte, keep func(string) bool) {
	renderBodyFrom(w, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, keep)
}

// maxPartHeader bounds the header of a part of a multipart that the
// MIME parser is given to hold: the fields past it are not read (see
// partHeaderCut).
const maxPartHeader = 1 << 20

// maxMIMEHeader bounds the header section that the MIME parser is given
// to hold: a message with a larger one is shown as a message the parser
// refuses is, its body as stored.
const maxMIMEHeader = 8 << 20

// renderBodyFrom writes the body of the message that open reads as
// text: text/plain parts decoded to UTF-8, the text of reports
// (reportText) too, an enclosed message (message/rfc822) with its
// header's fields that keep() accepts and its body as a message's, and
// every other part as a line naming its type and size. A text in base64
// or quoted-printable that does not decode to its end is shown as far
// as it does, then a note and the rest as stored (cteReader), so that
// none of it is hidden. A message go-message cannot parse is shown as
// stored. The message is opened again for that.
func renderBodyFrom(w io.Writer, open func() (io.ReadCloser, error), keep func(string) bool) error {
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	sw := &stickyWriter{w: w}
	v := &walker{w: sw, keep: keep}
	e, dec, err := readEntity(&headerLimit{r: r, limit: maxMIMEHeader})
	var enc string
	encoded := false
	if e != nil {
		enc, encoded = unknownEncoding(e.Header)
	}
	if e != nil && !encoded {
		// An unknown charset still gives a usable entity.
		v.entity(e, "1", true, textNote{before: charsetNote(e, err), dec: dec}, 0)
		return sw.err
	}
	r2, err := open()
	if err != nil {
		return err
	}
	defer r2.Close()
	br := bufio.NewReaderSize(r2, 64<<10)
	if err := skipHeader(br); err == io.EOF && !encoded {
		return nil
	} else if err != nil && err != io.EOF {
		return err
	}
	if encoded {
		// go-message gives the body of an unknown encoding with
		// its charset converted, and may have read it to its end
		// for that: it is read again, as stored. The note comes
		// whenever the text is shown, even when it is empty.
		p, note := asStored(e.Header, br)
		v.entity(p, "1", true, textNote{before: encodingNote(enc) + note}, 0)
		return sw.err
	}
	dw := newDisplayWriter(sw)
	if _, err := io.Copy(dw, br); err != nil {
		return err
	}
	if err := dw.Close(); err != nil {
		return err
	}
	return sw.err
}

// skipHeader reads past the header section: through the first empty
// line. io.EOF: the message has none, and so no body.
func skipHeader(br *bufio.Reader) error {
	mid := false
	for {
		frag, err := br.ReadSlice('\n')
		switch err {
		case nil:
			if !mid && isBlank(frag) {
				return nil
			}
			mid = false
		case bufio.ErrBufferFull:
			mid = true
		default:
			return err
		}
	}
}

// stickyWriter keeps the first error of its writer and fails every
// write after it.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// copyText writes r's text to w through displayText's filter, up to
// r's end or first error, and a newline after text that lacks one.
func copyText(w *stickyWriter, r io.Reader) {
	dw := newDisplayWriter(w)
	io.Copy(dw, r)
	if w.err != nil {
		return
	}
	dw.Close()
	if dw.n > 0 && dw.last != '\n' {
		w.Write([]byte{'\n'})
	}
}

// textNote says what comes with the text of a part besides the text:
// before it, why it is shown as it is stored (charsetNote,
// encodingNote); after it, when dec stopped decoding part way, a note
// and the rest as stored.
type textNote struct {
	before string
	dec    *cteReader
}

// walker writes a message's body as renderBodyFrom describes: to w,
// and the fields of enclosed messages that keep accepts.
type walker struct {
	w    *stickyWriter
	keep func(string) bool
}

// maxDepth bounds how deep the display follows parts within parts and
// messages within messages: every level holds buffers (and a part's
// header, up to maxPartHeader) while the levels within it are read, so
// a message nested a thousand deep would take the stack and the memory
// of a thousand. Real mail, a bounce of a forwarded message included,
// nests a few levels. An entity deeper than this is named, with a note,
// and not shown.
const maxDepth = 20

// entity writes e, at depth levels within the message, reading each
// part as it goes. A part ends at its first read error, as it did when
// parts were read whole before they were shown. note, when e is shown
// as text, comes with its text.
func (v *walker) entity(e *message.Entity, path string, top bool, note textNote, depth int) {
	w := v.w
	if depth > maxDepth {
		listPartNote(w, e, path, fmt.Sprintf(": nested more than %d deep, not shown", maxDepth))
		return
	}
	mt, params, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	if e.MultipartReader() != nil {
		boundary := params["boundary"]
		if boundary == "" {
			b := lenientBoundary(e.Header.Get("Content-Type"))
			if b == "" {
				// No usable boundary: the text as stored.
				copyText(w, e.Body)
				return
			}
			// A boundary mime.ParseMediaType refuses (unquoted,
			// with '='): quoted, so that go-message takes it.
			t, _, _ := strings.Cut(e.Header.Get("Content-Type"), ";")
			mt = strings.ToLower(strings.TrimSpace(t))
			e.Header.Set("Content-Type", mime.FormatMediaType(mt, map[string]string{"boundary": b}))
			if fixed, _ := message.New(e.Header, e.Body); fixed.MultipartReader() == nil {
				listPart(w, e, path)
				return
			}
			boundary = b
		}
		// The parts are read as go-message's MultipartReader reads
		// them, but a part in an encoding it does not know is kept
		// as stored (nextPart), and the parts after it are shown.
		// A part's header is held whole by the reader: past
		// maxPartHeader its fields are dropped, and a note says so.
		cut := newPartHeaderCut(e.Body, boundary, maxPartHeader)
		mr := textproto.NewMultipartReader(cut, boundary)
		// Of a multipart/alternative, the first plain text part is
		// shown and the others named.
		chosen := false
		for i := 1; w.err == nil; i++ {
			p, pnote, err := nextPart(mr)
			if err != nil {
				break
			}
			p.Body = &errorsAsEOF{r: p.Body}
			if mt == "multipart/digest" && p.Header.Get("Content-Type") == "" {
				// A digest's parts are messages unless they
				// say otherwise (RFC 2046, 5.1.5).
				p.Header.Set("Content-Type", "message/rfc822")
			}
			sub := fmt.Sprintf("%s.%d", path, i)
			if pc, ok := cut.cut(i); ok {
				io.WriteString(w, pc.note(sub, maxPartHeader))
			}
			if mt != "multipart/alternative" {
				v.entity(p, sub, false, pnote, depth+1)
				continue
			}
			if t, _, _ := p.Header.ContentType(); !chosen && (t == "text/plain" || t == "") {
				chosen = true
				v.entity(p, sub, false, pnote, depth+1)
			} else {
				listPart(w, p, sub)
			}
		}
		return
	}
	if disp, _, _ := e.Header.ContentDisposition(); disp == "attachment" {
		listPart(w, e, path)
		return
	}
	switch {
	case enclosedMessage(mt):
		v.enclosed(e, path, mt, note, depth)
	case mt == "text/plain" || reportText(mt):
		if !top {
			fmt.Fprintf(w, "[-- #%s %s --]\n", path, mt)
		}
		br := bufio.NewReaderSize(e.Body, 32<<10)
		if _, err := br.Peek(1); err != nil && err != io.EOF {
			fmt.Fprintf(w, "[-- cannot decode: %v --]\n", err)
			return
		}
		io.WriteString(w, note.before)
		copyText(w, br)
		v.rest(note)
	default:
		listPart(w, e, path)
	}
}

// rest writes, when note's decoder stopped part way, a note and the
// rest of the part as stored.
func (v *walker) rest(note textNote) {
	if d := note.dec; d != nil && d.Broken() && v.w.err == nil {
		io.WriteString(v.w, d.note())
		copyText(v.w, d.Rest())
	}
}

// enclosedMessage reports whether a part of type mt is a message, shown
// as one: the message a bounce returns, or one forwarded whole.
func enclosedMessage(mt string) bool {
	return mt == "message/rfc822" || mt == "message/global"
}

// reportText reports whether a part of type mt is a report's text, for
// people to read too, and shown as text/plain is: what a delivery
// status notification (RFC 3464, RFC 6533) or a read receipt (RFC 8098)
// says, and the header of the message it returns.
func reportText(mt string) bool {
	switch mt {
	case "message/delivery-status", "message/global-delivery-status",
		"message/disposition-notification", "message/global-disposition-notification",
		"text/rfc822-headers", "message/global-headers":
		return true
	}
	return false
}

// enclosed writes a message/rfc822 part, e, whose body is a message:
// a note where it starts, its header's fields that keep accepts, an
// empty line and its body, shown as a message's is, one level deeper.
// It is read as it goes, as the message that holds it is: only its
// header is held, up to the bound the MIME parser is given at the top
// (maxMIMEHeaderBytes).
func (v *walker) enclosed(e *message.Entity, path, mt string, note textNote, depth int) {
	w := v.w
	fmt.Fprintf(w, "[-- #%s %s --]\n", path, mt)
	io.WriteString(w, note.before)
	br := bufio.NewReaderSize(e.Body, 16<<10)
	hs := &headerSection{br: br, limit: maxMIMEHeaderBytes}
	if err := writeHeaderFrom(w, hs, v.keep); err != nil {
		return
	}
	io.Copy(io.Discard, hs)
	io.WriteString(w, "\n")
	v.body(hs, br, path, depth+1)
	v.rest(note)
}

// body writes the body of an enclosed message, which br reads after
// its header, hs, as renderBodyFrom writes a message's: a header the
// MIME parser refuses, or larger than it is given at the top, makes
// the body shown as stored.
func (v *walker) body(hs *headerSection, br *bufio.Reader, path string, depth int) {
	w := v.w
	var h textproto.Header
	err := errHeaderTooLarge
	if !hs.over {
		h, err = textproto.ReadHeader(bufio.NewReader(bytes.NewReader(hs.held)))
	}
	hs.held = nil
	if err != nil {
		if hs.blank {
			copyText(w, br)
		}
		return
	}
	mh := mimeFields(message.Header{Header: h})
	if enc, encoded := unknownEncoding(mh); encoded {
		p, note := asStored(mh, br)
		v.entity(p, path, true, textNote{before: encodingNote(enc) + note}, depth)
		return
	}
	// newEntity's only errors are an unknown encoding, which is
	// not this one, and an unknown charset, whose text charsetNote
	// gives the part.
	e, dec, err := newEntity(mh, br)
	v.entity(e, path, true, textNote{before: charsetNote(e, err), dec: dec}, depth)
}

// headerSection reads the header section of a message from br: up to
// and with the first empty line (as skipHeader finds it), or the end.
// It holds what it reads, for the MIME parser, up to limit bytes; over
// reports that the header was longer, and it is not held.
type headerSection struct {
	br      *bufio.Reader
	limit   int
	held    []byte
	over    bool
	blank   bool // an empty line ended the header
	mid     bool // within a line
	done    bool
	pending []byte
}

func (h *headerSection) Read(p []byte) (int, error) {
	for len(h.pending) == 0 {
		if h.done {
			return 0, io.EOF
		}
		frag, err := h.br.ReadSlice('\n')
		switch {
		case err == nil && !h.mid && isBlank(frag):
			h.done, h.blank = true, true
		case err != nil && err != bufio.ErrBufferFull:
			h.done = true
		}
		h.mid = err == bufio.ErrBufferFull
		if !h.over && len(h.held)+len(frag) > h.limit {
			h.over, h.held = true, nil
		}
		if !h.over {
			h.held = append(h.held, frag...)
		}
		h.pending = frag
	}
	n := copy(p, h.pending)
	h.pending = h.pending[n:]
	return n, nil
}

// displayText makes decoded text safe for a terminal: CRLF to LF and
// control characters other than tab and newline shown as '?'.
func displayText(b []byte) string {
	f := textFilter{display: true}
	return string(f.add(nil, b, true))
}

// listPart names a part that is not shown: its number, type, size and
// file name.
func listPart(w io.Writer, e *message.Entity, path string) {
	listPartNote(w, e, path, "")
}

// listPartNote names a part as listPart does, with a note saying why it
// is not shown.
func listPartNote(w io.Writer, e *message.Entity, path, note string) {
	mt, _, _ := e.Header.ContentType()
	if mt == "" {
		mt = "text/plain"
	}
	n, _ := io.Copy(io.Discard, e.Body)
	name := ""
	if _, p, err := e.Header.ContentDisposition(); err == nil && p["filename"] != "" {
		name = p["filename"]
	} else if _, p, err := e.Header.ContentType(); err == nil && p["name"] != "" {
		name = p["name"]
	}
	if name != "" {
		if d, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			name = d
		}
		name = ", \"" + printable(name) + "\""
	}
	fmt.Fprintf(w, "[-- #%s %s, %d bytes%s%s --]\n", path, printable(mt), n, name, note)
}

// cmdTop prints the retained header and the first toplines body lines.
func (s *session) cmdTop(arg string) error {
	lines := 5
	if v, err := strconv.Atoi(s.set.get("toplines")); err == nil && v >= 0 {
		lines = v
	}
	list, err := s.sel().resolve(arg, undeletedOnly)
	if err != nil {
		return err
	}
	return s.display(list, false, lines)
}

// cmdPipe pipes messages, as stored, to a shell command: pipe [MSGS] CMD.
func (s *session) cmdPipe(arg string) error {
	list, cmdline := s.splitListArg(arg, "cmd")
	if cmdline == "" {
		return fmt.Errorf("pipe: no command given")
	}
	return s.eachMsg(list, undeletedOnly, func(i int, m *Msg) error {
		r, err := s.box.Open(m)
		if err != nil {
			return err
		}
		defer r.Close()
		s.out.Flush()
		cmd := exec.Command(shellPath(), "-c", cmdline)
		cmd.Stdin = r
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %v", cmdline, err)
		}
		m.flags |= fTouched | fRead
		return nil
	})
}

// splitListArg splits "MSGS WORD" for save, copy, write and pipe: the
// last word is the file (for pipe: a quoted command, or all that
// follows the list).
func (s *session) splitListArg(arg, kind string) (list, last string) {
	arg = strings.TrimSpace(arg)
	if kind == "cmd" {
		if i := strings.IndexAny(arg, "'\""); i >= 0 {
			words, err := splitWords(arg[i:])
			if err == nil && len(words) > 0 {
				return strings.TrimSpace(arg[:i]), words[0]
			}
		}
		// Leading list items, then the command.
		f := strings.Fields(arg)
		k := 0
		for k < len(f) && (isListNumber(f[k]) || f[k] == "*" || strings.HasPrefix(f[k], ":")) {
			k++
		}
		return strings.Join(f[:k], " "), strings.Join(f[k:], " ")
	}
	words, err := splitWords(arg)
	if err != nil || len(words) == 0 {
		return "", ""
	}
	i := strings.LastIndex(arg, words[len(words)-1])
	if i < 0 {
		i = len(arg)
	}
	return strings.TrimSpace(arg[:i]), words[len(words)-1]
}

// lenientBoundary takes the boundary parameter out of a Content-Type
// value that mime.ParseMediaType refuses, as mutt and s-nail do: it
// runs to the next ';' or the end, trimmed, quotes removed; "" when
// there is none.
func lenientBoundary(v string) string {
	for _, p := range strings.Split(v, ";")[1:] {
		name, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "boundary") {
			continue
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		return val
	}
	return ""
}

// nextPart reads the next part of a multipart as go-message's
// MultipartReader does, and gives the note that comes before its text.
// A part in a Content-Transfer-Encoding that go-message does not decode
// (x-uuencode, binhex, a typo) is given as it is stored, not decoded,
// as the note says, its charset converted (asStored): go-message gives
// it with an error that ends its own walk. A part in a charset that
// charsetReader does not know, not all UTF-8, is given as its bytes are.
// An error is the multipart's own (its end, a broken delimiter), where
// the walk ends.
func nextPart(mr *textproto.MultipartReader) (*message.Entity, textNote, error) {
	tp, err := mr.NextPart()
	if err != nil {
		return nil, textNote{}, err
	}
	// Only the fields the display reads are kept: the rest of the
	// part's header is not held while the parts within it are read.
	h := mimeFields(message.Header{Header: tp.Header})
	tp.Header = textproto.Header{}
	if enc, ok := unknownEncoding(h); ok {
		p, note := asStored(h, tp)
		return p, textNote{before: encodingNote(enc) + note}, nil
	}
	// newEntity's only errors are an unknown encoding, which is
	// not this one, and an unknown charset, whose text charsetNote
	// gives the part.
	p, dec, err := newEntity(h, tp)
	return p, textNote{before: charsetNote(p, err), dec: dec}, nil
}

// mimeFields gives the fields of h that the display reads, in the order
// h has them: a header held while the entities within its entity are
// shown holds no more (a part's header may be a megabyte, at every
// level of maxDepth).
func mimeFields(h message.Header) message.Header {
	var out message.Header
	for _, k := range []string{"Content-Type", "Content-Transfer-Encoding", "Content-Disposition"} {
		// Values gives them last first.
		vals := h.Values(k)
		for i := len(vals) - 1; i >= 0; i-- {
			out.Add(k, vals[i])
		}
	}
	return out
}

// asStored gives the entity of a body in a Content-Transfer-Encoding
// that go-message does not decode: its bytes as stored, not decoded,
// but their charset converted to UTF-8 as for any other text (as
// s-nail shows such a part), and the note of an unknown charset
// (charsetNote), if that is one too. The entity keeps h, its encoding
// named.
func asStored(h message.Header, body io.Reader) (*message.Entity, string) {
	plain := message.Header{Header: h.Header.Copy()}
	plain.Del("Content-Transfer-Encoding")
	p, err := message.New(plain, body)
	if p == nil {
		return &message.Entity{Header: h, Body: body}, ""
	}
	note := charsetNote(p, err)
	p.Header = h
	return p, note
}

// unknownEncoding gives the Content-Transfer-Encoding that h names when
// go-message does not decode it, and reports whether that is so. A
// multipart has none: go-message ignores it there (RFC 2045 allows it
// only 7bit, 8bit or binary, and some mailers write others).
func unknownEncoding(h message.Header) (string, bool) {
	if mt, _, _ := h.ContentType(); strings.HasPrefix(mt, "multipart/") {
		return "", false
	}
	enc := h.Get("Content-Transfer-Encoding")
	return enc, !knownEncoding(enc)
}

// knownEncoding reports whether go-message decodes the
// Content-Transfer-Encoding enc (its encodingReader's list).
func knownEncoding(enc string) bool {
	switch strings.ToLower(enc) {
	case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		return true
	}
	return false
}

// encodingNote is the line before a text shown as stored because mail
// does not know its Content-Transfer-Encoding enc.
func encodingNote(enc string) string {
	return fmt.Sprintf("[-- unknown transfer encoding %s: shown as stored --]\n", printable(enc))
}

// charsetNote gives e the text that err, go-message's error for e,
// holds when charsetReader did not know e's charset (unknownText), and
// then the line that comes before it; else "".
func charsetNote(e *message.Entity, err error) string {
	if !unknownText(e, err) {
		return ""
	}
	_, params, _ := e.Header.ContentType()
	return fmt.Sprintf("[-- unknown charset %s: shown as it is, bytes that are not UTF-8 replaced --]\n", printable(params["charset"]))
}
