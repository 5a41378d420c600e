package mailx

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"homepost/maildir"
)

// An mbox is read by offset from the file the session scanned, and
// mutt, s-nail and mail itself rewrite an mbox in place: the same file
// then holds other messages at those offsets. Before a message is read
// (and before quit rewrites the mailbox) the session checks that the
// file is still the one it read, and when it is not, it reads it again
// and finds its messages in it, as mutt does when a mailbox "was
// externally modified": never another message's text.

// errGone is the error of reading an mbox message that another program
// removed.
var errGone = errors.New("removed by another program")

// fileStamp is what fstat tells of a file's contents: a rewrite in
// place changes its mtime and ctime, and nearly always its size.
type fileStamp struct {
	ino, size, mtime, ctime int64
}

// stampOf returns f's stamp; zero when it cannot be read.
func stampOf(f *os.File) fileStamp {
	st, err := f.Stat()
	if err != nil {
		return fileStamp{}
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}
	}
	return fileStamp{ino: int64(sys.Ino), size: st.Size(), mtime: sys.Mtim.Nano(), ctime: sys.Ctim.Nano()}
}

// stampAt returns f's stamp when f is size bytes long, as just
// scanned; else zero, so that the first read checks the file.
func stampAt(f *os.File, size int64) fileStamp {
	if st := stampOf(f); st.size == size {
		return st
	}
	return fileStamp{}
}

// current makes sure that the mbox messages are where the session reads
// them, m among them (nil for all): one fstat while the file's size and
// times are those last checked (a file renamed over the mbox, or its
// removal, changes the old file's ctime: one link less). When they changed, the file is checked
// under the delivery locks to begin with the bytes scanned (mail
// appended is no change: maildir.Mbox.Appended); else the mailbox is
// read again (reread). It returns errGone, wrapped, for a message no
// longer in the mailbox.
func (b *Box) current(m *Msg) error {
	if m != nil && m.Off < 0 {
		return fmt.Errorf("message %d: %w", m.Num, errGone)
	}
	if b.f == nil {
		return errors.New("mailbox is closed")
	}
	if b.held {
		// Checked under the locks this mail holds: see Box.held.
		return nil
	}
	if now := stampOf(b.f); now != b.stamp || now == (fileStamp{}) {
		n, err := maildir.Mbox(b.Path).Appended(b.f, b.read)
		switch {
		case err == nil && n > 0:
			// Checked under the locks: only mail appended.
			b.stamp = now
		case err == nil || errors.Is(err, maildir.ErrChanged) || errors.Is(err, os.ErrNotExist):
			// Changed, removed, or not checked: Appended does not
			// read a file of the size scanned, and its times
			// changed.
			if err := b.reread(); err != nil {
				return fmt.Errorf("%s: %w", b.Path, err)
			}
		default:
			return fmt.Errorf("%s: %w", b.Path, err)
		}
	}
	if m != nil && m.Off < 0 {
		return fmt.Errorf("message %d: %w", m.Num, errGone)
	}
	return nil
}

// reread scans the mbox again and moves the session onto the new scan:
// each message of the session is the first message of the file not yet
// taken with the same signature (mboxSig: its "From " line and header
// less Status and the like); it keeps its number and the session's
// flags, takes the Status another reader gave it (read there is read
// here), and is read from its new offset. A message no longer there is
// deleted (reading it after an undelete says it was removed), so that
// quit neither moves nor holds it; one that is new to the session is
// added after the last, as inc adds it. When anything moved, it says
// so once. An mbox another program removed (s-nail removes one it
// emptied) has no messages left, and quit does not make it again.
func (b *Box) reread() error {
	f, msgs, sigs, read, err := openMbox(b.Path)
	removed := errors.Is(err, os.ErrNotExist)
	if err != nil && !removed {
		return err
	}
	taken := make(map[uint64][]int, len(msgs))
	for j := len(msgs) - 1; j >= 0; j-- {
		taken[sigs[j]] = append(taken[sigs[j]], j)
	}
	used := make([]bool, len(msgs))
	moved := 0
	var gone []string
	for i, m := range b.Msgs {
		if m.Off < 0 {
			continue
		}
		var q []int
		if i < len(b.sigs) {
			q = taken[b.sigs[i]]
		}
		if len(q) == 0 {
			m.Off = -1
			m.flags |= fDeleted
			gone = append(gone, strconv.Itoa(int(m.Num)))
			continue
		}
		j := q[len(q)-1]
		taken[b.sigs[i]] = q[:len(q)-1]
		used[j] = true
		n := msgs[j]
		if n.Off != m.Off || n.Size != m.Size {
			moved++
		}
		m.Off = n.Off
		if !m.has(fEdited) {
			m.Size, m.Lines, m.sum = n.Size, n.Lines, n.sum
		}
		if o := n.flags; o&fNew == 0 {
			m.flags = m.flags&^fNew | o&(fOld|fSeen)
		}
	}
	added := 0
	for j, n := range msgs {
		if used[j] {
			continue
		}
		n.Num = int32(len(b.Msgs) + 1)
		b.Msgs = append(b.Msgs, n)
		b.sigs = append(b.sigs, sigs[j])
		added++
	}
	// A stream opened on the old file may still be read.
	b.old = append(b.old, b.f)
	b.f, b.read = f, read
	b.stamp = fileStamp{}
	if f != nil {
		b.stamp = stampAt(f, read.Size)
	}
	if moved+len(gone)+added > 0 || removed {
		w := b.errw
		if w == nil {
			w = os.Stderr
		}
		var what []string
		if len(gone) > 0 {
			n := len(gone)
			if n > 10 {
				gone = append(gone[:10], "…")
			}
			what = append(what, fmt.Sprintf("%s %s removed there, deleted here", plural(n, "message"), strings.Join(gone, ", ")))
		}
		if added > 0 {
			what = append(what, fmt.Sprintf("%d new %s added after the last", added, plural(added, "message")))
		}
		if moved > 0 && len(what) == 0 {
			what = append(what, "the messages are read where they are now")
		}
		how := "was changed by another program and read again"
		if removed {
			how = "was removed by another program"
		}
		if len(what) > 0 {
			how += ": " + strings.Join(what, "; ")
		}
		fmt.Fprintf(w, "homepost: mail: %s %s\n", b.Path, how)
	}
	return nil
}
