package mailx

import (
	"bytes"
	bin "encoding/binary"
	"os"
	"sync"
	"time"
	"unsafe"

	"homepost/maildir"
)

// hscan picks the few header fields the summary needs out of a header
// section, one line at a time, so that an mbox scan and a Maildir header
// read share it. Only the first occurrence of a field counts.
type hscan struct {
	f    [4][]byte // hFrom, hSubject, hDate, hStatus as found, continuation lines joined
	last int       // the field a continuation line extends, or -1
	dec  [2][]byte // From and Subject decoded
	tmp  [2][]byte // appendDecoded's
	buf  []byte    // packSum's scratch
}

const (
	hFrom = iota
	hSubject
	hDate
	hStatus
)

func (h *hscan) reset() {
	for i := range h.f {
		h.f[i] = h.f[i][:0]
	}
	h.last = -1
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
		if h.last >= 0 {
			h.f[h.last] = append(h.f[h.last], ' ')
			h.f[h.last] = append(h.f[h.last], bytes.TrimSpace(trimEOL(l))...)
		}
		return
	}
	h.last = -1
	switch l[0] | 0x20 {
	case 'f':
		h.field(l, "from:", hFrom)
	case 's':
		if !h.field(l, "subject:", hSubject) {
			h.field(l, "status:", hStatus)
		}
	case 'd':
		h.field(l, "date:", hDate)
	}
}

// field stores the value of l as field k when l is that field and k is
// still empty.
func (h *hscan) field(l []byte, name string, k int) bool {
	if len(l) < len(name) || !bytes.EqualFold(l[:len(name)], []byte(name)) || len(h.f[k]) != 0 {
		return false
	}
	h.f[k] = append(h.f[k][:0], bytes.TrimSpace(trimEOL(l[len(name):]))...)
	h.last = k
	return true
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

// view is b as a string without a copy, for a call that does not keep
// it.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// summarize packs m's summary from the fields h collected and, for an
// mbox message, its "From " line (without "From "), sets the flags that
// go with it, and returns it: in h's buffer, valid until the next call.
// A Maildir message (of the Maildir dir) without a usable Date field is
// dated by its file: when it arrived.
func (h *hscan) summarize(m *Msg, fromLine []byte, dir string) []byte {
	var fields [sumFields][]byte
	h.dec[0] = appendDecoded(h.dec[0][:0], &h.tmp, view(h.f[hFrom]))
	h.dec[1] = appendDecoded(h.dec[1][:0], &h.tmp, view(h.f[hSubject]))
	from := view(h.dec[0])
	fields[sumFrom], fields[sumSubject] = h.dec[0], h.dec[1]
	fields[sumStatus] = h.f[hStatus]
	m.flags &^= fFromDate
	if fromLine != nil {
		env, d, ok := bytes.Cut(fromLine, []byte(" "))
		if addrOf(from) == "" {
			fields[sumEnvSender] = env
		}
		// The summary shows the "From " line's date as written, to
		// the minute, as BSD mail does.
		if d = bytes.TrimSpace(d); ok && len(d) >= 16 {
			m.flags |= fFromDate
			fields[sumDate] = d[:16]
		}
	}
	var date [bin.MaxVarintLen64]byte
	if !m.has(fFromDate) {
		var t time.Time
		ok := false
		if len(h.f[hDate]) > 0 {
			t, ok = parseDate(view(h.f[hDate]))
		}
		if !ok && dir != "" && m.loc != "" {
			if st, err := os.Stat(maildir.Dir(dir).Path(m.entry())); err == nil {
				t, ok = st.ModTime(), true
			}
		}
		if ok {
			fields[sumDate] = date[:bin.PutVarint(date[:], t.Unix())]
		}
	}
	h.buf = packSum(h.buf[:0], &fields)
	return h.buf
}

// appendSummaryDate appends the date column: the date of the mbox
// "From " line as written, else the Date field in local time, else a
// Maildir file's modification time.
func (m *Msg) appendSummaryDate(b []byte) []byte {
	d := m.field(sumDate)
	if m.has(fFromDate) {
		return append(b, d...)
	}
	sec, n := bin.Varint([]byte(d))
	if n <= 0 {
		return b
	}
	return time.Unix(sec, 0).Local().AppendFormat(b, "Mon Jan _2 15:04")
}

// arena hands out strings that share large blocks, so that the
// summaries of a big mailbox cost their bytes and not an allocation
// each. It is safe for concurrent use.
type arena struct {
	mu    sync.Mutex
	block []byte
}

const arenaBlock = 64 << 10

func (a *arena) add(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaBlock/16 {
		return string(b)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if cap(a.block)-len(a.block) < len(b) {
		a.block = make([]byte, 0, arenaBlock)
	}
	off := len(a.block)
	a.block = append(a.block, b...)
	// The block's bytes up to len are never written again.
	return unsafe.String(&a.block[off], len(b))
}
