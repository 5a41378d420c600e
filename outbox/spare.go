package outbox

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
// Sixteen slots: a batch of a stream that arrives over several SMTP
// connections at once retires a dozen files or more together, and each
// that finds no free slot is unlinked, to be paid for again by a
// creation (an inode freed, then one allocated past it) a moment later.
// A sendmail that finds no spare tries every slot first: a failed
// rename costs microseconds, a creation after a burst half a
// millisecond.
const spareSlots = 16

func spareName(k int) string { return "spare." + strconv.Itoa(k) }

// takeSpare renames a spare to tmp/name and opens it for writing, and
// returns it with its size: it still holds an old message's bytes,
// which the draft writes over from the start and zeroes past its own
// end at commit. It returns nil when there is none, or when renameat2 is
// not supported here: the caller then creates the file.
func (d Dir) takeSpare(name string) (*os.File, int64) {
	dst := d.Path("tmp", name)
	for k := range spareSlots {
		err := unix.Renameat2(unix.AT_FDCWD, d.Path("tmp", spareName(k)), unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.ENOENT) {
			continue // taken by another sendmail, or never there
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
	return nil, 0
}

// openSpare opens a taken spare for writing and returns its size. Only a
// regular file is filled: a symlink or a FIFO planted as a spare is
// neither followed nor waited on (O_NOFOLLOW, O_NONBLOCK). The file is
// blocking again before it becomes an *os.File, which would otherwise
// set up the runtime's poller for it (an epoll instance, an eventfd and
// a thread's wake-ups: sendmail's hot path has no use for them).
func openSpare(path string) (*os.File, int64) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || unix.SetNonblock(fd, false) != nil {
		unix.Close(fd)
		return nil, 0
	}
	return os.NewFile(uintptr(fd), path), st.Size
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
	if err := os.Rename(m.Path, dst); err != nil {
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

// recycle makes the retired file at path a spare in the first free
// slot from slot from on, or unlinks it; it returns the slot to try
// next. Once it has a spare's name, a sendmail may be writing into it:
// nothing is done to it after the rename.
func recycle(path string, from int) (int, error) {
	tmp := filepath.Dir(path)
	for k := from; k < spareSlots; k++ {
		err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, filepath.Join(tmp, spareName(k)), unix.RENAME_NOREPLACE)
		if err == nil {
			return k + 1, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			break
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
