package mailx

import (
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

	"homepost/maildir"
	"homepost/safeio"
)

// Appending to an mbox by record, as the agent appends its deliveries
// (see maildir.Mark).
//
// An append to an mbox (quit's move to MBOX, save, copy) cannot be made
// atomic: mail killed, or the machine losing power, in the middle of
// one leaves the first part of the copy at the end of the file, where
// every reader shows it as a message, cut off (and the whole message
// is still in the mailbox it came from). So before the first byte is
// written, mail records durably, in a note in the state directory,
// which file it appends to (path, device and inode), where the copy
// starts and what it will be (maildir.Mark: offset, length, SHA-256),
// and removes the note once the copy is fsynced. A note found later
// (at the next start of mail, or before the next append to that file)
// was left by a crash: under the mbox's locks, while the file is still
// the one appended to, maildir's Resolve cuts off a copy it finds cut
// off at the end of the file, and leaves alone a whole copy and
// anything another program wrote there since.

// noteDir is the directory of the notes under the state directory.
const noteDir = "mail-appends"

// appendNote is one append in progress.
type appendNote struct {
	Path   string    `json:"path"`
	Dev    uint64    `json:"dev"`
	Ino    uint64    `json:"ino"`
	Sender string    `json:"sender"`
	Off    int64     `json:"off"`
	Len    int64     `json:"len"`
	Sum    string    `json:"sha256"`
	Time   time.Time `json:"time"`
}

func (n *appendNote) mark() (maildir.Mark, error) {
	m := maildir.Mark{Off: n.Off, Len: n.Len, Time: n.Time}
	sum, err := hexBytes(n.Sum)
	if err != nil || len(sum) != len(m.Sum) {
		return m, fmt.Errorf("bad sha256 %q", n.Sum)
	}
	copy(m.Sum[:], sum)
	return m, nil
}

func hexBytes(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, errors.New("odd length")
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
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

// fileID returns the device and inode of an open file.
func fileID(f *os.File) (dev, ino uint64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("%s: no inode number", f.Name())
	}
	return uint64(sys.Dev), sys.Ino, nil
}

// appendMbox appends one message to the mbox at path under its locks,
// recorded in a note (see above) while it is being written. body is
// called twice: once to measure the copy, once to write it; both must
// return the same bytes.
func (e *env) appendMbox(path, sender string, t time.Time, header []byte, body func() io.Reader) error {
	dir := e.notes()
	l, err := maildir.Mbox(path).Lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	if dir == "" {
		return l.Append(sender, t, header, body())
	}
	dev, ino, err := fileID(l.F)
	if err != nil {
		return fmt.Errorf("mbox: %w", err)
	}
	// A copy that another mail, killed, left cut off at the end of this
	// file: cut off before this one goes after it.
	e.resolveNotes(dir, func(n *appendNote) (*maildir.Locked, func(), bool) {
		if n.Dev == dev && n.Ino == ino {
			return l, func() {}, false
		}
		return nil, nil, true // another file's: left for the next start
	})
	var note string
	var off int64
	err = l.AppendMarked(sender, t, header, body, func(m maildir.Mark) error {
		if err := safeio.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("record the append to %s: %w", path, err)
		}
		b, err := json.Marshal(appendNote{Path: path, Dev: dev, Ino: ino, Sender: sender,
			Off: m.Off, Len: m.Len, Sum: fmt.Sprintf("%x", m.Sum), Time: m.Time})
		if err != nil {
			return err
		}
		name := filepath.Join(dir, fmt.Sprintf("%d.%d.%d", time.Now().UnixNano(), os.Getpid(), noteSeq.Add(1)))
		if err := safeio.WriteFile(name, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("record the append to %s: %w", path, err)
		}
		note, off = name, m.Off
		return nil
	})
	if note == "" {
		return err
	}
	if err != nil {
		// The file was cut back, but not durably: the note stays
		// unless the cut is made durable here (it is checked at the
		// next start otherwise).
		if st, serr := l.F.Stat(); serr != nil || l.F.Sync() != nil || st.Size() != off {
			return err
		}
	}
	// The copy is fsynced (or none is there). The removal need not be
	// durable: a note that a power loss brings back finds the whole copy.
	os.Remove(note)
	return err
}

// recoverAppends resolves the notes that mail processes killed while
// appending left behind (see above), once at the start of mail.
func (e *env) recoverAppends() {
	dir := e.notes()
	if dir == "" {
		return
	}
	e.resolveNotes(dir, func(n *appendNote) (*maildir.Locked, func(), bool) {
		st, err := os.Stat(n.Path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, false // removed since: nothing to cut
		}
		if err != nil {
			e.warn("%s: %v: a copy that an earlier mail was appending there when it was stopped may remain cut off at its end; it is checked again when mail next starts", n.Path, err)
			return nil, nil, true
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || uint64(sys.Dev) != n.Dev || sys.Ino != n.Ino {
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
func (e *env) resolveNotes(dir string, pick func(*appendNote) (l *maildir.Locked, release func(), keep bool)) {
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
		var n appendNote
		if err == nil {
			err = json.Unmarshal(b, &n)
		}
		var m maildir.Mark
		if err == nil {
			m, err = n.mark()
		}
		if err == nil && n.Path == "" {
			err = errors.New("no path")
		}
		if err != nil {
			e.warn("%s:1: not a record of an append (%v): left alone; remove it once the mbox it names is checked", name, err)
			continue
		}
		l, release, keep := pick(&n)
		if keep {
			continue
		}
		if l == nil {
			os.Remove(name)
			continue
		}
		e.resolveNote(name, &n, m, l)
		release()
	}
}

// resolveNote resolves the note at name, n, against the locked mbox l
// it names (see resolveNotes).
func (e *env) resolveNote(name string, n *appendNote, m maildir.Mark, l *maildir.Locked) {
	if _, err := os.Stat(name); err != nil {
		return // its writer finished and removed it while we waited for the locks
	}
	state, err := l.Resolve(m, n.Sender)
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
	os.Remove(name)
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
