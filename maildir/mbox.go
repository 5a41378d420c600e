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
	"time"

	"golang.org/x/sys/unix"

	"homepost/safeio"
)

// LockError means an mbox stayed locked by another program; the delivery
// is tried again later.
type LockError struct{ Path string }

func (e *LockError) Error() string { return e.Path + ": mailbox is locked by another program" }

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
// and a flock on the file itself. It waits up to 30 seconds.
func (m Mbox) Lock() (*Locked, error) {
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
			if errors.Is(err, os.ErrPermission) {
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
			return nil, &LockError{path}
		}
		time.Sleep(50 * time.Millisecond)
	}
	l := &Locked{path: path, dot: dot}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		l.unlockDot()
		return nil, fmt.Errorf("mbox: %w", err)
	}
	l.F = f
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	fcntl := func() error { return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk) }
	flock := func() error { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }
	for _, try := range []func() error{fcntl, flock} {
		for try() != nil {
			if time.Now().After(deadline) {
				l.Unlock()
				return nil, &LockError{path}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return l, nil
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
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, path)
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
	f := l.F
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("mbox: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	// A message must be preceded by an empty line unless it is first.
	if end > 0 {
		var tail [2]byte
		n, _ := f.ReadAt(tail[:], end-2)
		switch {
		case n == 2 && tail[0] == '\n' && tail[1] == '\n':
		case n >= 1 && tail[n-1] == '\n':
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
	if _, err := io.Copy(q, body); err != nil {
		f.Truncate(end)
		return fmt.Errorf("mbox: %w", err)
	}
	q.flush()
	if !q.bol {
		w.WriteByte('\n')
	}
	w.WriteByte('\n')
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

// ContainsNear reports whether marker occurs within span bytes of the
// offset back bytes before the end of the mbox. A retry after a crash
// uses it to see whether the copy it is about to append, whose trace
// header starts about its own size before the end, is already there;
// it reads at most 2*span bytes whatever the message's size.
func (l *Locked) ContainsNear(marker []byte, back, span int64) (bool, error) {
	st, err := l.F.Stat()
	if err != nil {
		return false, err
	}
	from := max(st.Size()-back-span, 0)
	to := min(max(st.Size()-back+span, 0), st.Size())
	if to <= from {
		return false, nil
	}
	buf := make([]byte, to-from)
	if _, err := l.F.ReadAt(buf, from); err != nil && err != io.EOF {
		return false, err
	}
	return bytes.Contains(buf, marker), nil
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
