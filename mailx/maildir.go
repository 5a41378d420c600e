package mailx

import (
	"bytes"
	"io"
	"math"
	"os"
	"strings"
	"sync"

	"homepost/maildir"
)

// scanMaildir lists a Maildir and reads the header of every message.
// Messages are in delivery order.
func scanMaildir(dir string) ([]*Msg, []staleName, error) { return scanMaildirExcept(dir, nil) }

// staleName is a second name of a message's file in new/, left by a
// quit that linked the file into cur/ and was stopped before it
// removed the name in new/ (see applyMaildir): the message is listed
// once, at its name in cur/, and the next quit removes this one.
type staleName struct {
	m *Msg
	e maildir.Entry
}

// dropStale takes out of entries each name in new/ whose key is also
// listed in cur/ for the same file, and returns them with the index in
// the entries left of the name in cur/ each stands beside.
func dropStale(d maildir.Dir, entries []maildir.Entry) ([]maildir.Entry, map[int]maildir.Entry) {
	inNew := map[string]int{}
	for i, e := range entries {
		if e.New {
			inNew[e.Key()] = i
		}
	}
	if len(inNew) == 0 {
		return entries, nil
	}
	drop := map[int]int{} // index in new/ → its twin's in cur/
	for i, e := range entries {
		if e.New {
			continue
		}
		j, ok := inNew[e.Key()]
		if !ok {
			continue
		}
		a, errA := os.Lstat(d.Path(entries[j]))
		b, errB := os.Lstat(d.Path(e))
		if errA == nil && errB == nil && os.SameFile(a, b) {
			drop[j] = i
			delete(inNew, e.Key())
		}
	}
	if len(drop) == 0 {
		return entries, nil
	}
	// New indexes of the names kept.
	at := make([]int, len(entries))
	out := entries[:0:0]
	for i, e := range entries {
		if _, ok := drop[i]; ok {
			continue
		}
		at[i] = len(out)
		out = append(out, e)
	}
	stale := make(map[int]maildir.Entry, len(drop))
	for j, i := range drop {
		stale[at[i]] = entries[j]
	}
	return out, stale
}

// scanMaildirExcept is scanMaildir leaving out the messages whose key
// (the name without the info part) is in known: inc uses it to find
// what arrived since the mailbox was listed. Numbers start at 1. The
// body of a message larger than the first read is not read, and its
// line count is shown as unknown.
//
// A message whose file is in both new/ and cur/ (a quit stopped
// half way through its move) is listed once, at its name in cur/; the
// name in new/ is returned as stale, for the next quit to remove.
func scanMaildirExcept(dir string, known map[string]bool) ([]*Msg, []staleName, error) {
	d := maildir.Dir(dir)
	entries, err := d.List()
	if err != nil {
		return nil, nil, err
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
	entries, twins := dropStale(d, entries)
	// One allocation for all the summaries: most of a big mailbox's
	// memory, and nothing the collector has to track one by one.
	slab := make([]Msg, len(entries))
	for i, e := range entries {
		slab[i].setListed(e)
	}
	var a arena
	n := len(entries)
	entries = nil
	readSummaries(d, slab[:n], func(_ int, b []byte) string { return a.add(b) })
	// Files that vanished (another client expunged them) are dropped.
	msgs := make([]*Msg, 0, len(slab))
	var stale []staleName
	for i := range slab {
		if m := &slab[i]; m.Size >= 0 {
			m.Num = int32(len(msgs) + 1)
			msgs = append(msgs, m)
			if e, ok := twins[i]; ok {
				stale = append(stale, staleName{m, e})
			}
		}
	}
	return msgs, stale, nil
}

// setListed makes m the message of a Maildir file just listed: new when
// it is in new/, else old, seen when its info has S, deleted (trashed)
// when it has T, and flagged when it has F.
func (m *Msg) setListed(e maildir.Entry) {
	*m = Msg{}
	m.setEntry(e)
	if e.New {
		m.flags |= fNew
		return
	}
	m.flags |= fOld
	info := e.Info()
	if strings.IndexByte(info, 'S') >= 0 {
		m.flags |= fSeen
	}
	if strings.IndexByte(info, 'T') >= 0 {
		m.flags |= fDeleted | fTrashed
	}
	if strings.IndexByte(info, 'F') >= 0 {
		m.flags |= fFlagged
	}
}

var scanners = sync.Pool{New: func() any { return new(hscan) }}

// readSummaries reads the header of each message of msgs (listed with
// setListed) in parallel and sets its size, lines and summary; add
// stores a summary's packed fields, for the message at index i. A file
// that vanished gets size -1.
//
// A file that another reader renamed since the listing (dovecot moves
// all of new/ to cur/ when a client selects the mailbox, mutt when it
// opens it) is looked up by its key in a new listing made once for all
// the files missed, and read at its new name, as the listing would have
// shown it: missed, it would be left out of the session as if removed.
// The files renamed again meanwhile are looked up in one more listing,
// while a listing finds some (a few times at most); a file that is
// nowhere (or still at the same name, not readable) is left out, and
// so is one whose file was listed and read under its other name too
// (moved from new/ to cur/ between List's reads of the two).
func readSummaries(d maildir.Dir, msgs []Msg, add func(i int, b []byte) string) {
	readSummariesOf(d, msgs, nil, add)
	var missed []int
	for i := range msgs {
		if msgs[i].Size < 0 {
			missed = append(missed, i)
		}
	}
	if len(missed) == 0 {
		return
	}
	// A file moved from new/ to cur/ while List read them can be
	// listed twice, at both names: the one read stands for it.
	read := make(map[string]bool, len(msgs)-len(missed))
	for i := range msgs {
		if msgs[i].Size >= 0 {
			read[msgs[i].entry().Key()] = true
		}
	}
	for round := 0; len(missed) > 0 && round < maxRelists; round++ {
		where, err := d.Index()
		if err != nil {
			return
		}
		moved := missed[:0]
		for _, i := range missed {
			m := &msgs[i]
			if e, ok := where[m.entry().Key()]; ok && e != m.entry() && !read[e.Key()] {
				m.setListed(e)
				m.Size = -1
				moved = append(moved, i)
			}
		}
		if len(moved) == 0 {
			return
		}
		readSummariesOf(d, msgs, moved, add)
		missed = moved[:0]
		for _, i := range moved {
			if msgs[i].Size < 0 {
				missed = append(missed, i)
			} else {
				read[msgs[i].entry().Key()] = true
			}
		}
	}
}

// maxRelists bounds the listings readSummaries makes for files renamed
// again and again while it reads.
const maxRelists = 8

// readSummariesOf reads the headers of the messages of msgs at the
// indexes idx, or of all of them when idx is nil, once.
func readSummariesOf(d maildir.Dir, msgs []Msg, idx []int, add func(i int, b []byte) string) {
	n := len(msgs)
	at := func(k int) int { return k }
	if idx != nil {
		n = len(idx)
		at = func(k int) int { return idx[k] }
	}
	d.ReadHeads(n, func(k int) maildir.Entry { return msgs[at(k)].entry() }, func(k int, data []byte, size int64) {
		i := at(k)
		m := &msgs[i]
		m.Size = size
		if size < 0 {
			return
		}
		// A file copied out of an mbox may start with its "From "
		// line: the envelope, not part of the header.
		_, n := envelopeLine(data)
		data = data[n:]
		h := scanners.Get().(*hscan)
		h.reset()
		scanHeaderBlock(data, h)
		m.sum = add(i, h.summarize(m, nil, string(d)))
		scanners.Put(h)
		m.Lines = -1
		if int64(n+len(data)) >= size {
			m.Lines = clampLines(countLines(data))
		} else if size <= maxCounted {
			m.Lines = countFileLines(d.Path(m.entry()), int64(n), data)
		}
	})
}

// maxCounted is the largest Maildir message whose lines a listing
// counts by reading it whole; a larger one (an attachment, most often)
// shows its line count as "?", so that a listing does not read every
// attachment of the mailbox. Text mail and cron output are within it,
// and showed "?" when they passed the first read (16 KB).
const maxCounted = 256 << 10

// countFileLines counts the lines of the message in the file at path
// from offset from (past an envelope line), of which head is the
// start already read: what is past head is read now. -1 when the file
// cannot be read to its end.
func countFileLines(path string, from int64, head []byte) int32 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	n := bytes.Count(head, []byte{'\n'})
	last := byte('\n')
	if len(head) > 0 {
		last = head[len(head)-1]
	}
	buf := make([]byte, 32<<10)
	off := from + int64(len(head))
	for {
		k, err := f.ReadAt(buf, off)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if k > 0 {
			last = buf[k-1]
		}
		off += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil || off > from+maxCounted {
			return -1
		}
	}
	if last != '\n' {
		n++
	}
	return clampLines(n)
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
