package mailx

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// partHeaderCut passes the body of a multipart on to go-message's
// multipart reader, which reads the header of each part whole, with the
// header of each part bounded: the fields past the first limit bytes of
// it are dropped (whole fields, so that what is left parses as it did)
// and counted, and the empty line that ends the header is passed on.
// It follows the body as the multipart reader does (go-message's
// textproto.MultipartReader: the first delimiter line tells whether
// lines end in CRLF or LF, a part's body ends at a newline followed by
// the delimiter, and the multipart at the close delimiter or at a line
// the reader does not take), so that it never takes a part's body for
// a header. Below the limit its output is its input, byte for byte.
type partHeaderCut struct {
	br    *bufio.Reader
	dash  []byte // "--" boundary
	nl    string // "\r\n", or "\n" once the first delimiter line says so
	limit int

	state   int
	mid     bool   // within a line: the last fragment had no newline
	afterNL bool   // the line before ended with nl, or the body starts
	parts   int    // delimiter lines seen: the part being read
	passed  int    // header bytes of this part passed on
	field   []byte // the header field being gathered
	dropped int64  // header bytes of this part dropped
	pending []byte // what Read gives next: of frag, or of out
	out     []byte
	lastCR  bool // the last fragment ended with CR
	err     error
	cuts    map[int]partCut
}

// partCut is what partHeaderCut dropped of a part's header.
type partCut struct {
	dropped, size int64
}

const (
	phPreamble = iota
	phHeader
	phBody
	phDone
)

func newPartHeaderCut(r io.Reader, boundary string, limit int) *partHeaderCut {
	return &partHeaderCut{
		br:    bufio.NewReaderSize(r, 64<<10),
		dash:  []byte("--" + boundary),
		nl:    "\r\n",
		limit: limit,
	}
}

// cut reports what was dropped of part n's header (n from 1), if
// anything.
func (c *partHeaderCut) cut(n int) (partCut, bool) {
	pc, ok := c.cuts[n]
	return pc, ok
}

// note is the line shown before part path when its header was cut.
func (pc partCut) note(path string, limit int) string {
	return fmt.Sprintf("[-- #%s header larger than %d bytes: the last %d of its %d bytes not read --]\n", path, limit, pc.dropped, pc.size)
}

func (c *partHeaderCut) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.state == phDone {
			return c.br.Read(p)
		}
		c.step()
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// step reads one fragment of a line (a whole line unless it is longer
// than the buffer) and sets what it passes on.
func (c *partHeaderCut) step() {
	frag, err := c.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull {
		c.err = err
	}
	start := !c.mid
	c.mid = err == bufio.ErrBufferFull
	whole := start && !c.mid // a whole line, or the last one without newline
	switch c.state {
	case phPreamble:
		c.pending = frag
		if whole {
			switch {
			case c.isDelimiter(frag):
				c.startPart()
			case c.isFinal(frag):
				c.state = phDone
			}
		}
	case phBody:
		c.pending = frag
		if start && c.afterNL && bytes.HasPrefix(frag, c.dash) && (len(frag) == len(c.dash) || strings.IndexByte(" \t\r\n-", frag[len(c.dash)]) >= 0) {
			// The multipart reader ends the part's body here,
			// and reads this line as a delimiter or stops.
			if whole && c.isDelimiter(frag) {
				c.startPart()
			} else {
				c.state = phDone
			}
		}
		if !c.mid {
			// A CR at the end of a full buffer and its LF are
			// two fragments.
			c.afterNL = bytes.HasSuffix(frag, []byte(c.nl)) || c.nl == "\r\n" && !start && string(frag) == "\n" && c.lastCR
		}
	case phHeader:
		c.header(frag, start, whole)
	}
	c.lastCR = len(frag) > 0 && frag[len(frag)-1] == '\r'
}

// header takes a fragment of a part's header. A field is gathered
// until the next one starts, and passed on if the header so far fits
// within the limit; from the first one that does not, the fields are
// counted and dropped, up to the empty line, which is passed on.
func (c *partHeaderCut) header(frag []byte, start, whole bool) {
	blank := whole && (string(frag) == "\n" || string(frag) == "\r\n")
	if blank || start && len(frag) > 0 && frag[0] != ' ' && frag[0] != '\t' {
		c.flushField()
	}
	if blank {
		c.endHeader()
		c.out = append(c.pending, frag...)
		c.pending = c.out
		c.state, c.afterNL = phBody, true
		return
	}
	c.gather(frag)
	if c.err != nil {
		// The header ends with the input: the multipart reader
		// fails on it as it did.
		c.flushField()
		c.endHeader()
		c.state = phDone
	}
}

// endHeader records what was dropped of the part's header.
func (c *partHeaderCut) endHeader() {
	if c.dropped == 0 {
		return
	}
	if c.cuts == nil {
		c.cuts = map[int]partCut{}
	}
	c.cuts[c.parts] = partCut{dropped: c.dropped, size: int64(c.passed) + c.dropped}
}

// gather adds frag to the field being gathered, or drops it once the
// header has passed the limit.
func (c *partHeaderCut) gather(frag []byte) {
	if c.dropped > 0 || c.passed+len(c.field)+len(frag) > c.limit {
		c.dropped += int64(len(c.field) + len(frag))
		c.field = c.field[:0]
		return
	}
	c.field = append(c.field, frag...)
}

// flushField passes the field gathered on, after what a step has
// already passed (pending is then of out).
func (c *partHeaderCut) flushField() {
	c.out = append(c.out[:len(c.pending)], c.field...)
	c.pending = c.out
	c.passed += len(c.field)
	c.field = c.field[:0]
}

func (c *partHeaderCut) startPart() {
	c.parts++
	c.state = phHeader
	c.passed, c.dropped = 0, 0
	c.field = c.field[:0]
}

// isDelimiter is the multipart reader's isBoundaryDelimiterLine: the
// delimiter, blank space, and nl (the first one sets nl to "\n" when it
// ends so).
func (c *partHeaderCut) isDelimiter(line []byte) bool {
	if !bytes.HasPrefix(line, c.dash) {
		return false
	}
	rest := bytes.TrimLeft(line[len(c.dash):], " \t")
	if c.parts == 0 && string(rest) == "\n" {
		c.nl = "\n"
	}
	return string(rest) == c.nl
}

// isFinal is the multipart reader's isFinalBoundary.
func (c *partHeaderCut) isFinal(line []byte) bool {
	if !bytes.HasPrefix(line, c.dash) || !bytes.HasPrefix(line[len(c.dash):], []byte("--")) {
		return false
	}
	rest := bytes.TrimLeft(line[len(c.dash)+2:], " \t")
	return len(rest) == 0 || string(rest) == c.nl
}
