package mailx

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"homepost/maildir"
	"homepost/safeio"
)

// Appending to an mbox by record, as the agent appends its deliveries
// (see maildir.Mark).
//
// An append to an mbox (quit's move to MBOX, save, copy, the record of
// sent mail) cannot be made atomic: mail killed, or the machine losing
// power, in the middle of one leaves the first part of the copy at the
// end of the file, where every reader shows it as a message, cut off
// (and the whole message is still in the mailbox it came from). So
// before the first byte of a copy is written, mail records durably, in
// a note in the state directory, which file it appends to (path,
// file system id and inode: maildir.FileID, which a new mount keeps),
// where the copy starts and what it will be
// (maildir.Mark: offset, length, SHA-256), and removes the note once
// the copies are fsynced. A note found later (at the next start of
// mail, or before the next append to that file) was left by a crash:
// under the mbox's locks, while the file is still the one appended to,
// maildir's Resolve cuts off a copy it finds cut off at the end of the
// file, and leaves alone a whole copy and anything another program
// wrote there since.
//
// The messages of one command (a move of many at quit, "save 1-50")
// are appended under one lock and share one note: its first line names
// the file, and each copy adds the line of its mark, fsynced before the
// copy is written. Each copy is fsynced before the next mark is added,
// so only the last mark can name a cut-off copy: every copy before it
// is whole. A last line without its newline is a mark whose write a
// crash cut short, before its copy began.

// A note of quit's move to MBOX names, in its first line, the mailbox
// the messages come from too ("from": its kind and absolute path), and
// each mark the message it copies ("src": the signature of an mbox
// message, moveSig, with "dups", how many messages of that mailbox had
// it then; the unique name of a Maildir message). After the last copy
// is fsynced a line {"last":"whole"} says so, and the note stays until
// the messages are removed from the mailbox (its rewrite done, or the
// Maildir's files unlinked). A mail killed in between leaves it: the
// next mail to start completes the move (finishMove) by removing from
// the mailbox, under its locks, each message whose copy is whole in
// MBOX and that it still holds, so that a message ends once in MBOX,
// never in both; one whose copy a kill cut off stays in the mailbox,
// the copy cut back. The whole copy stays where it is: MBOX may have
// been appended to since, by mutt or s-nail, and a removal there would
// have to find it again; the message in the mailbox is found by its
// signature, which a reader's Status field does not change. The verdict
// on the last copy ({"last":"whole"} or {"last":"cut"}) is written to
// the note by the mail that resolves it, while it holds MBOX's locks:
// once the copy is cut back, or MBOX grows, the copy no longer tells.
// A copy that is not found whole where its mark says (cut off, or MBOX
// rewritten by another program since) is not taken for whole: its
// message stays in the mailbox. Notes of a mail still running are left
// to it.

// noteDir is the directory of the notes under the state directory.
const noteDir = "mail-appends"

// noteHead is the first line of a note: the file appended to.
type noteHead struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	// From is the mailbox of quit's move; nil for other appends.
	From *noteSource `json:"from,omitempty"`
}

// noteSource is the mailbox a move takes its messages from.
type noteSource struct {
	Kind string `json:"kind"` // "mbox" or "maildir"
	Path string `json:"path"` // absolute
}

// noteMark is a line of a note after the first: one copy's mark.
type noteMark struct {
	Sender string    `json:"sender"`
	Off    int64     `json:"off"`
	Len    int64     `json:"len"`
	Sum    string    `json:"sha256"`
	Time   time.Time `json:"time"`
	// Src and Dups name the message moved (see above).
	Src  string `json:"src,omitempty"`
	Dups int    `json:"dups,omitempty"`
	// Last, on a line of its own, is the verdict on the last copy:
	// "whole" or "cut".
	Last string `json:"last,omitempty"`
}

// appendNote is what a note says: the file, and the last copy's mark.
type appendNote struct {
	noteHead
	noteMark
	name  string     // the note's file
	marks []noteMark // every mark, in order
	last  string     // the verdict on the last copy, "" when none
}

// parseNote reads a note (see above), and returns it with its last
// mark; name is for errors.
func parseNote(name string, b []byte) (*appendNote, maildir.Mark, error) {
	n := appendNote{name: name}
	lines := strings.SplitAfter(string(b), "\n")
	marks := 0
	for i, line := range lines {
		if !strings.HasSuffix(line, "\n") {
			break // torn, or the empty string after the last newline
		}
		var err error
		if i == 0 {
			err = json.Unmarshal([]byte(line), &n.noteHead)
			if err == nil && n.Path == "" {
				err = errors.New("no path")
			}
		} else {
			var m noteMark
			if err = json.Unmarshal([]byte(line), &m); err == nil {
				if m.Last != "" {
					if marks > 0 {
						n.last = m.Last
					}
					continue
				}
				n.noteMark = m
				n.marks = append(n.marks, m)
				n.last = ""
				marks++
			}
		}
		if err != nil {
			return nil, maildir.Mark{}, fmt.Errorf("%s:%d: not a record of an append (%v)", name, i+1, err)
		}
	}
	if marks == 0 {
		return nil, maildir.Mark{}, fmt.Errorf("%s:1: not a record of an append (no mark)", name)
	}
	m := maildir.Mark{Off: n.Off, Len: n.Len, Time: n.Time}
	sum, err := hex.DecodeString(n.Sum)
	if err != nil || len(sum) != len(m.Sum) {
		return nil, m, fmt.Errorf("%s:%d: not a record of an append (bad sha256 %q)", name, marks+1, n.Sum)
	}
	copy(m.Sum[:], sum)
	return &n, m, nil
}

// notes returns the directory of the notes, "" when there is no state
// directory to keep them in.
func (e *env) notes() string {
	if e.cfg == nil || e.cfg.StateDir == "" {
		return ""
	}
	return filepath.Join(e.cfg.StateDir, noteDir)
}

// noteSeq numbers the notes of this process.
var noteSeq atomic.Int64

// fileID returns what identifies an open file across mounts (see
// maildir.FileID).
func fileID(f *os.File) (dev, ino uint64, err error) {
	return maildir.FileID(f)
}

// appender appends messages to one mbox under its locks, held from
// openAppender to close, each copy recorded in the note (see above).
type appender struct {
	path     string // as given, for messages
	abs      string // absolute, for the note
	l        *maildir.Locked
	dir      string // the notes; "" when there is no state directory
	dev, ino uint64
	note     *os.File // the note, once the first mark is in it
	name     string
	// from is the mailbox of quit's move, src and dups the message
	// the next append copies (see noteMark): the note is then kept
	// at close, for the caller to remove once the messages are gone
	// from the mailbox.
	from *noteSource
	src  string
	dups int
	// broken: an append failed and the file may not have been cut
	// back durably, or a mark was not written whole: the note stays
	// for the next start, and nothing more is appended.
	broken error
}

// openAppender locks the mbox at path for appends. A copy that another
// mail, killed, left cut off at its end is cut back first.
func (e *env) openAppender(path string) (*appender, error) {
	l, err := maildir.Mbox(path).Lock()
	if err != nil {
		return nil, err
	}
	a := &appender{path: path, l: l, dir: e.notes()}
	if a.dir == "" {
		return a, nil
	}
	// The note names the file absolutely: the mail that resolves it
	// may run in another directory.
	if a.abs, err = filepath.Abs(path); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("mbox: %w", err)
	}
	if a.dev, a.ino, err = fileID(l.F); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("mbox: %w", err)
	}
	e.resolveNotes(a.dir, false, func(n *appendNote) (*maildir.Locked, func(), bool) {
		if n.Dev == a.dev && n.Ino == a.ino {
			return l, func() {}, false
		}
		return nil, nil, true // another file's: left for the next start
	})
	return a, nil
}

// append appends one message: a "From " line with sender and t, the
// header, the body (see maildir.Locked.AppendMarked). body is called
// twice: once to measure the copy, once to write it; both must return
// the same bytes.
func (a *appender) append(sender string, t time.Time, header []byte, body func() io.Reader) error {
	if a.broken != nil {
		return a.broken
	}
	if a.dir == "" {
		return a.l.Append(sender, t, header, body())
	}
	var off int64
	marked := false
	err := a.l.AppendMarked(sender, t, header, body, func(m maildir.Mark) error {
		off = m.Off
		if err := a.mark(sender, m); err != nil {
			return err
		}
		marked = true
		return nil
	})
	if err != nil && marked {
		// The file was cut back, but not durably, unless it is
		// synced here: else the note stays, for the next start.
		if st, serr := a.l.F.Stat(); serr != nil || a.l.F.Sync() != nil || st.Size() != off {
			a.broken = err
		}
	}
	return err
}

// mark adds a copy's mark to the note, durably: the note is made (a
// temporary file fsynced, renamed into place, the directory fsynced)
// with the first mark, and each later mark is appended and fsynced.
func (a *appender) mark(sender string, m maildir.Mark) error {
	line, err := json.Marshal(noteMark{Sender: sender, Off: m.Off, Len: m.Len, Sum: hex.EncodeToString(m.Sum[:]), Time: m.Time, Src: a.src, Dups: a.dups})
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if a.note != nil {
		if _, err := a.note.Write(line); err != nil {
			a.broken = fmt.Errorf("record the append to %s: %w", a.path, err)
			return a.broken
		}
		if err := unix.Fdatasync(int(a.note.Fd())); err != nil {
			a.broken = fmt.Errorf("record the append to %s: sync %s: %w", a.path, a.name, err)
			return a.broken
		}
		return nil
	}
	head, err := json.Marshal(noteHead{Path: a.abs, Dev: a.dev, Ino: a.ino, From: a.from})
	if err != nil {
		return err
	}
	if err := safeio.MkdirAll(a.dir, 0o700); err != nil {
		return fmt.Errorf("record the append to %s: %w", a.path, err)
	}
	name := filepath.Join(a.dir, fmt.Sprintf("%d.%d.%d", time.Now().UnixNano(), os.Getpid(), noteSeq.Add(1)))
	f, err := os.CreateTemp(a.dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("record the append to %s: %w", a.path, err)
	}
	_, err = f.Write(append(append(head, '\n'), line...))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = safeio.Rename(f.Name(), name)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("record the append to %s: %w", a.path, err)
	}
	a.note, a.name = f, name
	if err := safeio.SyncDir(a.dir); err != nil {
		a.broken = fmt.Errorf("record the append to %s: %w", a.path, err)
		return a.broken
	}
	return nil
}

// close removes the note (every copy is fsynced, or none was made) and
// releases the locks. The removal need not be durable: a note that a
// power loss brings back finds the last copy whole. The note of a move
// is kept (see above): it returns its name, "" when there is none.
func (a *appender) close() (string, error) {
	kept := ""
	if a.note != nil {
		a.note.Close()
		switch {
		case a.from != nil:
			kept = a.name
		case a.broken == nil:
			os.Remove(a.name)
		}
	}
	return kept, a.l.Unlock()
}

// whole says in the note of a move that its last copy is fsynced and
// whole (see above).
func (a *appender) whole() error {
	if a.note == nil || a.broken != nil {
		return a.broken
	}
	return appendVerdict(a.note, "whole")
}

// appendVerdict adds the verdict on the last copy to the note open in
// f (for appends), durably.
func appendVerdict(f *os.File, last string) error {
	line, err := json.Marshal(noteMark{Last: last})
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("record the move in %s: %w", f.Name(), err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("record the move in %s: sync: %w", f.Name(), err)
	}
	return nil
}

// appendMbox appends one message to the mbox at path (see appender).
func (e *env) appendMbox(path, sender string, t time.Time, header []byte, body func() io.Reader) error {
	a, err := e.openAppender(path)
	if err != nil {
		return err
	}
	err = a.append(sender, t, header, body)
	if _, cerr := a.close(); err == nil {
		err = cerr
	}
	return err
}

// recoverAppends resolves the notes that mail processes killed while
// appending left behind (see above), once at the start of mail.
func (e *env) recoverAppends() {
	dir := e.notes()
	if dir == "" {
		return
	}
	e.resolveNotes(dir, true, func(n *appendNote) (*maildir.Locked, func(), bool) {
		_, err := os.Stat(n.Path)
		if errors.Is(err, os.ErrNotExist) {
			// Removed or renamed since, or (a note of an earlier
			// version) a relative path: a cut-off copy may be
			// wherever the file is now. Kept, and said.
			e.warn("%s: not found: an earlier mail was stopped while appending a message there at byte %d, and a partial copy may remain at that place in the file wherever it is now; once it is checked, remove %s", n.Path, n.Off, n.name)
			return nil, nil, true
		}
		if err != nil {
			e.warn("%s: %v: a copy that an earlier mail was appending there when it was stopped may remain cut off at its end; it is checked again when mail next starts", n.Path, err)
			return nil, nil, true
		}
		if dev, ino, err := maildir.PathID(n.Path); err != nil || dev != n.Dev || ino != n.Ino {
			return nil, nil, false // replaced since (rewritten): the copy went with the old file
		}
		l, err := maildir.Mbox(n.Path).Lock()
		if err != nil {
			e.warn("%v: a copy that an earlier mail was appending to %s when it was stopped may remain cut off at its end; it is checked again when mail next starts", err, n.Path)
			return nil, nil, true
		}
		if dev, ino, err := fileID(l.F); err != nil || dev != n.Dev || ino != n.Ino {
			l.Unlock()
			return nil, nil, false
		}
		return l, func() { l.Unlock() }, false
	})
}

// resolveNotes reads each note in dir and asks pick for the mbox it
// names, locked, with the function that releases it: none when the
// note is to be left for later (keep) or is obsolete (the file is gone
// or was replaced: the note is removed). A note whose mbox pick locked
// is resolved against it (a copy cut off at its end is cut back) and
// removed. The notes of appends still in progress are not touched:
// their writer holds the mbox's locks until it has removed its note, so
// a note still there once pick got the locks is a crash's. Notes
// written by this process are left alone.
//
// The note of a move (see above) gets its verdict on the last copy
// under the locks, and is kept; with finish, the move is then completed
// (settleMove), without MBOX's locks, and the note removed.
func (e *env) resolveNotes(dir string, finish bool, pick func(*appendNote) (l *maildir.Locked, release func(), keep bool)) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			e.warn("%s: %v", dir, err)
		}
		return
	}
	self := "." + strconv.Itoa(os.Getpid()) + "."
	for _, ent := range ents {
		name := filepath.Join(dir, ent.Name())
		if strings.HasPrefix(ent.Name(), ".") {
			removeStaleTemp(name)
			continue
		}
		if strings.Contains(ent.Name(), self) {
			continue
		}
		b, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // resolved meanwhile
		}
		var n *appendNote
		if err == nil {
			n, _, err = parseNote(name, b)
		}
		if err != nil {
			e.warn("%v: left alone; remove it once the mbox it names is checked", err)
			continue
		}
		if n.From != nil && writerAlive(ent.Name()) {
			continue
		}
		l, release, keep := pick(n)
		if keep {
			continue
		}
		if l != nil {
			e.resolveNote(name, l)
			release()
		} else if n.From == nil {
			os.Remove(name)
		}
		if n.From != nil && finish {
			e.settleMove(name)
		}
	}
}

// writerAlive reports whether the mail that wrote the note of that name
// ("TIME.PID.SEQ") still runs.
func writerAlive(name string) bool {
	f := strings.Split(name, ".")
	if len(f) != 3 {
		return false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return syscall.Kill(pid, 0) != syscall.ESRCH
}

// resolveNote resolves the note at name against the locked mbox l it
// names (see resolveNotes). The note is read again under the locks: its
// writer may have added marks until it was killed.
func (e *env) resolveNote(name string, l *maildir.Locked) {
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return // its writer finished and removed it while we waited for the locks
	}
	var n *appendNote
	var m maildir.Mark
	if err == nil {
		n, m, err = parseNote(name, b)
	}
	if err != nil {
		e.warn("%v: left alone; remove it once the mbox it names is checked", err)
		return
	}
	if n.From != nil && n.last != "" {
		return // resolved: the verdict is in the note
	}
	state, err := l.Resolve(m, n.Sender)
	if err == nil && n.From != nil {
		verdict := "cut"
		if state == maildir.Whole {
			verdict = "whole"
		}
		err = addVerdict(name, b, verdict)
	}
	if err != nil {
		e.warn("%v: a copy that an earlier mail was appending when it was stopped may remain cut off at the end of %s; it is checked again when mail next starts", err, n.Path)
		return
	}
	switch state {
	case maildir.Cut:
		e.warn("%s: cut off at byte %d a partial copy of a message that an earlier mail was appending when it was stopped (the message is still where it was saved or moved from)", n.Path, n.Off)
	case maildir.Foreign:
		if st, err := l.F.Stat(); err == nil && st.Size() > n.Off {
			e.warn("%s: an earlier mail was stopped while appending a message at byte %d, and the file was changed since: a partial copy may remain there", n.Path, n.Off)
		}
	}
	if n.From == nil {
		os.Remove(name)
	}
}

// addVerdict adds the verdict on the last copy to the note at name,
// whose contents are b: a last line a crash cut short is dropped first
// (a mark whose copy never began).
func addVerdict(name string, b []byte, verdict string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	end := int64(strings.LastIndexByte(string(b), '\n') + 1)
	if end != int64(len(b)) {
		if err := f.Truncate(end); err != nil {
			return err
		}
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return err
	}
	return appendVerdict(f, verdict)
}

// settleMove completes the move that the note at name records (see
// above): each message whose copy is whole is removed from the mailbox
// it came from, if it is still there; then the note is removed. On an
// error the note stays, for the next start.
func (e *env) settleMove(name string) {
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var n *appendNote
	if err == nil {
		n, _, err = parseNote(name, b)
	}
	if err != nil {
		e.warn("%v: left alone; remove it once the mbox it names is checked", err)
		return
	}
	whole := n.marks
	if n.last != "whole" {
		whole = whole[:len(whole)-1]
	}
	removed, err := finishMove(n.From, whole)
	if err != nil {
		e.warn("%s: %v: the messages that an earlier mail, stopped, moved to %s are still there too; this is tried again when mail next starts", n.From.Path, err, n.Path)
		return
	}
	if removed > 0 {
		e.warn("%s: removed %d %s that an earlier mail, stopped, had moved to %s", n.From.Path, removed, plural(removed, "message"), n.Path)
	}
	os.Remove(name)
}

// finishMove removes from the mailbox src each message named by a mark
// of marks that it still holds, and returns how many it removed. An mbox
// message is found by its signature; when the mailbox holds more with
// the same signature than it held less the moved ones (the mark's
// Dups), the first are removed. The mbox is rewritten in place under
// its locks (maildir.Mbox.Rewrite), the other messages as they are;
// when another program rewrote it between the scan and the rewrite, it
// is read again.
func finishMove(src *noteSource, marks []noteMark) (int, error) {
	want := map[string]int{}
	dups := map[string]int{}
	for _, m := range marks {
		if m.Src != "" {
			want[m.Src]++
			dups[m.Src] = max(dups[m.Src], m.Dups)
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	if src.Kind == "maildir" {
		d := maildir.Dir(src.Path)
		ents, err := d.List()
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		removed := 0
		for _, ent := range ents {
			if want[ent.Key()] == 0 {
				continue
			}
			if err := d.Remove(ent); err != nil && !errors.Is(err, os.ErrNotExist) {
				return removed, err
			}
			removed++
		}
		if removed > 0 {
			return removed, d.SyncDirs()
		}
		return 0, nil
	}
	type msg struct {
		off, n int64
		sig    string
	}
	for range 3 {
		var list []msg
		f, read, err := maildir.Mbox(src.Path).Open(func(m *maildir.MboxMessage, header []byte) {
			list = append(list, msg{m.Off, m.Len, moveSig(m.FromLine, header)})
		})
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		now := map[string]int{}
		for _, m := range list {
			now[m.sig]++
		}
		drop := map[string]int{}
		removed := 0
		for sig, k := range want {
			if r := min(k, now[sig]-(max(dups[sig], k)-k)); r > 0 {
				drop[sig] = r
				removed += r
			}
		}
		if removed == 0 {
			f.Close()
			return 0, nil
		}
		keep := func(yield func(maildir.Kept) bool) {
			for _, m := range list {
				if drop[m.sig] > 0 {
					drop[m.sig]--
					continue
				}
				if !yield(maildir.Kept{Off: m.off, Len: m.n, AsIs: true}) {
					return
				}
			}
		}
		_, err = maildir.Mbox(src.Path).Rewrite(f, read, keep)
		f.Close()
		if errors.Is(err, maildir.ErrChanged) {
			continue
		}
		return removed, err
	}
	return 0, maildir.ErrChanged
}

// removeStaleTemp removes a note's temporary file (".NAME.tmp...") left
// by a mail process killed while writing it; NAME holds its pid.
func removeStaleTemp(path string) {
	f := strings.Split(strings.TrimPrefix(filepath.Base(path), "."), ".")
	if len(f) < 3 {
		return
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return
	}
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		os.Remove(path)
	}
}
