package outbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"homepost/safeio"
)

// Dir is an outbox: a Maildir whose files are queue files.
type Dir string

// Path joins elements under the outbox.
func (d Dir) Path(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// Init creates tmp/, new/ and cur/ (mode 0700: the queue holds other
// people's mail and Bcc recipients).
func (d Dir) Init() error {
	if err := safeio.Maildir(string(d)); err != nil {
		return fmt.Errorf("create outbox: maildir: %w", err)
	}
	return nil
}

var seq atomic.Int64

// newName makes a Maildir-unique name "SEC.ID.HOST" whose middle part is
// the queue ID that mailq shows.
func newName(now time.Time, host string) (name, id string) {
	id = strconv.FormatInt(now.UnixMicro(), 16) + strconv.FormatInt(int64(os.Getpid()), 16)
	if n := seq.Add(1); n > 1 {
		id += "Q" + strconv.FormatInt(n, 16)
	}
	id = strings.ToUpper(id)
	host = escapeHost(host)
	return strconv.FormatInt(now.Unix(), 10) + "." + id + "." + host, id
}

// escapeHost writes "/", ":" and "." of a host name as \057, \072 and
// \056, as Maildir names do; without a strings.Replacer, which would be
// built anew for every message.
func escapeHost(host string) string {
	var b []byte
	for i := 0; i < len(host); i++ {
		switch c := host[i]; c {
		case '/':
			b = append(b, `\057`...)
		case ':':
			b = append(b, `\072`...)
		case '.':
			b = append(b, `\056`...)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// ID returns the queue ID of a file name from new/ or cur/.
func ID(name string) string {
	_, rest, _ := strings.Cut(name, ".")
	id, _, _ := strings.Cut(rest, ".")
	return id
}

// TempError marks a failure that may pass by itself (disk full, I/O
// error): sendmail exits 75 for it.
type TempError struct{ Err error }

func (e *TempError) Error() string { return e.Err.Error() }
func (e *TempError) Unwrap() error { return e.Err }

func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, t := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EAGAIN, syscall.EINTR, syscall.ENOMEM, syscall.EMFILE, syscall.ENFILE} {
		if errors.Is(err, t) {
			return &TempError{err}
		}
	}
	return err
}

// journalReserve is the room allocated for a queue file's journal when it
// is committed: some forty result records.
const journalReserve = 4096

// Draft is a queue file being written in tmp/. Nothing of it is visible
// to an agent until Commit returns.
//
// A draft keeps the file's bytes in a buffer of its own and writes them
// out only when the buffer is full: a message that fits (nearly every
// one) reaches the file in one write at Commit, its size and seal
// already filled in, rather than in a write and then small writes over
// its head and tail. Besides the system calls, a small write into a
// page that another process's sync has just begun to write out waits
// for that write to finish on a disk that wants stable pages.
type Draft struct {
	dir     Dir
	name    string
	id      string
	f       *os.File
	buf     *[]byte // bytes from off on, not yet written; nil once finished
	off     int64   // bytes written to f
	sizeOff int64
	sealOff int64       // 0: not sealed
	seal    hash.Hash64 // of a sealed draft (seal.go)
	hdrLen  int64       // envelope bytes before the message
	n       int64
	old     int64 // size of the spare the draft writes over
	err     error
}

// draftBuffer is the size of a draft's buffer.
const draftBuffer = 64 << 10

// buffers keeps the buffers of finished drafts for the next (see
// package submit's readers).
var buffers = sync.Pool{New: func() any {
	if firstBuffer.taken.CompareAndSwap(false, true) {
		b := firstBuffer.b[:0]
		return &b
	}
	b := make([]byte, 0, draftBuffer)
	return &b
}}

// firstBuffer is the first draft's buffer, in the program's zeroed data
// rather than the heap: a buffer of more than 32 KB is a "large"
// allocation to the runtime, and the first in a process sets up the
// runtime's list of large spans, which cost sendmail (one draft, no
// other large allocation) three page faults of its own. Its pages, as
// a heap buffer's, are touched only as far as a message fills it. It
// is handed out once; the pool then keeps it as any other buffer.
var firstBuffer struct {
	taken atomic.Bool
	b     [draftBuffer]byte
}

// putBuffer gives the draft's buffer back, once it is done with: a
// later Write or Commit fails with errFinished.
func (dr *Draft) putBuffer() {
	if dr.buf != nil {
		if cap(*dr.buf) == draftBuffer {
			*dr.buf = (*dr.buf)[:0]
			buffers.Put(dr.buf)
		}
		dr.buf = nil
	}
	if dr.err == nil {
		dr.err = errFinished
	}
}

var errFinished = errors.New("queue file already committed or aborted")

// add appends p to the file, through the buffer.
func (dr *Draft) add(p []byte) error {
	b := *dr.buf
	for len(p) > 0 {
		if len(b) == 0 && len(p) >= cap(b) {
			// A buffer's worth or more: straight to the file.
			k := len(p) - len(p)%cap(b)
			if err := dr.put(p[:k]); err != nil {
				return err
			}
			p = p[k:]
			continue
		}
		k := copy(b[len(b):cap(b)], p)
		b, p = b[:len(b)+k], p[k:]
		if len(b) == cap(b) {
			if err := dr.put(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	*dr.buf = b
	return nil
}

// put writes p at the end of what is written.
func (dr *Draft) put(p []byte) error {
	n, err := dr.f.WriteAt(p, dr.off)
	dr.off += int64(n)
	return err
}

// Create starts a queue file for e in tmp/. The caller writes the message
// with Write and makes it durable with Commit, or drops it with Abort.
func (d Dir) Create(e *Envelope, host string) (*Draft, error) { return d.create(e, host, false) }

// CreateSealed is Create for a sealed queue file (seal.go), which
// CommitWith a Sealer makes durable with one sync after its rename.
func (d Dir) CreateSealed(e *Envelope, host string) (*Draft, error) { return d.create(e, host, true) }

func (d Dir) create(e *Envelope, host string, sealed bool) (*Draft, error) {
	if e.Arrival.IsZero() {
		e.Arrival = time.Now()
	}
	hdr, off, sealOff := appendEnvelope(make([]byte, 0, 256), e, sealed)
	var f *os.File
	var old int64 // bytes of the spare taken, to be overwritten or zeroed
	var name, id string
	var err error
	for try := 0; ; try++ {
		if name == "" || errors.Is(err, os.ErrExist) {
			name, id = newName(time.Now(), host)
		}
		if try == 0 {
			if f, old = d.takeSpare(name); f != nil {
				break
			}
		}
		f, err = safeio.OpenFile(d.Path("tmp", name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if errors.Is(err, os.ErrNotExist) && try == 0 {
			if ierr := d.Init(); ierr != nil {
				return nil, ierr
			}
			continue
		}
		if !errors.Is(err, os.ErrExist) || try > 100 {
			return nil, classify(fmt.Errorf("create queue file: %w", err))
		}
	}
	dr := &Draft{dir: d, name: name, id: id, f: f, buf: buffers.Get().(*[]byte), sizeOff: int64(off), hdrLen: int64(len(hdr)), old: old}
	if sealed {
		dr.sealOff, dr.seal = int64(sealOff), newSeal(id, hdr)
	}
	if err := dr.add(hdr); err != nil {
		dr.Abort()
		return nil, classify(fmt.Errorf("write queue file: %w", err))
	}
	return dr, nil
}

// ID is the queue ID of the message being written.
func (dr *Draft) ID() string { return dr.id }

// Write appends message bytes.
func (dr *Draft) Write(p []byte) (int, error) {
	if dr.err != nil {
		return 0, dr.err
	}
	if err := dr.add(p); err != nil {
		dr.err = classify(fmt.Errorf("write queue file: %w", err))
		return 0, dr.err
	}
	dr.n += int64(len(p))
	if dr.seal != nil {
		dr.seal.Write(p)
	}
	return len(p), nil
}

// WriteString appends message bytes.
func (dr *Draft) WriteString(s string) (int, error) {
	if dr.err != nil {
		return 0, dr.err
	}
	if len(s) > cap(*dr.buf)-len(*dr.buf) {
		return dr.Write([]byte(s))
	}
	*dr.buf = append(*dr.buf, s...)
	dr.n += int64(len(s))
	if dr.seal != nil {
		io.WriteString(dr.seal, s)
	}
	return len(s), nil
}

// Commit makes the message durable: it records the size, fsyncs the
// file, renames it into new/ and fsyncs new/. Only after Commit returns
// nil may a caller report success. On error nothing is left in new/.
func (dr *Draft) Commit() error { return dr.CommitWith(nil) }

// Syncer makes a queue file durable in Commit's two steps, for a server
// that commits many messages at once and shares the disk's work among
// those that end together (group commit). SyncFile may return nil only
// once the file's data is durable; SyncDir only after a sync of the
// directory (new/) that began after the call.
type Syncer interface {
	SyncFile(f *os.File) error
	SyncDir(dir string) error
}

// ownSync is a Syncer of one message: an fsync each.
type ownSync struct{}

func (ownSync) SyncFile(f *os.File) error { return f.Sync() }
func (ownSync) SyncDir(dir string) error  { return safeio.SyncDir(dir) }

// CommitWith is Commit with s making the file and new/ durable; nil is
// Commit's own fsyncs.
func (dr *Draft) CommitWith(s Syncer) error {
	if s == nil {
		s = ownSync{}
	}
	err := dr.commit(s)
	if err != nil {
		dr.Abort()
	}
	dr.putBuffer()
	return classify(err)
}

// sealerOf is s as a Sealer, when the draft is sealed and s is one.
func sealerOf(s Syncer, sealed bool) (Sealer, bool) {
	if !sealed {
		return nil, false
	}
	sealer, ok := s.(Sealer)
	return sealer, ok
}

func (dr *Draft) commit(s Syncer) error {
	if dr.err != nil {
		return dr.err
	}
	if err := dr.finish(); err != nil {
		return fmt.Errorf("write queue file: %w", err)
	}
	// Allocate room for the journal beyond the end, so that recording
	// results needs no free block: on a full disk a result that cannot
	// be recorded means sending again. Best effort: not every file
	// system can, and a message is queued all the same.
	unix.Fallocate(int(dr.f.Fd()), unix.FALLOC_FL_KEEP_SIZE, dr.hdrLen+dr.n, journalReserve)
	// The seal is looked at first: an assertion of s to Sealer that
	// fails builds the runtime's itab for the pair, which cost sendmail
	// (an unsealed queue file, always) two page faults in a profile.
	if sealer, ok := sealerOf(s, dr.seal != nil); ok {
		// Sealed: the rename first, then the file and its name durable
		// together (seal.go).
		if err := dr.rename(); err != nil {
			return err
		}
		if err := sealer.SyncSealed(dr.f, dr.dir.Path("new")); err != nil {
			dr.unrename()
			return fmt.Errorf("sync queue file: %w", err)
		}
		// Durable now: the close of a synced file has nothing
		// to report about its data.
		dr.f.Close()
		dr.f = nil
		return nil
	}
	if err := s.SyncFile(dr.f); err != nil {
		return fmt.Errorf("sync queue file: %w", err)
	}
	if err := dr.f.Close(); err != nil {
		return fmt.Errorf("close queue file: %w", err)
	}
	dr.f = nil
	if err := dr.rename(); err != nil {
		return err
	}
	if err := s.SyncDir(dr.dir.Path("new")); err != nil {
		dr.unrename()
		return err
	}
	return nil
}

// finish writes what is left of the draft: the buffer, the size and the
// seal in the head, and zeros over a spare's old bytes past the end. A
// draft whose head is still in the buffer goes out in one write.
func (dr *Draft) finish() error {
	size := strconv.AppendInt(make([]byte, 0, sizeDigits), dr.n, 10)
	size = append(bytes.Repeat([]byte{'0'}, max(0, sizeDigits-len(size))), size...)
	var seal []byte
	if dr.seal != nil {
		seal = appendSeal(nil, dr.seal.Sum64())
	}
	end := dr.hdrLen + dr.n
	b := *dr.buf
	if dr.off == 0 {
		copy(b[dr.sizeOff:], size)
		if seal != nil {
			copy(b[dr.sealOff:], seal)
		}
		size, seal = nil, nil
		if k := dr.old - end; k > 0 && k <= zeroMax && len(b)+int(k) <= cap(b) {
			// The spare's old tail, zeroed in the same write.
			b = append(b, make([]byte, k)...)
			end = dr.old
		}
	}
	if err := dr.put(b); err != nil {
		return err
	}
	*dr.buf = b[:0]
	if size != nil {
		if _, err := dr.f.WriteAt(size, dr.sizeOff); err != nil {
			return err
		}
	}
	if seal != nil {
		if _, err := dr.f.WriteAt(seal, dr.sealOff); err != nil {
			return err
		}
	}
	return clearTail(dr.f, end, dr.old)
}

// rename moves the draft from tmp/ into new/.
func (dr *Draft) rename() error {
	err := safeio.Rename(dr.dir.Path("tmp", dr.name), dr.dir.Path("new", dr.name))
	if errors.Is(err, os.ErrNotExist) {
		// new/ is missing: a sendmail was killed while it created
		// the outbox, after tmp/. Complete the outbox, as a missing
		// one is created, rather than refuse every message after.
		if err = dr.dir.Init(); err == nil {
			err = safeio.Rename(dr.dir.Path("tmp", dr.name), dr.dir.Path("new", dr.name))
		}
	}
	if err != nil {
		return fmt.Errorf("queue message: %w", err)
	}
	return nil
}

// unrename takes a rename into new/ back after a failed sync: the
// rename may or may not survive a crash, and a failure must never leave
// a message the caller thinks lost.
func (dr *Draft) unrename() {
	safeio.Rename(dr.dir.Path("new", dr.name), dr.dir.Path("tmp", dr.name))
}

// zeroMax bounds the old bytes past a draft's end that are zeroed rather
// than cut off: cutting frees blocks (a discard request on a file system
// mounted with -o discard), zeroing a short tail rewrites a block the
// message ends in anyway.
const zeroMax = 64 << 10

// clearTail makes sure that no byte of a spare's old content lies past
// end, the draft's own end: it zeroes them, or cuts the file at end
// when there are more than zeroMax.
func clearTail(f *os.File, end, old int64) error {
	switch {
	case old <= end:
		return nil
	case old-end > zeroMax:
		return f.Truncate(end)
	}
	_, err := f.WriteAt(make([]byte, old-end), end)
	return err
}

// Abort removes the draft.
func (dr *Draft) Abort() {
	dr.putBuffer()
	if dr.f != nil {
		dr.f.Close()
		dr.f = nil
	}
	os.Remove(dr.dir.Path("tmp", dr.name))
}

// Names lists the file names in sub ("new" or "cur").
func (d Dir) Names(sub string) ([]string, error) {
	// Without the runtime's poller (safeio.OpenFile): the agent lists
	// new/ twice for every batch, and os.Open's offer of a directory to
	// epoll is five system calls each time.
	f, err := safeio.OpenFile(d.Path(sub), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	out := names[:0]
	for _, n := range names {
		if !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out, nil
}

// Claim moves new/NAME into cur/ and returns its new path: Take's way
// where the file system has no hard links (the agent and homepost queue
// hold claim with Take, which keeps the name in new/ until the claim is
// durable). Rename is atomic, so of two claimants exactly one succeeds;
// the other gets an error satisfying errors.Is(err, os.ErrNotExist). The claim is durable
// only once cur/ is synced (SyncClaims, or a syncfs that covers it),
// which the caller does once for a batch, before any copy of it takes
// effect.
//
// A message that is in cur/ already (a power loss kept a claim's new
// name but not the removal of its old one) is not claimed again as if
// it were new: its name in new/ is removed, and Claim returns its path
// in cur/ with ErrClaimed, for the caller to take it up as a message
// that may have copies delivered already.
func (d Dir) Claim(name string) (string, error) {
	src, dst := d.Path("new", name), d.Path("cur", name+":2,")
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return dst, nil
	case errors.Is(err, unix.EEXIST):
		if err := inCurAlready(name, src, dst); err != nil {
			return "", err
		}
		if err := os.Remove(src); err != nil {
			return "", err
		}
		return dst, ErrClaimed
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		// A file system without RENAME_NOREPLACE.
		if err := safeio.Rename(src, dst); err != nil {
			return "", err
		}
		return dst, nil
	}
	return "", &os.LinkError{Op: "rename", Old: src, New: dst, Err: err}
}

// Take claims new/NAME for the agent as Claim does, but by a link: the
// name stays in new/ until the claim is durable and the caller drops it
// (Drop). It returns the path in cur/; ErrClaimed with that path when
// the message is in cur/ already (a claim whose name a crash left in
// new/, one whose batch could not be made durable, a release half done:
// the caller takes it up as a message that may have copies out, and
// drops its name with DropClaimed, never with Drop); an error
// satisfying errors.Is(err, os.ErrNotExist) when it is gone.
//
// Why not a rename: a rename takes the name out of new/ at once, and any
// fsync of new/ (sendmail's own, just after its rename, when the agent
// was quicker; the next message's) may make that removal durable before
// cur/ holds the new name durably. On a file system that writes the two
// directory blocks independently (ext4 without a journal, ext2), a power
// loss in between left the file in no directory: mail that sendmail had
// acknowledged, lost. With a link the name leaves new/ only once the
// claim is durable. Where the file system has no hard links, Take
// claims by rename (Claim).
func (d Dir) Take(name string) (string, error) {
	src, dst := d.Path("new", name), d.Path("cur", name+":2,")
	err := unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, 0)
	switch {
	case err == nil:
		return dst, nil
	case errors.Is(err, unix.EEXIST):
		if err := inCurAlready(name, src, dst); err != nil {
			return "", err
		}
		return dst, ErrClaimed
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EMLINK) || errors.Is(err, unix.EXDEV):
		return d.Claim(name) // no hard links here
	}
	return "", &os.LinkError{Op: "link", Old: src, New: dst, Err: err}
}

// Drop removes from new/ the names of messages taken (Take), once their
// claims are durable. A name already gone is no error.
func (d Dir) Drop(names ...string) error {
	var errs []error
	for _, n := range names {
		if err := os.Remove(d.Path("new", n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DropClaimed drops new/NAME, whose message Take found in cur/ already
// (ErrClaimed), once cur/ holds it durably (SyncClaims). It does so under
// the queue file's lock and only while cur/ and new/ name the same file:
// a release (Release) links the message into new/ before it unlinks it
// from cur/, under that lock, and a name dropped from new/ between the
// two would leave the file in no directory. It reports whether it
// dropped the name: false, nil when another process holds the lock (a
// release in progress: look again once it is done; homepost queue
// release signals the agent) or the name is gone from new/; an error
// satisfying errors.Is(err, os.ErrNotExist) when cur/ no longer holds
// the message (released meanwhile: claim new/NAME again with Take).
func (d Dir) DropClaimed(name string) (bool, error) {
	src, dst := d.Path("new", name), d.Path("cur", name+":2,")
	f, err := lockName(dst)
	if errors.Is(err, ErrBusy) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close() // the lock is held until the name is dropped
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !os.SameFile(a, b) {
		return false, fmt.Errorf("claim %s: another file of that name is in cur/", name)
	}
	if err := d.SyncClaims(); err != nil {
		return false, err
	}
	if err := d.Drop(name); err != nil {
		return false, err
	}
	return true, nil
}

// Leftover returns the name in new/ that still names m, a message in
// cur/ that the caller holds open under its lock (OpenLocked), or ""
// when there is none: a claim's name that a crash, or a drop that
// failed or found the lock busy (DropClaimed), left behind. Drop it once
// cur/ is synced, before the message can be retired: left in new/, it
// would be claimed again as a new message after the delivery.
func (d Dir) Leftover(m *Message) string {
	name, _, ok := strings.Cut(filepath.Base(m.Path), ":")
	if !ok || filepath.Base(filepath.Dir(m.Path)) != "cur" {
		return ""
	}
	a, err := m.f.Stat()
	if err != nil {
		return ""
	}
	b, err := os.Lstat(d.Path("new", name))
	if err != nil || !os.SameFile(a, b) {
		return ""
	}
	return name
}

// lockName opens the queue file at path, without following a link, and
// takes the lock that OpenLocked takes, without waiting: ErrBusy when
// another holds it; an error satisfying errors.Is(err, os.ErrNotExist)
// when path no longer names the file once it is locked.
func lockName(path string) (*os.File, error) {
	f, _, err := openRegular(path, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	if !stillNamed(f, path) {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, os.ErrNotExist)
	}
	return f, nil
}

// inCurAlready checks, when a claim finds its name in cur/ taken, that
// it is the same file as new/'s: claimed before. It returns an error
// satisfying errors.Is(err, os.ErrNotExist) when the name in new/ is
// gone meanwhile (its claim done and dropped), another error when cur/
// holds some other file.
func inCurAlready(name, src, dst string) error {
	a, err1 := os.Stat(src)
	if errors.Is(err1, os.ErrNotExist) {
		return err1
	}
	b, err2 := os.Stat(dst)
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		return fmt.Errorf("claim %s: another file of that name is in cur/", name)
	}
	return nil
}

// ErrClaimed means a message was found in cur/ already: see Claim.
var ErrClaimed = errors.New("claimed already")

// SyncClaims makes the claims made so far durable: after a power loss,
// a message whose copies were delivered must be found in cur/, where it
// is taken up as possibly delivered, not in new/, where it would be
// delivered again as new.
func (d Dir) SyncClaims() error { return safeio.Shared.Sync(nil, []string{d.Path("cur")}) }

// Find returns the path of the queue file with the given ID.
func (d Dir) Find(id string) (string, error) {
	for _, sub := range []string{"new", "cur"} {
		names, err := d.Names(sub)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		for _, n := range names {
			if strings.EqualFold(ID(n), id) {
				return d.Path(sub, n), nil
			}
		}
	}
	return "", fmt.Errorf("%s: no such message in the queue", id)
}

// Message is an open queue file.
type Message struct {
	Path string
	ID   string
	Env  *Envelope
	Size int64 // message bytes

	f       *os.File
	dataOff int64
	// body is the message, read with the rest of a small file (open).
	body   []byte
	jstart int64 // start of the journal
	valid  int64 // end of the valid journal
	end    int64 // file size
	// zeroTail: every byte from valid to end is NUL (or there is
	// none): a spare's old bytes zeroed at commit, past the records
	// written since. Records are written over them; anything else past
	// valid is a record torn by a crash, cut off before the next.
	zeroTail bool
	// JournalErr is set when the journal has a corrupt record; the
	// records before it are applied.
	JournalErr error
}

// ErrNotRegular means that a name in the queue is not a regular file:
// a FIFO, a symbolic link, a directory, a device. It is not a message.
var ErrNotRegular = errors.New("not a regular file")

func notRegular(path string, mode os.FileMode) error {
	kind := mode.Type().String()
	switch {
	case mode&os.ModeSymlink != 0:
		kind = "a symbolic link"
	case mode.IsDir():
		kind = "a directory"
	case mode&os.ModeNamedPipe != 0:
		kind = "a FIFO"
	case mode&os.ModeSocket != 0:
		kind = "a socket"
	case mode&os.ModeDevice != 0:
		kind = "a device"
	}
	return fmt.Errorf("%s: %w: %s", path, ErrNotRegular, kind)
}

// ErrNotOwned means that a queue file belongs to another user (and not
// to root): it is not delivered, and the agent sets it aside.
var ErrNotOwned = errors.New("queue file owned by another user, not delivered")

// ErrBusy means another process (homepost queue hold, say) holds the
// queue file's lock; try again shortly.
var ErrBusy = errors.New("queue file is locked by another process")

// Open reads a queue file's envelope and journal. The message itself is
// read on demand through Body.
func Open(path string) (*Message, error) { return openFile(path, false) }

// OpenLocked is Open under an exclusive flock held until Close, taken
// before the journal is read: whoever writes the journal (the agent,
// homepost queue) holds it, so that no record is lost or overwritten.
// It returns ErrBusy rather than wait.
func OpenLocked(path string) (*Message, error) { return openFile(path, true) }

func openFile(path string, lock bool) (*Message, error) {
	// Only a regular file is a queue file: a FIFO would block the
	// reader, a symbolic link would be followed (and its target
	// written over when the file is refilled), a directory would be retried
	// forever. Such a file is reported as not a queue file (the agent
	// sets it aside), and never opened but with O_NOFOLLOW and
	// O_NONBLOCK.
	if st, err := os.Lstat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, notRegular(path, st.Mode())
	} else if o := st.Sys().(*syscall.Stat_t).Uid; int(o) != os.Getuid() && o != 0 {
		// Only the user's programs (and root's) write queue files: one
		// of another user's got in while the outbox was open to others,
		// and its message is not the user's to deliver.
		return nil, fmt.Errorf("%s: %w (uid %d)", path, ErrNotOwned, o)
	}
	f, end, err := openRegular(path, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	if lock {
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			return nil, ErrBusy
		}
	}
	m, err := open(f, path, end, lock)
	if !stillNamed(f, path) {
		// Finished while we read it: the file became a spare (and
		// perhaps another message already) under another name.
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, os.ErrNotExist)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// stillNamed reports whether path still names the file open as f.
func stillNamed(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// wholeMax bounds the queue files that open reads in one read: nearly
// every message. Envelope, seal, journal and the message itself then
// come from memory: one system call where reading the parts one by one
// took seven, on the agent's path for every message.
const wholeMax = 64 << 10

// open reads the queue file f, of end bytes when it was opened; seal
// checks a sealed file's seal.
func open(f *os.File, path string, end int64, seal bool) (*Message, error) {
	var data []byte // the whole file, when it is small
	if end <= wholeMax {
		data = make([]byte, end)
		n, err := f.ReadAt(data, 0)
		if err != nil && (err != io.EOF || n < len(data)) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // cut short since its size was read
			}
			return nil, err
		}
	}
	var br *bufio.Reader
	if data != nil {
		br = bufio.NewReaderSize(bytes.NewReader(data), 4096)
	} else {
		br = bufio.NewReaderSize(f, 4096)
	}
	env, h, err := readEnvelope(br)
	if err != nil {
		return nil, err
	}
	size, hlen := h.size, h.len
	m := &Message{Path: path, ID: ID(filepath.Base(path)), Env: env, Size: size, f: f, dataOff: hlen, end: end}
	if size > m.end-hlen {
		return nil, fmt.Errorf("truncated: size says %d bytes, file has %d", size, m.end-hlen)
	}
	var src io.ReaderAt = f
	if data != nil {
		src = bytes.NewReader(data)
		m.body = data[hlen : hlen+size : hlen+size]
	}
	if h.sealOff > 0 && seal {
		if err := checkSeal(src, m.ID, h); err != nil {
			return nil, err
		}
	}
	jstart := hlen + size
	m.valid, m.jstart = jstart, jstart
	if jstart < m.end {
		br.Reset(io.NewSectionReader(src, jstart, m.end-jstart))
		n, jerr := readJournal(br, env)
		m.valid += n
		m.JournalErr = jerr
	}
	m.zeroTail = m.valid == m.end || (m.end-m.valid <= zeroMax && zeros(src, m.valid, m.end))
	return m, nil
}

// zeros reports whether f holds only NUL bytes from off to end.
func zeros(f io.ReaderAt, off, end int64) bool {
	b := make([]byte, end-off)
	if _, err := f.ReadAt(b, off); err != nil {
		return false
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Parse reads a queue file from memory; it exists for tests and fuzzing.
func Parse(data []byte) (*Envelope, []byte, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	env, h, err := readEnvelope(br)
	if err != nil {
		return nil, nil, err
	}
	size, hlen := h.size, h.len
	if size > int64(len(data))-hlen {
		return nil, nil, errors.New("truncated")
	}
	br = bufio.NewReader(bytes.NewReader(data[hlen+size:]))
	_, err = readJournal(br, env)
	return env, data[hlen : hlen+size], err
}

// Journaled reports whether anything was ever recorded for the message
// (a result, an expansion, a hold): then it was taken up before, and
// copies of it may exist already.
func (m *Message) Journaled() bool { return m.valid > m.jstart || m.JournalErr != nil }

// Body returns a reader of the message bytes (LF line endings).
func (m *Message) Body() *io.SectionReader {
	if m.body != nil {
		return io.NewSectionReader(bytes.NewReader(m.body), 0, m.Size)
	}
	return io.NewSectionReader(m.f, m.dataOff, m.Size)
}

// Reserve makes sure that n bytes of journal can be appended without a
// free block: the room past the valid journal is allocated (fallocate,
// the file's size unchanged), or, where the file system has no room,
// ErrNoRoom is returned. A copy handed to a command or the smarthost
// whose result could then not be recorded would be sent again by the
// next agent: such copies are not handed over without the room. Only a
// full file system or quota is refused; one that cannot allocate ahead
// (EOPNOTSUPP) is not, and the append is tried as before.
func (m *Message) Reserve(n int64) error {
	if !m.zeroTail {
		// A torn tail is cut off first, as Append cuts it (a
		// truncation would free the room allocated past it).
		if err := m.f.Truncate(m.valid); err != nil {
			return classify(fmt.Errorf("journal %s: %w", m.Path, err))
		}
		m.end, m.zeroTail = m.valid, true
	}
	err := unix.Fallocate(int(m.f.Fd()), unix.FALLOC_FL_KEEP_SIZE, m.valid, n)
	for err == unix.EINTR {
		err = unix.Fallocate(int(m.f.Fd()), unix.FALLOC_FL_KEEP_SIZE, m.valid, n)
	}
	if err == unix.ENOSPC || err == unix.EDQUOT {
		return fmt.Errorf("%w: journal %s: %v", ErrNoRoom, m.Path, err)
	}
	// Any other answer (no fallocate on this file system, an odd
	// one's EINVAL) holds nothing back: the append is tried as before.
	return nil
}

// ErrNoRoom is Reserve's error on a full file system.
var ErrNoRoom = errors.New("no room to record results")

// Append adds records to the journal and fsyncs the file, so that they
// survive a crash before the caller takes its next step. A torn tail
// left by an earlier crash is cut off first.
func (m *Message) Append(recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	var b []byte
	for _, r := range recs {
		b = r.append(b)
	}
	// Check the records on a copy; the envelope in memory changes only
	// once they are on disk, so a failed write leaves it as the file
	// says.
	next := *m.Env
	next.Rcpts = slices.Clone(m.Env.Rcpts)
	for _, r := range recs {
		if err := next.apply(r); err != nil {
			return err
		}
	}
	if !m.zeroTail {
		if err := m.f.Truncate(m.valid); err != nil {
			return classify(fmt.Errorf("journal %s: %w", m.Path, err))
		}
		m.end, m.zeroTail = m.valid, true
	}
	_, err := m.f.WriteAt(b, m.valid)
	if err == nil {
		err = m.f.Sync()
	}
	if err != nil {
		// Take back what may have reached the file, so that it says
		// what the envelope in memory says.
		m.takeBack(int64(len(b)))
		return classify(fmt.Errorf("journal %s: %w", m.Path, err))
	}
	m.valid += int64(len(b))
	m.end = max(m.end, m.valid)
	*m.Env = next
	return nil
}

// takeBack undoes a failed append of k bytes at valid. What reached the
// file is not known: os.File.WriteAt reports no byte written when its
// last write fails, even after earlier ones wrote some (a full disk
// cuts an append short), and those bytes, left past the valid journal
// in a tail believed clean, were read back after the next append wrote
// over their start (a corrupt record, or the failed records applied).
// They lie within k bytes from valid and within the file's size, over
// NUL bytes (Append cut any other tail first): they are zeroed, not cut
// off, since a truncation would also free the room allocated past the
// journal for results still to come (Reserve), and zeroing bytes in
// blocks the file holds needs no free block. Only if that fails is the
// file cut at valid.
func (m *Message) takeBack(k int64) {
	if st, err := m.f.Stat(); err == nil {
		size := st.Size()
		z := min(k, size-m.valid)
		if z <= 0 {
			m.end = max(m.end, size)
			return
		}
		if _, err := m.f.WriteAt(make([]byte, z), m.valid); err == nil {
			m.end, m.zeroTail = max(m.end, size), true
			return
		}
	}
	m.zeroTail = false
	if m.f.Truncate(m.valid) == nil {
		m.end, m.zeroTail = m.valid, true
	}
}

// Arrived is when the message was queued, to the microsecond where its
// queue ID allows: the envelope's "time" line holds whole seconds, and a
// delay measured from it would be off by up to a second. A queue ID
// starts with the arrival in microseconds, in 13 hex digits (newName);
// an ID that does not agree with the envelope's second is not used.
func (m *Message) Arrived() time.Time {
	if len(m.ID) >= 13 {
		if us, err := strconv.ParseInt(m.ID[:13], 16, 64); err == nil {
			if t := time.UnixMicro(us); t.Unix() == m.Env.Arrival.Unix() {
				return t
			}
		}
	}
	return m.Env.Arrival
}

// Close releases the file.
func (m *Message) Close() error { return m.f.Close() }
