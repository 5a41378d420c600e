package outbox

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"homepost/safeio"
)

// Spare queue files.
//
// A finished queue file is not unlinked but kept in tmp/ as a spare,
// with its blocks, which the next sendmail renames to its draft's name
// and writes over: a steady stream of mail then allocates and frees no
// inode and no block per message. That matters on ext4 without a
// journal (common on virtual machine images), which for minutes after an
// inode is freed makes every creation in its block group scan past it
// (recently_deleted in fs/ext4/ialloc.c): after a burst of deliveries,
// creating a queue file took half a millisecond. Elsewhere it saves an
// inode's allocation and freeing, and costs nothing.
//
// The blocks are kept too (the file is not emptied): freeing them costs
// the agent a discard request to the disk on file systems mounted with
// -o discard (about 0.15 ms each, measured), and sendmail their
// allocation again. A spare holds the old message's bytes; the draft
// writes its own from the first byte and, at commit, zeroes whatever
// of the old file lies past its end (up to zeroMax; a longer tail is cut
// off with ftruncate instead), so the journal that follows the message
// starts with NUL bytes, which never read as a record (package outbox's
// journal ends at the first line without a newline). No byte of the old
// message is ever read as the new one's.
//
// Spares are tmp/spare.0 to tmp/spare.N-1. Both sides rename with
// RENAME_NOREPLACE, so that no file is ever replaced: the agent puts a
// spare in the first free slot; sendmail takes the first one present. A
// slot another process won is just the next one tried; with no slot
// free the agent unlinks, and with no spare sendmail creates a file.
// What a crash leaves is at worst a spare holding two messages' bytes
// mixed, which the next taker writes over like any other.
//
// Sixty-four slots: the files of a stream that arrives over several SMTP
// connections are recycled a batch at a time, a batch's retirements once
// the next batch's sync has made them durable, while the listener takes
// spares one by one. A file that finds no free slot is unlinked, to be
// paid for again by a creation (an inode freed, then one allocated past
// it) a moment later: with sixteen slots that was a third of the files
// of eight connections.
const spareSlots = 64

// blindSlots are the slots a process tries before it has seen any filled:
// a sendmail that finds no spare pays a failed rename for each (a few
// microseconds), and the agent fills the lowest free slots first.
const blindSlots = 16

// spareMax is the largest queue file kept as a spare. A spare keeps
// its blocks (and the old message's bytes) until a later message takes
// it, which may never happen to one slot: a large message kept so
// would hold its space for as long as the agent runs. Sixty-four
// spares of at most this size hold 16 MB at worst; the messages of a
// stream, which spares are for, are far smaller.
const spareMax = 256 << 10

func spareName(k int) string { return "spare." + strconv.Itoa(k) }

// A spare hint is a process's guess of which slots of an outbox hold a
// spare: bit k set when slot k may. It only orders and bounds the
// renames tried, never decides what a file is: it starts with the
// blind slots set (a spare may be left from an earlier run or by
// another process), a take that finds a slot empty clears its bit, a
// recycle that fills one (or finds it full) sets it. In the agent, whose
// SMTP listener takes the spares its own deliveries recycle, a take then
// tries only slots that hold one (eight sessions taking at once cost
// fifteen failed renames a message when every take tried every slot),
// and a recycle tries the empty slots first. A sendmail is a process of
// its own: it tries the blind slots in order.
var spareHints sync.Map // the outbox's tmp/ → *atomic.Uint64

func spareHint(tmp string) *atomic.Uint64 {
	if h, ok := spareHints.Load(tmp); ok {
		return h.(*atomic.Uint64)
	}
	h := new(atomic.Uint64)
	h.Store(1<<blindSlots - 1)
	v, _ := spareHints.LoadOrStore(tmp, h)
	return v.(*atomic.Uint64)
}

// takeSpare renames a spare to tmp/name and opens it for writing, and
// returns it with its size: it still holds an old message's bytes,
// which the draft writes over from the start and zeroes past its own
// end at commit. It returns nil when there is none, or when renameat2 is
// not supported here: the caller then creates the file.
func (d Dir) takeSpare(name string) (*os.File, int64) {
	dst := d.Path("tmp", name)
	h := spareHint(d.Path("tmp"))
	for {
		// Take a slot that may hold a spare: its bit is cleared
		// first, so that takers here do not race for one spare.
		hint := h.Load()
		if hint == 0 {
			return nil, 0
		}
		k := bits.TrailingZeros64(hint)
		if !h.CompareAndSwap(hint, hint&^(1<<k)) {
			continue
		}
		err := unix.Renameat2(unix.AT_FDCWD, d.Path("tmp", spareName(k)), unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.ENOENT) {
			continue // taken by another process, or never there
		}
		if err != nil {
			return nil, 0
		}
		if f, size := openSpare(dst); f != nil {
			return f, size
		}
		os.Remove(dst)
		return nil, 0
	}
}

// openSpare opens a taken spare for writing and returns its size, or
// nil when it is not a regular file (see openRegular) or has another
// name besides the one just given it. A spare is always its file's only
// name (recycle makes sure), but a file system repaired after a crash
// can give it a second one: a rename into new/ that reached the disk
// while the removal of the spare's old name from tmp/ did not (ext4
// without a journal orders neither), which fsck then counts as two
// links. Writing the next message over it would overwrite the queued
// one; the caller creates a file instead, and only the spare's name is
// removed.
func openSpare(path string) (*os.File, int64) {
	f, st, err := openRegularStat(path, os.O_WRONLY)
	if err != nil {
		return nil, 0
	}
	if st.Nlink != 1 {
		f.Close()
		return nil, 0
	}
	return f, st.Size
}

// openRegular opens a regular file of the outbox with flags, an access
// mode (O_RDONLY, O_WRONLY or O_RDWR) and nothing else. Only a
// regular file is opened: a symbolic link is not followed (O_NOFOLLOW),
// a FIFO not waited on (O_NONBLOCK), and anything else is ErrNotRegular.
// The descriptor is blocking again before it becomes an *os.File, which
// would otherwise offer it to the runtime's poller (for each file four
// fcntl calls and a failing epoll_ctl; in sendmail, the poller's own
// set-up too: an epoll instance, an eventfd and a thread's wake-ups).
// It returns the file with its size; errors are os.OpenFile's.
func openRegular(path string, flags int) (*os.File, int64, error) {
	f, st, err := openRegularStat(path, flags)
	return f, st.Size, err
}

// openRegularStat is openRegular, returning the file's whole stat.
func openRegularStat(path string, flags int) (*os.File, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := unix.Open(path, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENXIO) {
		return nil, st, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	if err != nil {
		return nil, st, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, st, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, st, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	// Blocking again, in one call: F_SETFL sets only the status flags
	// (none of which is asked for here but O_NONBLOCK), so 0 clears it.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, 0); err != nil {
		unix.Close(fd)
		return nil, st, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), st, nil
}

// Retiring a queue file.
//
// A finished message leaves the queue in two steps, so that a batch
// shares one directory fsync and no file is refilled before its
// removal from cur/ is durable. Retire renames it from cur/ into tmp/
// under its own name (where no agent and no sendmail looks) and keeps
// it open; once the caller has made a batch's retirements durable
// (SyncClaims: one fsync of cur/), Recycle makes it a spare or unlinks
// it. Were a spare refilled before then, a power loss could bring the
// old name back into cur/ on a file that holds another message by now.
// A crash between the two steps leaves the file in tmp/, where Tidy
// finds it at the next start.

// Retire takes the queue file out of the queue (see above); the message
// is gone from cur/ at once. Call Recycle after cur/ is synced, or Close.
func (m *Message) Retire() error {
	dst := filepath.Join(filepath.Dir(filepath.Dir(m.Path)), "tmp", filepath.Base(m.Path))
	if err := safeio.Rename(m.Path, dst); err != nil {
		return err
	}
	m.Path = dst
	return nil
}

// Recycle makes a retired queue file a spare when a slot is free, else
// unlinks it, and closes it.
func (m *Message) Recycle() error { return Recycle(m) }

// Recycle recycles retired queue files, as Message.Recycle does. A slot
// found taken is not tried again for the next file: in a burst, when
// every slot is taken, a file costs one unlink, not four failed renames.
func Recycle(ms ...*Message) error {
	var errs []error
	next := 0
	for _, m := range ms {
		var err error
		m.f.Close()
		next, err = recycle(m.Path, next)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// recycle makes the retired file at path a spare in a free slot, or
// unlinks it; it returns the slot to try next. Slots are tried from
// slot from on, those the hint says are empty first. Once it has a
// spare's name, a sendmail may be writing into it: nothing is done to
// it after the rename.
//
// A file that another name still holds (a claim's name left in new/,
// which would have it claimed again) is only unlinked: a spare must be
// its file's only name, or two sendmails could each take one and write
// two messages into one file.
//
// A file larger than spareMax is unlinked as well, and so is one that
// holds more blocks than that: room allocated past its end for results
// (Message.Reserve: a kilobyte a copy for a command or the smarthost)
// stays with the file through every refill, and a small message to
// many recipients would keep it in a spare.
func recycle(path string, from int) (int, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil || st.Nlink != 1 || st.Size > spareMax || st.Blocks*512 > spareMax+journalReserve+int64(st.Blksize) {
		return from, os.Remove(path)
	}
	tmp := filepath.Dir(path)
	h := spareHint(tmp)
	var tried uint64
	for pass := range 2 {
		for k := from; k < spareSlots; k++ {
			if full := h.Load()&(1<<k) != 0; full != (pass == 1) || tried&(1<<k) != 0 {
				continue
			}
			tried |= 1 << k
			err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, filepath.Join(tmp, spareName(k)), unix.RENAME_NOREPLACE)
			if err == nil || errors.Is(err, unix.EEXIST) {
				h.Or(1 << k)
			}
			if err == nil {
				return k + 1, nil
			}
			if !errors.Is(err, unix.EEXIST) {
				return spareSlots, os.Remove(path)
			}
		}
	}
	return spareSlots, os.Remove(path)
}

// Remove takes the queue file out of the queue at once: Retire, a sync
// of cur/, Recycle.
func (m *Message) Remove() error {
	cur := filepath.Dir(m.Path)
	if err := m.Retire(); err != nil {
		m.f.Close()
		return err
	}
	if err := safeio.SyncDir(cur); err != nil {
		m.f.Close()
		return err
	}
	return m.Recycle()
}

// retired reports whether a name in tmp/ is a retired queue file: the
// name it had in cur/, with its info part.
func retired(name string) bool { return strings.Contains(name, ":2,") }

// Tidy recycles what a crash left between Retire and Recycle. It syncs
// cur/ first: the removals of those files from cur/ may not be durable.
func (d Dir) Tidy() error {
	names, err := d.Names("tmp")
	if err != nil {
		return err
	}
	var left []string
	for _, n := range names {
		if retired(n) {
			left = append(left, n)
		}
	}
	if len(left) == 0 {
		return nil
	}
	if err := d.SyncClaims(); err != nil {
		return err
	}
	var errs []error
	next := 0
	for _, n := range left {
		p := d.Path("tmp", n)
		f, err := os.OpenFile(p, os.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != nil {
			errs = append(errs, os.Remove(p))
			continue
		}
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			f.Close()
			errs = append(errs, os.Remove(p))
			continue
		}
		f.Close()
		next, err = recycle(p, next)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
