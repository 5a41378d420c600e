package mailx

import (
	"bytes"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"homepost/maildir"
)

// scanMaildir lists a Maildir and reads the header of every message.
// Messages are in delivery order.
func scanMaildir(dir string) ([]*Msg, error) { return scanMaildirExcept(dir, nil) }

// scanMaildirExcept is scanMaildir leaving out the messages whose key
// (the name without the info part) is in known: inc uses it to find
// what arrived since the mailbox was listed. Numbers start at 1. The
// body of a message larger than the first read is not read, and its
// line count is shown as unknown.
func scanMaildirExcept(dir string, known map[string]bool) ([]*Msg, error) {
	d := maildir.Dir(dir)
	entries, err := d.List()
	if err != nil {
		return nil, err
	}
	if known != nil {
		out := entries[:0]
		for _, e := range entries {
			if !known[e.Key()] {
				out = append(out, e)
			}
		}
		entries = out
	}
	// One allocation for all the summaries: most of a big mailbox's
	// memory, and nothing the collector has to track one by one.
	slab := make([]Msg, len(entries))
	for i, e := range entries {
		m := &slab[i]
		m.setEntry(e)
		if e.New {
			m.flags |= fNew
		} else {
			m.flags |= fOld
			if strings.IndexByte(e.Info(), 'S') >= 0 {
				m.flags |= fSeen
			}
		}
	}
	var a arena
	scanners := sync.Pool{New: func() any { return new(hscan) }}
	n := len(entries)
	entries = nil
	d.ReadHeads(n, func(i int) maildir.Entry { return slab[i].entry() }, func(i int, data []byte, size int64) {
		m := &slab[i]
		m.Size = size
		if size < 0 {
			return
		}
		h := scanners.Get().(*hscan)
		h.reset()
		scanHeaderBlock(data, h)
		// A message without a Date field is dated by its file: when
		// it arrived.
		mtime := func() (time.Time, bool) {
			st, err := os.Stat(d.Path(m.entry()))
			if err != nil {
				return time.Time{}, false
			}
			return st.ModTime(), true
		}
		h.summarize(m, nil, mtime, a.add)
		scanners.Put(h)
		m.Lines = -1
		if int64(len(data)) >= size {
			m.Lines = clampLines(countLines(data))
		}
	})
	// Files that vanished (another client expunged them) are dropped.
	msgs := make([]*Msg, 0, len(slab))
	for i := range slab {
		if m := &slab[i]; m.Size >= 0 {
			m.Num = int32(len(msgs) + 1)
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// clampLines is a line count as a summary holds it.
func clampLines(n int) int32 { return int32(min(n, math.MaxInt32)) }
