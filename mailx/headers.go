package mailx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"

	"homepost/maildir"
)

// listHeaders is mail -H: it writes the header summary of a mailbox and
// keeps no list, so that listing a mailbox of any size holds little
// more than its file names. A Maildir's lines are written as its files
// are read, a few thousand at a time; an mbox's are collected as text
// while it is scanned under the delivery locks, and written once they
// are released, so that a slow reader of the output never holds up a
// delivery. The current message is marked as read mode marks it (see
// setDot). The exit status and messages are read mode's.
func (e *env) listHeaders(kind, path string, system bool) int {
	// What -H keeps is text and names, which the collector need not
	// scan: running it more often costs little and keeps the heap
	// close to them.
	debug.SetGCPercent(10)
	width := (&session{env: e}).width()
	var n int
	var err error
	if kind == "maildir" {
		n, err = maildirHeaders(e.out, path, width)
	} else {
		n, err = mboxHeaders(e.out, path, width)
		if errors.Is(err, os.ErrNotExist) && system {
			n, err = 0, nil
		}
	}
	if err != nil {
		e.warn("%v", mailboxError(err))
		if errors.Is(err, os.ErrNotExist) {
			return exNoInput
		}
		return exIOErr
	}
	if n == 0 {
		e.out.Flush()
		if system {
			fmt.Fprintf(e.errw, "No mail for %s\n", e.cfg.User)
		}
		// An empty folder (-f) has no mail either: s-nail says
		// nothing and exits 1.
		return 1
	}
	return exOK
}

// maildirHeaders writes the summary lines of a Maildir, reading its
// files a batch at a time, and returns how many it wrote. The current
// message is known from the names alone: the first in new/, else the
// first without the S flag, else the first. (Should another client
// remove that very file between the listing and its read, no line is
// marked: the lines before it are already written.)
func maildirHeaders(w io.Writer, dir string, width int) (int, error) {
	d := maildir.Dir(dir)
	entries, err := d.List()
	if err != nil {
		return 0, err
	}
	// A file under two names (a quit stopped half way through its
	// move to cur/) is listed once, as in a session.
	entries, _ = dropStale(d, entries)
	// A message another reader trashed (T) is deleted: not listed,
	// though it keeps its number, as in a session.
	trashed := func(e maildir.Entry) bool { return strings.Contains(e.Info(), "T") }
	dot := slices.IndexFunc(entries, func(e maildir.Entry) bool { return e.New && !trashed(e) })
	if dot < 0 {
		dot = slices.IndexFunc(entries, func(e maildir.Entry) bool { return !strings.Contains(e.Info(), "S") && !trashed(e) })
	}
	const batch = 4096
	msgs := make([]Msg, min(batch, len(entries)))
	sums := make([][]byte, len(msgs))
	ptrs := make([]*Msg, 0, len(msgs))
	n, shown := 0, 0
	for lo := 0; lo < len(entries); lo += batch {
		part := msgs[:min(batch, len(entries)-lo)]
		for i := range part {
			part[i].setListed(entries[lo+i])
		}
		readSummaries(d, part, func(i int, b []byte) string {
			sums[i] = append(sums[i][:0], b...)
			return view(sums[i])
		})
		// Files that vanished (another client expunged them) are
		// left out, and the numbers run on.
		ptrs = ptrs[:0]
		cur := -1
		for i := range part {
			if m := &part[i]; m.Size >= 0 {
				n++
				m.Num = int32(n)
				if m.has(fTrashed) {
					continue
				}
				shown++
				if lo+i == dot {
					cur = len(ptrs)
				}
				ptrs = append(ptrs, m)
			}
		}
		if dot < 0 && len(ptrs) > 0 {
			// The first message, when nothing is new or unread.
			dot, cur = lo, 0
		}
		writeSummary(w, ptrs, cur, width)
	}
	return shown, nil
}

// mboxHeaders writes the summary lines of an mbox and returns how many
// it wrote. The lines are collected in blocks while the mbox is scanned;
// the current message is the first without a Status field, else the
// first unread, else the first, so its line is marked once the scan
// has found it.
func mboxHeaders(w io.Writer, path string, width int) (int, error) {
	var (
		out         blocks
		m           Msg
		h           hscan
		line        []byte
		n           int
		dot         = -1
		firstUnread = -1
		unreadAt    [2]int
	)
	f, _, err := maildir.Mbox(path).Open(func(e *maildir.MboxMessage, header []byte) {
		m = Msg{Num: int32(n + 1), Off: e.Off, Size: e.Len, Lines: int32(min(e.Lines, 1<<31-1))}
		h.reset()
		scanHeaderBlock(header, &h)
		// The packed summary stays in h's buffer until the next
		// message: long enough to format the line.
		m.sum = view(h.summarize(&m, e.FromLine, ""))
		m.flags |= mboxFlags(m.status())
		current := false
		if dot < 0 && m.has(fNew) {
			dot, current = n, true
		}
		line = appendHeaderLine(line[:0], &m, current, width)
		line = append(line, '\n')
		at := out.write(line)
		if firstUnread < 0 && m.unread() {
			firstUnread, unreadAt = n, at
		}
		n++
	})
	if err != nil {
		return 0, err
	}
	f.Close()
	if dot < 0 && n > 0 {
		if firstUnread >= 0 {
			out.set(unreadAt, '>')
		} else {
			out.set([2]int{0, 0}, '>')
		}
	}
	out.writeTo(w)
	return n, nil
}

// blocks is text collected in blocks of 64 KiB, so that growing it never
// copies what it holds.
type blocks struct{ b [][]byte }

// write appends p, whole, to one block, and returns where it starts.
func (o *blocks) write(p []byte) [2]int {
	if len(o.b) == 0 || cap(o.b[len(o.b)-1])-len(o.b[len(o.b)-1]) < len(p) {
		o.b = append(o.b, make([]byte, 0, max(64<<10, len(p))))
	}
	last := len(o.b) - 1
	at := [2]int{last, len(o.b[last])}
	o.b[last] = append(o.b[last], p...)
	return at
}

// set replaces the byte at p, the start of a line written.
func (o *blocks) set(p [2]int, c byte) {
	if p[0] < len(o.b) && p[1] < len(o.b[p[0]]) {
		o.b[p[0]][p[1]] = c
	}
}

func (o *blocks) writeTo(w io.Writer) {
	for _, b := range o.b {
		w.Write(b)
	}
}
