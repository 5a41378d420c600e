package submit

import (
	"bufio"
	"bytes"
)

// crWindow is how far into a message crLines looks for an LF.
const crWindow = 64 << 10

// crLines reports whether a message's lines end in a lone CR, as text
// files of classic Mac OS do and some old mailers still send: the input
// holds a CR and no LF in its first crWindow bytes (or up to its end).
// Read as LF-ended lines, such a message is one line: the whole message
// would be taken for its first header field, and dropped with it when
// that field is a Return-Path or a Bcc, or read as recipients by -t.
//
// It peeks no further than it must to decide: up to the first LF, which
// a message typed at a terminal sends at the end of its first line.
//
// br's buffer may be smaller than crWindow (Submit's is): when all of
// it holds no LF, the look goes on through a reader of crWindow over
// br, which crLines returns to be read from in br's place; otherwise it
// returns br.
func crLines(br *bufio.Reader) (bool, *bufio.Reader) {
	cr, full := crLook(br)
	if full && br.Size() < crWindow {
		wide := bufio.NewReaderSize(br, crWindow)
		cr, _ = crLook(wide)
		return cr, wide
	}
	return cr, br
}

// crLook is crLines within br's buffer. full reports that it looked at
// the whole buffer and found neither an LF nor the end of the input.
func crLook(br *bufio.Reader) (cr, full bool) {
	seen := 0
	for {
		b, err := br.Peek(seen + 1)
		if i := bytes.IndexByte(b[min(seen, len(b)):], '\n'); i >= 0 {
			return false, false
		}
		seen = len(b)
		if err != nil || seen >= br.Size() {
			// The end of the input, or of what is looked at.
			return bytes.IndexByte(b, '\r') >= 0, seen >= br.Size()
		}
		// Take in what has arrived meanwhile at once.
		if n := br.Buffered(); n > seen {
			b, _ = br.Peek(n)
			if bytes.IndexByte(b[seen:], '\n') >= 0 {
				return false, false
			}
			seen = n
		}
	}
}

// crToLF reads src with every CR that is not followed by LF turned into
// LF (a CR LF is left for the line reading, which makes it LF).
type crToLF struct {
	src *bufio.Reader
}

func (c *crToLF) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		b, err := c.src.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b == '\r' {
			if next, err := c.src.Peek(1); err != nil || next[0] != '\n' {
				b = '\n'
			}
		}
		p[n] = b
		n++
		if c.src.Buffered() == 0 && n > 0 {
			// Do not wait for more input with bytes in hand.
			return n, nil
		}
	}
	return n, nil
}
