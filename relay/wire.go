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
// the wire after DATA, as Postfix sends a message it took: each LF
// becomes CRLF, a line that begins with a dot gets another one, and a
// line longer than lineLimit is broken into lines of lineLimit by
// inserting CRLF SPACE (Postfix's smtp_line_length_limit: a continuation
// line of a header field, white space where a body line wrapped, the
// least damage to MIME). A CR that is no part of a line end cannot go
// as it is: RFC 5321 (2.3.8) forbids a bare CR in SMTP, and a server
// that takes one for a line end would see in "\r.\r\n" within a
// message the end of its data, and what follows as commands in the
// user's own logged-in session (SMTP smuggling: a line of a log mailed
// by cron and forwarded through the smarthost could send mail as the
// user). So, as Postfix turns them when it takes a message (its smtpd
// drops CRs before a line's end, its cleanup makes the others spaces:
// cleanup_replace_stray_cr_lf), a CR right before a LF (or at the
// message's end) is left out, and any other one leaves as a space.
// Every other byte goes as queued. Without stuffing it counts the
// message for SIZE (RFC 1870: CRLF line ends, no doubled dots).
type wireWriter struct {
	w     io.Writer
	stuff bool  // double leading dots
	col   int   // octets on the current wire line; 0 at a queued line's start
	cr    bool  // a CR came last, not yet written: a space unless LF follows
	wrote bool  // anything was written
	n     int64 // octets written
	err   error
}

var (
	wireCRLF  = []byte("\r\n")
	wireBreak = []byte("\r\n ")
	wireDot   = []byte(".")
	wireSpace = []byte(" ")
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

// text writes seg, a piece of a line without CR or LF: a leading dot
// doubled, the line broken where it passes lineLimit.
func (ww *wireWriter) text(seg []byte) {
	for len(seg) > 0 && ww.err == nil {
		if ww.col == 0 && ww.stuff && seg[0] == '.' {
			// The doubled dot does not count to the line's length,
			// as in Postfix: the server removes it.
			ww.put(wireDot)
		}
		if ww.col == lineLimit {
			// More of the line follows (not its LF): break it.
			ww.put(wireBreak)
			ww.col = 1
		}
		n := min(len(seg), lineLimit-ww.col)
		ww.put(seg[:n])
		ww.col += n
		seg = seg[n:]
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
		if ww.cr {
			ww.cr = false
			if q[0] != '\n' {
				ww.text(wireSpace) // a bare CR within a line
			}
		}
		switch q[0] {
		case '\n':
			ww.put(wireCRLF)
			ww.col = 0
			q = q[1:]
			continue
		case '\r':
			ww.cr = true
			q = q[1:]
			continue
		}
		// Each byte is looked at once: a line of megabytes is no
		// slower a byte than a short one.
		seg := q
		if i := bytes.IndexAny(seg, "\r\n"); i >= 0 {
			seg = seg[:i]
		}
		ww.text(seg)
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
	// A CR at the very end is taken for the last line's end.
	if ww.col > 0 || !ww.wrote || ww.cr {
		ww.put(wireCRLF)
		ww.col = 0
	}
	ww.cr = false
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
