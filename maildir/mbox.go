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
	// The dotlock file this process made, kept open, and which it is.
	dotFile *os.File
	dotID   fileID
}

// Lock opens (creating, mode 0600) and locks the mbox the way mutt,
// s-nail and mailx expect: a dotlock file PATH.lock, then an fcntl lock
// and a flock on the file itself. It waits up to 30 seconds, without
// the dotlock while another program holds a kernel lock (tryLock). Before it
// returns, it finishes a rewrite of the mbox that a crash stopped (see
// Locked.recover), so that nothing is read from or appended to a torn
// mbox.
func (m Mbox) Lock() (*Locked, error) { return m.lock(false) }

// LockForDelivery is Lock for appending mail: the mbox must be a regular
// file owned by the user, and is not opened through a symbolic link (see
// openMbox).
func (m Mbox) LockForDelivery() (*Locked, error) { return m.lock(true) }

func (m Mbox) lock(deliver bool) (*Locked, error) {
	deadline := time.Now().Add(lockTimeout)
	for {
		l, err := m.tryLock(deliver, deadline)
		if err != errKernelBusy {
			return l, err
		}
		if time.Now().After(deadline) {
			return nil, &LockError{string(m), "a kernel lock (fcntl or flock) held by a program that has it open"}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// errKernelBusy is tryLock's answer when another program holds the
// mbox's fcntl or flock lock, or took the dotlock over meanwhile: every
// lock taken is let go, to be tried again.
var errKernelBusy = errors.New("mbox: kernel lock busy")

// afterDotlock is called once the dotlock is taken, before the kernel
// locks: tests use it to act as another program in between.
var afterDotlock = func(dot string) {}

// tryLock takes the dotlock (waiting until deadline for another
// program's), then the kernel locks without waiting.
//
// Why the kernel locks are not waited for under the dotlock: programs
// take the two in either order. Postfix's local(8) and procmail take
// the dotlock first, as homepost does; mutt and s-nail take the fcntl
// lock first, then the dotlock, and give up on a dotlock they cannot
// get after a few seconds ("Lock count exceeded, remove lock?"). A
// delivery that held the dotlock while it waited for the fcntl lock of
// a mutt that waited for the dotlock stalled both until one gave up.
// Letting the dotlock go whenever a kernel lock is busy lets such a
// reader finish, and the delivery takes both once it is done.
func (m Mbox) tryLock(deliver bool, deadline time.Time) (*Locked, error) {
	path := string(m)
	dot := path + ".lock"
	var df *os.File
	var id fileID
	for {
		var err error
		df, id, err = dotlock(dot)
		if errors.Is(err, os.ErrNotExist) {
			// A new mailbox in a folder that does not exist yet.
			if err = safeio.MkdirAll(filepath.Dir(path), 0o700); err == nil {
				df, id, err = dotlock(dot)
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
	l := &Locked{path: path, dot: dot, dotFile: df, dotID: id}
	if dot != "" {
		cleanTemps(dot)
		afterDotlock(dot)
	}
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
		var err error
		for {
			if err = try(); !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err == nil {
			continue
		}
		l.Unlock()
		if busyLock(err) {
			return nil, errKernelBusy
		}
		// Not another program's lock (ENOLCK: no lock manager on an
		// NFS mount): said as it is, not waited for and called
		// "locked".
		return nil, fmt.Errorf("mbox: lock %s: %w", path, err)
	}
	if dot != "" && !l.holdsDot() {
		// Another program took the dotlock over (mutt's "remove
		// lock? yes", or a lock judged stale): not written under it.
		l.dot = "" // nor removed
		l.Unlock()
		return nil, errKernelBusy
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
		err = fmt.Errorf("%s is not a regular file (%s): not delivered into it", path, safeio.TypeName(st.Mode()))
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

// fileID tells one file from another: its device and inode numbers.
type fileID struct{ dev, ino uint64 }

// idOf is the fileID of path, not following a symbolic link; ok is false
// when it cannot be looked at.
func idOf(path string) (fileID, bool) {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil {
		return fileID{}, false
	}
	return fileID{st.Dev, st.Ino}, true
}

// dotlock creates the lock file path holding our pid. The file is
// written under a unique temporary name and hard-linked into place, so a
// lock file never exists without its pid, even when the process is
// killed in between (then only the temporary file is left over).
//
// It returns the lock file, open, and which file it is: while it stays
// open, no other file can take its inode number, so a dotlock found
// with the same device and inode numbers is still this one (holdsDot).
func dotlock(path string) (*os.File, fileID, error) {
	tmp := fmt.Sprintf("%s.%d.%d", path, os.Getpid(), time.Now().UnixNano())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fileID{}, err
	}
	_, err = f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	var id fileID
	if err == nil {
		var st unix.Stat_t
		if err = unix.Fstat(int(f.Fd()), &st); err == nil {
			id = fileID{st.Dev, st.Ino}
			err = os.Link(tmp, path)
		}
	}
	// Removed whatever happened: a write that failed half way (a full
	// disk) must not leave one temporary file per attempt.
	os.Remove(tmp)
	if err != nil {
		f.Close()
		return nil, fileID{}, err
	}
	return f, id, nil
}

// holdsDot reports whether the dotlock is still the file this process
// made: another program may have taken it over, rightly (a lock it
// judged stale) or not (mutt's "remove lock? yes").
func (l *Locked) holdsDot() bool {
	id, ok := idOf(l.dot)
	return ok && id == l.dotID
}

// unlockDot removes the dotlock if it is still ours: removing one that
// another program took over would let a third write beside it.
func (l *Locked) unlockDot() {
	if l.dot != "" && l.holdsDot() {
		os.Remove(l.dot)
	}
	if l.dotFile != nil {
		l.dotFile.Close()
		l.dotFile = nil
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
