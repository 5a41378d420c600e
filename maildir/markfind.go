package maildir

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
)

// FindWhole looks through the mbox for the whole copy that m marked, once
// Resolve has found other bytes at the mark (Foreign): a mail reader that
// rewrote the mbox after the copy was appended (deleting an older
// message, adding Status fields) moved the copy, and a retry that only
// looked at the mark appended it a second time. header and body must be
// the copy's as the marked attempt wrote them (its trace made with
// m.Time).
//
// An entry is the copy when its "From " line is the copy's and the rest
// is the same bytes but for the header fields readers add or change
// (RewrittenField) and the
// empty lines at its end: so a copy that a crash cut off, which a reader
// then kept as a message, is not taken for the whole one. It reads the
// whole mbox, which only this rare retry does.
func (l *Locked) FindWhole(m Mark, sender string, header []byte, body io.Reader) (int64, bool, error) {
	want := newEntryDigest()
	w := bufio.NewWriterSize(want, 64<<10)
	if err := writeEntry(w, nil, sender, m.Time, header, body); err != nil {
		return 0, false, fmt.Errorf("mbox: %w", err)
	}
	if err := w.Flush(); err != nil {
		return 0, false, fmt.Errorf("mbox: %w", err)
	}
	wantSum, wantLen := want.sum()
	first := string(want.first)

	st, err := l.F.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("mbox: %w", err)
	}
	br := bufio.NewReaderSize(io.NewSectionReader(l.F, 0, st.Size()), 64<<10)
	var (
		cand    *entryDigest // the entry being compared, if its From line is the copy's
		candOff int64
		off     int64
		bol     = true
		empty   = true // the line before this one was empty (or none)
	)
	match := func() bool {
		if cand == nil {
			return false
		}
		s, n := cand.sum()
		return n == wantLen && s == wantSum
	}
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			if bol && empty && bytes.HasPrefix(frag, []byte("From ")) {
				if match() {
					return candOff, true, nil
				}
				cand = nil
				if string(frag) == first {
					cand, candOff = newEntryDigest(), off
				}
			}
			if cand != nil {
				cand.write(frag, bol)
			}
			eol := frag[len(frag)-1] == '\n'
			if bol {
				empty = eol && len(frag) == 1
			} else if eol {
				empty = false
			}
			bol = eol
			off += int64(len(frag))
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, false, fmt.Errorf("mbox: %w", err)
		}
	}
	if match() {
		return candOff, true, nil
	}
	return 0, false, nil
}

// entryDigest hashes an mbox entry, fed line by line (a long line in
// pieces), leaving out the header fields that mail readers add or
// change and the empty lines at the entry's end.
type entryDigest struct {
	h        hash.Hash
	n        int64
	first    []byte // the "From " line
	lines    int
	inHeader bool
	skip     bool // the header field being read is left out
	held     int  // empty lines not yet hashed: kept only if more follows
	started  bool // a byte was written
	lastEOL  bool // the last byte written ended a line
}

func newEntryDigest() *entryDigest { return &entryDigest{h: sha256.New()} }

// RewrittenField reports whether the header line l starts a field that
// mbox readers add or rewrite in a message they keep (Status and
// X-Status, which mutt, s-nail and mail update; Content-Length and
// Lines, which mutt writes; X-Keywords and X-UID, which Dovecot keeps):
// a message is the same message without them. Most lines are told by
// their first letter.
func RewrittenField(l []byte) bool {
	if len(l) == 0 {
		return false
	}
	switch l[0] | 0x20 {
	case 's', 'x', 'c', 'l':
	default:
		return false
	}
	i := bytes.IndexByte(l[:min(len(l), 16)], ':')
	if i < 0 {
		return false
	}
	for i > 0 && (l[i-1] == ' ' || l[i-1] == '\t') {
		i--
	}
	name := l[:i]
	for _, f := range rewrittenFields {
		if len(name) == len(f) && bytes.EqualFold(name, []byte(f)) {
			return true
		}
	}
	return false
}

var rewrittenFields = []string{"Status", "X-Status", "Content-Length", "Lines", "X-Keywords", "X-UID"}

// Write feeds a stream that begins at a line's start.
func (d *entryDigest) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line = p[:i+1]
		}
		d.write(line, d.bol())
		p = p[len(line):]
	}
	return n, nil
}

// bol reports whether the next byte begins a line.
func (d *entryDigest) bol() bool { return !d.started || d.lastEOL }

// write takes a line, or a piece of one; bol tells whether it begins
// the line.
func (d *entryDigest) write(frag []byte, bol bool) {
	d.started = true
	d.lastEOL = frag[len(frag)-1] == '\n'
	if bol {
		d.lines++
	}
	if d.lines == 1 {
		d.first = append(d.first, frag...)
		d.inHeader = true
		d.put(frag)
		return
	}
	if bol && len(frag) == 1 && frag[0] == '\n' {
		d.inHeader, d.skip = false, false
		d.held++
		return
	}
	if d.inHeader && bol {
		if frag[0] == ' ' || frag[0] == '\t' {
			// A continuation line: with its field.
		} else {
			d.skip = RewrittenField(frag)
		}
	}
	if d.inHeader && d.skip {
		return
	}
	d.put(frag)
}

// put hashes b after the empty lines held back.
func (d *entryDigest) put(b []byte) {
	for ; d.held > 0; d.held-- {
		d.h.Write([]byte{'\n'})
		d.n++
	}
	d.h.Write(b)
	d.n += int64(len(b))
}

func (d *entryDigest) sum() ([32]byte, int64) {
	var s [32]byte
	d.h.Sum(s[:0])
	return s, d.n
}
