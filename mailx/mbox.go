package mailx

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"io"
	"os"

	"homepost/maildir"
)

// scanMbox reads an mbox (see maildir.ScanMbox) and returns its messages
// with the header fields the summary shows.
func scanMbox(r io.Reader) ([]*Msg, int64, error) {
	var msgs []*Msg
	size, err := maildir.ScanMbox(r, mboxCollector(&msgs, nil))
	if err != nil {
		return nil, 0, err
	}
	return msgs, size, nil
}

// mboxCollector returns a maildir.ScanFunc that appends each message to
// *msgs, numbered from 1, with its flags from its Status field, and,
// when sigs is not nil, its signature (mboxSig) to *sigs. The summaries
// are allocated a block at a time and their fields share an arena.
func mboxCollector(msgs *[]*Msg, sigs *[]uint64) maildir.ScanFunc {
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
		if sigs != nil {
			*sigs = append(*sigs, mboxSig(e.FromLine, header))
		}
	}
}

// sigSeed seeds the signatures of mbox messages for this process.
var sigSeed = maphash.MakeSeed()

// mboxSig is what identifies a message of an mbox when another program
// rewrote the file: its "From " line and its header, less the fields
// that mbox readers rewrite (maildir.RewrittenField). The first 64 KiB
// of the header count. Two copies of one message have the same
// signature, and are told apart by their order.
func mboxSig(fromLine, header []byte) uint64 {
	// Each line hashed on its own and the hashes chained: a line
	// left out changes nothing else, and maphash.Bytes over a whole
	// line runs at memory speed, where a streaming hash fed line by
	// line doubled the time to open an mbox.
	sig := maphash.Bytes(sigSeed, fromLine)
	sigLines(header, func(l []byte) { sig = (sig ^ maphash.Bytes(sigSeed, l)) * 0x100000001b3 })
	return sig
}

// sigLines calls fn with each line of the first 64 KB of header that a
// signature covers: all but the fields mbox readers rewrite
// (maildir.RewrittenField), with their continuation lines.
func sigLines(header []byte, fn func(line []byte)) {
	header = header[:min(len(header), 64<<10)]
	skip := false
	for len(header) > 0 {
		i := bytes.IndexByte(header, '\n')
		l := header
		if i >= 0 {
			l = header[:i+1]
		}
		header = header[len(l):]
		if l[0] != ' ' && l[0] != '\t' {
			skip = maildir.RewrittenField(l)
		}
		if !skip {
			fn(l)
		}
	}
}

// moveSig is mboxSig as a note of a move keeps it (see finishMove): a
// SHA-256, the same in every process, over the same lines.
func moveSig(fromLine, header []byte) string {
	h := sha256.New()
	h.Write(fromLine)
	h.Write([]byte{'\n'})
	sigLines(header, func(l []byte) { h.Write(l) })
	return hex.EncodeToString(h.Sum(nil))
}

// openMbox opens and scans an mbox under the delivery locks (see
// maildir.Mbox.Open); the file stays open for reading bodies by offset.
// It returns each message's signature (mboxSig) too.
func openMbox(path string) (*os.File, []*Msg, []uint64, maildir.Scanned, error) {
	var msgs []*Msg
	var sigs []uint64
	f, size, err := maildir.Mbox(path).Open(mboxCollector(&msgs, &sigs))
	if err != nil {
		return nil, nil, nil, maildir.Scanned{}, err
	}
	return f, msgs, sigs, size, nil
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
