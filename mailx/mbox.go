package mailx

import (
	"io"
	"os"

	"homepost/maildir"
)

// scanMbox reads an mbox (see maildir.ScanMbox) and returns its messages
// with the header fields the summary shows.
func scanMbox(r io.Reader) ([]*Msg, int64, error) {
	var msgs []*Msg
	size, err := maildir.ScanMbox(r, mboxCollector(&msgs))
	if err != nil {
		return nil, 0, err
	}
	return msgs, size, nil
}

// mboxCollector returns a maildir.ScanFunc that appends each message to
// *msgs, numbered from 1, with its flags from its Status field. The
// summaries are allocated a block at a time and their fields share an
// arena.
func mboxCollector(msgs *[]*Msg) maildir.ScanFunc {
	var (
		a    arena
		h    hscan
		slab []Msg
	)
	return func(e *maildir.MboxMessage, header []byte) {
		if len(slab) == 0 {
			slab = make([]Msg, 1024)
		}
		m := &slab[0]
		slab = slab[1:]
		m.Num = int32(len(*msgs) + 1)
		m.Off, m.Size, m.Lines = e.Off, e.Len, int32(min(e.Lines, 1<<31-1))
		h.reset()
		scanHeaderBlock(header, &h)
		m.sum = a.add(h.summarize(m, e.FromLine, ""))
		m.flags |= mboxFlags(m.status())
		*msgs = append(*msgs, m)
	}
}

// openMbox opens and scans an mbox under the delivery locks (see
// maildir.Mbox.Open); the file stays open for reading bodies by offset.
func openMbox(path string) (*os.File, []*Msg, maildir.Scanned, error) {
	var msgs []*Msg
	f, size, err := maildir.Mbox(path).Open(mboxCollector(&msgs))
	if err != nil {
		return nil, nil, maildir.Scanned{}, err
	}
	return f, msgs, size, nil
}

// mboxFlags maps a Status header to session flags: no Status is new, "O"
// is old but unread, "R" is read.
func mboxFlags(status string) flag {
	var f flag
	hasO, hasR := false, false
	for i := 0; i < len(status); i++ {
		switch status[i] {
		case 'O':
			hasO = true
		case 'R':
			hasR = true
		}
	}
	if hasR {
		f |= fSeen | fOld
	} else if hasO {
		f |= fOld
	} else {
		f |= fNew
	}
	return f
}
