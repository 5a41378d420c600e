package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"homepost/safeio"
)

// LockError means an mbox stayed locked by another program; the delivery
// is tried again later.
type LockError struct {
	Path string
	// Which names the lock that was held, and how long it may stay.
	Which string
}

func (e *LockError) Error() string {
	if e.Which == "" {
		return e.Path + ": mailbox is locked by another program"
	}
	return e.Path + ": mailbox is locked by another program (" + e.Which + ")"
}

// dotlockHeld describes a dotlock that another program holds: since
// when, and when it is taken over.
func dotlockHeld(dot string) string {
	w := "its dotlock " + dot
	if fi, err := os.Stat(dot); err == nil {
		w += ", made " + fi.ModTime().Format("15:04:05")
	}
	return w + "; taken over once " + staleLock.String() + " old or when its process has ended"
}

// Mbox is an mbox file in mboxrd form.
type Mbox string

// lockTimeout is how long Lock waits for another program's lock; a
// dotlock older than staleLock is taken over, as procmail and mutt do.
var (
	lockTimeout = 30 * time.Second
	staleLock   = 5 * time.Minute
)

// Locked is an mbox held under all three locks that mail readers use.
type Locked struct {
	F    *os.File
	path string
	dot  string
}

// Lock opens (creating, mode 0600) and locks the mbox the way mutt,
// s-nail and mailx expect: a dotlock file PATH.lock, then an fcntl lock
// and a flock on the file itself. It waits up to 30 seconds. Before it
// returns, it finishes a rewrite of the mbox that a crash stopped (see
// Locked.recover), so that nothing is read from or appended to a torn
// mbox.
func (m Mbox) Lock() (*Locked, error) { return m.lock(false) }

// LockForDelivery is Lock for appending mail: the mbox must be a regular
// file owned by the user, and is not opened through a symbolic link (see
// openMbox).
func (m Mbox) LockForDelivery() (*Locked, error) { return m.lock(true) }

func (m Mbox) lock(deliver bool) (*Locked, error) {
	path := string(m)
	deadline := time.Now().Add(lockTimeout)
	dot := path + ".lock"
	for {
		err := dotlock(dot)
		if errors.Is(err, os.ErrNotExist) {
			// A new mailbox in a folder that does not exist yet.
			if err = safeio.MkdirAll(filepath.Dir(path), 0o700); err == nil {
				err = dotlock(dot)
			}
		}
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			// A directory we cannot create files in (a system
			// spool): go on with the kernel locks alone, as mutt does.
			// So too on a full disk, unless delivering (an append
			// needs room anyway): reading and rewriting, which frees
			// room, must still work there. The kernel locks keep out
			// mutt, s-nail and homepost's own writers.
			if errors.Is(err, os.ErrPermission) || (!deliver && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT))) {
				dot = ""
				break
			}
			return nil, fmt.Errorf("mbox: lock %s: %w", dot, err)
		}
		if staleDotlock(dot) {
			os.Remove(dot)
			continue
		}
		if time.Now().After(deadline) {
			return nil, &LockError{path, dotlockHeld(dot)}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if dot != "" {
		cleanTemps(dot)
	}
	l := &Locked{path: path, dot: dot}
	f, err := openMbox(path, deliver)
	if err != nil {
		l.unlockDot()
		return nil, fmt.Errorf("mbox: %w", err)
	}
	l.F = f
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	fcntl := func() error { return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk) }
	flock := func() error { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }
	tries := []func() error{fcntl, flock}
	if flockIsFcntl(f) {
		// On NFS and SMB, flock is made of the same byte-range locks
		// as fcntl, with another owner: it would wait for ever for
		// the fcntl lock just taken. fcntl alone keeps out mutt,
		// s-nail and Postfix's local there.
		tries = tries[:1]
	}
	for _, try := range tries {
		for {
			err := try()
			if err == nil {
				break
			}
			if !busyLock(err) {
				// Not another program's lock (ENOLCK: no lock
				// manager on an NFS mount): said as it is, not
				// waited for and called "locked".
				l.Unlock()
				return nil, fmt.Errorf("mbox: lock %s: %w", path, err)
			}
			if time.Now().After(deadline) {
				l.Unlock()
				return nil, &LockError{path, "a kernel lock (fcntl or flock) held by a program that has it open"}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := l.recover(!deliver); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("mbox: %w", err)
	}
	return l, nil
}

// openMbox opens the mbox for reading and appending, creating it (mode
// 0600) if it does not exist. A new mbox's name is made durable (its
// directory fsynced) before anything is appended to it: a copy fsynced
// into a file whose name a power loss takes away would be lost.
//
// Only a regular file owned by the user is appended to, opened without
// following a symbolic link: in a directory others may write to (a 1777
// spool), a file another user made there, or a link planted there,
// would otherwise receive the user's mail.
func openMbox(path string, deliver bool) (*os.File, error) {
	flags := os.O_RDWR
	if deliver {
		flags |= unix.O_NOFOLLOW | unix.O_NONBLOCK
	}
	f, err := os.OpenFile(path, flags, 0)
	if err == nil {
		if !deliver {
			return f, nil
		}
		if err := checkMbox(f, path); err != nil {
			return nil, err
		}
		return f, nil
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link: not delivered through it", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	f, err = os.OpenFile(path, flags|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Created meanwhile.
		if f, err = os.OpenFile(path, flags, 0); err == nil && deliver {
			if err = checkMbox(f, path); err != nil {
				return nil, err
			}
		}
		return f, err
	}
	if err != nil {
		return nil, err
	}
	if err := safeio.SyncDir(filepath.Dir(path)); err != nil {
		// Not durable: take it back, so that the next attempt creates
		// it again and syncs its directory.
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// checkMbox closes f and returns an error unless it is a regular file
// owned by the user.
func checkMbox(f *os.File, path string) error {
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%s): not delivered into it", path, st.Mode().Type())
	}
	if err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
			err = fmt.Errorf("%s belongs to uid %d, not to this user: not delivered into it", path, sys.Uid)
		}
	}
	if err != nil {
		f.Close()
	}
	return err
}

// cleaned holds the dotlocks whose leftover temporary files this process
// has looked for.
var cleaned sync.Map

// cleanTemps removes, once per process and dotlock, the temporary files
// (dot.PID.NANOS) that a process killed between writing one and removing
// it left beside the mbox: a delivery killed with kill -9 leaves one per
// crash. Only those whose process is gone are removed.
//
// It also removes the partial copies of the mbox (".NAME.homepostDIGITS")
// that a rewrite of an earlier version, which renamed a new file over
// the mbox, left when it was killed: nothing reads them, and no such
// rewrite is under way while the dotlock is held.
func cleanTemps(dot string) {
	if _, done := cleaned.LoadOrStore(dot, true); done {
		return
	}
	ents, _ := os.ReadDir(filepath.Dir(dot))
	prefix := filepath.Base(dot) + "."
	oldRewrite := "." + strings.TrimSuffix(filepath.Base(dot), ".lock") + ".homepost"
	for _, e := range ents {
		if digits, ok := strings.CutPrefix(e.Name(), oldRewrite); ok && digits != "" && strings.Trim(digits, "0123456789") == "" && e.Type().IsRegular() {
			os.Remove(filepath.Join(filepath.Dir(dot), e.Name()))
			continue
		}
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		n := filepath.Join(filepath.Dir(dot), e.Name())
		pidText, _, ok := strings.Cut(rest, ".")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			os.Remove(n)
		}
	}
}

// staleDotlock reports whether a dotlock was left behind: older than
// staleLock, or naming the pid of a process that no longer exists (a
// delivery killed with kill -9), as liblockfile checks.
func staleDotlock(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	if time.Since(st.ModTime()) > staleLock {
		return true
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return false
	}
	return unix.Kill(pid, 0) == unix.ESRCH
}

// dotlock creates the lock file path holding our pid. The file is
// written under a unique temporary name and hard-linked into place, so a
// lock file never exists without its pid, even when the process is
// killed in between (then only the temporary file is left over).
func dotlock(path string) error {
	tmp := fmt.Sprintf("%s.%d.%d", path, os.Getpid(), time.Now().UnixNano())
	err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	if err == nil {
		err = os.Link(tmp, path)
	}
	// Removed whatever happened: a write that failed half way (a full
	// disk) must not leave one temporary file per attempt.
	os.Remove(tmp)
	return err
}

func (l *Locked) unlockDot() {
	if l.dot != "" {
		os.Remove(l.dot)
	}
}

// Unlock releases the locks and closes the file.
func (l *Locked) Unlock() error {
	var err error
	if l.F != nil {
		unix.Flock(int(l.F.Fd()), unix.LOCK_UN)
		lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart}
		unix.FcntlFlock(l.F.Fd(), unix.F_SETLK, &lk)
		err = l.F.Close()
	}
	l.unlockDot()
	return err
}

// Append adds one message to the mbox under its locks: a "From " line with
// the envelope sender and an asctime date, the header and body with
// mboxrd quoting (">From " lines gain one more '>'), and an empty line.
// The file is fsynced; on error it is cut back to its old length, so a
// reader never sees half a message.
func (m Mbox) Append(sender string, t time.Time, header []byte, body io.Reader) error {
	l, err := m.Lock()
	if err != nil {
		return err
	}
	defer l.Unlock()
	return l.Append(sender, t, header, body)
}

// Append adds one message to a locked mbox; see Mbox.Append.
func (l *Locked) Append(sender string, t time.Time, header []byte, body io.Reader) error {
	end, err := l.F.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("mbox: %w", err)
	}
	return l.appendAt(end, sender, t, header, body)
}

// appendAt appends at end, the size of the file, and cuts the file back
// to end on any error.
func (l *Locked) appendAt(end int64, sender string, t time.Time, header []byte, body io.Reader) error {
	f := l.F
	w := bufio.NewWriterSize(f, 64<<10)
	if err := writeEntry(w, l.tail(end), sender, t, header, body); err != nil {
		f.Truncate(end)
		return fmt.Errorf("mbox: %w", err)
	}
	if err := w.Flush(); err != nil {
		f.Truncate(end)
		return fmt.Errorf("mbox: write %s: %w", l.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Truncate(end)
		return fmt.Errorf("mbox: sync %s: %w", l.path, err)
	}
	return nil
}

// tail returns the (up to) two bytes before off, which decide how a
// message appended at off is separated from the one before it.
func (l *Locked) tail(off int64) []byte {
	if off <= 0 {
		return nil
	}
	var b [2]byte
	from := max(off-2, 0)
	n, _ := l.F.ReadAt(b[:off-from], from)
	return b[:n]
}

// writeEntry writes one mbox entry as Append stores it after the bytes
// tail: the separating newlines a message needs unless it is first, the
// "From " line with the envelope sender and an asctime date, the header
// and body with mboxrd quoting, and an empty line.
func writeEntry(w *bufio.Writer, tail []byte, sender string, t time.Time, header []byte, body io.Reader) error {
	if len(tail) > 0 {
		n := len(tail)
		switch {
		case n == 2 && tail[0] == '\n' && tail[1] == '\n':
		case tail[n-1] == '\n':
			w.WriteByte('\n')
		default:
			w.WriteString("\n\n")
		}
	}
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	w.WriteString("From " + sender + " " + t.UTC().Format("Mon Jan _2 15:04:05 2006") + "\n")
	q := &quoter{w: w, bol: true}
	q.Write(header)
	if _, err := safeio.Copy(q, body); err != nil {
		return err
	}
	q.flush()
	if !q.bol {
		w.WriteByte('\n')
	}
	return w.WriteByte('\n')
}

// quoter applies mboxrd quoting: a line that starts with any number of
// '>' followed by "From " gets one more '>'.
type quoter struct {
	w   *bufio.Writer
	bol bool   // at the beginning of a line
	pre []byte // a line start held back until it is known not to need quoting
}

func (q *quoter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if q.bol || len(q.pre) > 0 {
			// Collect up to the first byte that decides.
			for len(p) > 0 {
				c := p[0]
				q.pre = append(q.pre, c)
				p = p[1:]
				if !needsMore(q.pre) {
					break
				}
			}
			if needsMore(q.pre) {
				q.bol = false
				return n, nil
			}
			if isFromLine(q.pre) {
				q.w.WriteByte('>')
			}
			q.w.Write(q.pre)
			q.bol = q.pre[len(q.pre)-1] == '\n'
			q.pre = q.pre[:0]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			q.w.Write(p)
			return n, nil
		}
		q.w.Write(p[:i+1])
		p = p[i+1:]
		q.bol = true
	}
	return n, nil
}

// flush writes a held-back line start at the end of the message.
func (q *quoter) flush() {
	if len(q.pre) > 0 {
		q.w.Write(q.pre)
		q.bol = q.pre[len(q.pre)-1] == '\n'
		q.pre = q.pre[:0]
	}
}

// needsMore reports whether pre, the start of a line, could still turn
// out to be a ">*From " line.
func needsMore(pre []byte) bool {
	i := 0
	for i < len(pre) && pre[i] == '>' {
		i++
	}
	rest := pre[i:]
	return len(rest) < 5 && bytes.HasPrefix([]byte("From "), rest)
}

func isFromLine(pre []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(pre, ">"), []byte("From "))
}

// Unquote undoes mboxrd quoting of one line read from an mbox.
func Unquote(line []byte) []byte {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	if i > 0 && bytes.HasPrefix(line[i:], []byte("From ")) {
		return line[1:]
	}
	return line
}

// CheckMbox says whether a delivery could append to the mbox at path as
// it stands: a regular file of this user's, not reached through a
// symbolic link. A missing mbox is no error (delivery creates it).
// It creates nothing.
func CheckMbox(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s is a symbolic link: not delivered through it", path)
	case err != nil:
		return err
	}
	if err := checkMbox(f, path); err != nil {
		return err // checkMbox closed it
	}
	return f.Close()
}

// busyLock reports whether a lock call failed because another holds the
// lock (or a signal came), as opposed to locks not working at all.
func busyLock(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINTR)
}

// flockIsFcntl reports whether f is on a file system whose flock locks
// are byte-range locks, shared with fcntl's under another owner (NFS,
// SMB/CIFS), so that one process cannot hold both.
func flockIsFcntl(f *os.File) bool {
	var st unix.Statfs_t
	if unix.Fstatfs(int(f.Fd()), &st) != nil {
		return false
	}
	switch uint32(st.Type) {
	case unix.NFS_SUPER_MAGIC, unix.SMB_SUPER_MAGIC, 0xFF534D42 /* CIFS */, 0xFE534D42 /* SMB2 */ :
		return true
	}
	return false
}
