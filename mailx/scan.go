package mailx

import (
	"bytes"
)

// hscan picks the few header fields the summary needs out of a header
// section, one line at a time, so that an mbox scan and a Maildir header
// read share it. Only the first occurrence of a field counts.
type hscan struct {
	m    *Msg
	last *string // the field a continuation line extends
}

func trimEOL(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
		if n > 1 && l[n-2] == '\r' {
			l = l[:n-2]
		}
	}
	return l
}

// isBlank reports whether l is an empty line (LF or CRLF).
func isBlank(l []byte) bool {
	return len(l) == 1 && l[0] == '\n' || len(l) == 2 && l[0] == '\r' && l[1] == '\n'
}

// line takes one header line, with or without its newline.
func (h *hscan) line(l []byte) {
	if len(l) == 0 {
		return
	}
	if l[0] == ' ' || l[0] == '\t' {
		if h.last != nil {
			*h.last += " " + string(bytes.TrimSpace(trimEOL(l)))
		}
		return
	}
	h.last = nil
	var dst *string
	switch l[0] | 0x20 {
	case 'f':
		dst = h.field(l, "from:", &h.m.From)
	case 's':
		if dst = h.field(l, "subject:", &h.m.Subject); dst == nil {
			dst = h.field(l, "status:", &h.m.Status)
		}
	case 'd':
		dst = h.field(l, "date:", &h.m.Date)
	case 'x':
		dst = h.field(l, "x-status:", &h.m.XStatus)
	case 'm':
		dst = h.field(l, "message-id:", &h.m.MsgID)
	}
	h.last = dst
}

// field stores the value of l in dst when l is the (first) field name.
func (h *hscan) field(l []byte, name string, dst *string) *string {
	if len(l) < len(name) || !bytes.EqualFold(l[:len(name)], []byte(name)) || *dst != "" {
		return nil
	}
	*dst = string(bytes.TrimSpace(trimEOL(l[len(name):])))
	return dst
}

// scanHeaderBlock feeds the header section at the start of buf to h. It
// returns the offset just past the empty line that ends the header, or -1
// when buf ends before the header does.
func scanHeaderBlock(buf []byte, h *hscan) int {
	pos := 0
	for pos < len(buf) {
		i := bytes.IndexByte(buf[pos:], '\n')
		if i < 0 {
			return -1
		}
		l := buf[pos : pos+i+1]
		pos += i + 1
		if isBlank(l) {
			return pos
		}
		if h != nil {
			h.line(l)
		}
	}
	return -1
}
