package relay

import (
	"bytes"
	"fmt"
	"io"
)

// lineLimit is the longest line, without its CRLF, that goes to the
// smarthost: Postfix's smtp_line_length_limit (998), RFC 5321's 1000
// octets with the CRLF (section 4.5.3.1.6). A strict server refuses a
// longer one (500 5.5.2, or 554 after the data).
const lineLimit = 998

// wireWriter turns the queued message (LF line ends) into what goes on
// the wire after DATA, as Postfix's smtp(8) client sends a queue file:
// each LF becomes CRLF, every other byte goes as it is (a bare CR too,
// at the end of a line as anywhere: "a\r" LF leaves as "a\r" CRLF), a
// line that begins with a dot gets another one, and a line longer than
// lineLimit is broken into lines of lineLimit by inserting CRLF SPACE
// (Postfix's smtp_line_length_limit: a continuation line of a header
// field, white space where a body line wrapped, the least damage to
// MIME). Without stuffing it counts the message for SIZE (RFC 1870:
// CRLF line ends, no doubled dots).
type wireWriter struct {
	w     io.Writer
	stuff bool  // double leading dots
	col   int   // octets on the current wire line; 0 at a queued line's start
	wrote bool  // anything was written
	n     int64 // octets written
	err   error
}

var (
	wireCRLF  = []byte("\r\n")
	wireBreak = []byte("\r\n ")
	wireDot   = []byte(".")
)

func (ww *wireWriter) put(b []byte) {
	if ww.err != nil {
		return
	}
	n, err := ww.w.Write(b)
	ww.n += int64(n)
	if err != nil {
		ww.err = err
	}
}

func (ww *wireWriter) Write(p []byte) (int, error) {
	if ww.err != nil {
		return 0, ww.err
	}
	if len(p) > 0 {
		ww.wrote = true
	}
	for q := p; len(q) > 0 && ww.err == nil; {
		if q[0] == '\n' {
			ww.put(wireCRLF)
			ww.col = 0
			q = q[1:]
			continue
		}
		if ww.col == 0 && ww.stuff && q[0] == '.' {
			// The doubled dot does not count to the line's length,
			// as in Postfix: the server removes it.
			ww.put(wireDot)
		}
		if ww.col == lineLimit {
			// More of the line follows (not its LF): break it.
			ww.put(wireBreak)
			ww.col = 1
		}
		// The line's LF is looked for no further than the room left
		// on the wire line: a long line would be searched again and
		// again to its end.
		seg := q
		if room := lineLimit - ww.col; len(seg) > room {
			seg = seg[:room]
		}
		if i := bytes.IndexByte(seg, '\n'); i >= 0 {
			seg = seg[:i]
		}
		ww.put(seg)
		ww.col += len(seg)
		q = q[len(seg):]
	}
	if ww.err != nil {
		return 0, ww.err
	}
	return len(p), nil
}

// finish ends the last line: a message whose last line has no LF gets
// CRLF, as the end of the data needs one (an empty message is one empty
// line, as net/textproto's DotWriter sends it).
func (ww *wireWriter) finish() error {
	if ww.col > 0 || !ww.wrote {
		ww.put(wireCRLF)
		ww.col = 0
	}
	return ww.err
}

// wireSize is the size of the message as it goes to the smarthost,
// which RFC 1870 has MAIL's SIZE declare and the server's limit
// compare with: head (as rewritten for the smarthost) and what follows
// the first skip bytes of the queued message (its head as queued), with
// CRLF line ends and lines broken as wireWriter breaks them, without the
// doubled dots.
func wireSize(head []byte, skip int, open func() io.Reader) (int64, error) {
	ww := &wireWriter{w: io.Discard}
	ww.Write(head)
	r := open()
	if _, err := io.CopyN(io.Discard, r, int64(skip)); err != nil {
		return 0, fmt.Errorf("read queued message: %w", err)
	}
	if _, err := io.Copy(ww, r); err != nil {
		return 0, fmt.Errorf("read queued message: %w", err)
	}
	if err := ww.finish(); err != nil {
		return 0, err
	}
	return ww.n, nil
}
