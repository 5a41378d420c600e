package outbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"homepost/safeio"
)

// What homepost queue does (Postfix's postsuper -d, -h and -H): Delete,
// Hold and Release act on one queue file each, by path (Find, All), and
// report false without an error when there was nothing to do: the
// message was already held, not held, or delivered and gone meanwhile.
//
// A hold is a record in the message's journal ('h'), written under the
// queue file's lock (OpenLocked), the lock every journal writer takes,
// so that it neither loses nor overwrites an agent's record. A held
// message lives in cur/, where no agent claims it; Release writes the
// record and gives it back to new/ (giveBack: a link, not a rename),
// where a running agent sees it at once. A message may move under us (an
// agent claims it from new/ into cur/); it is then looked up again by
// its ID.

// LockWait bounds how long Hold and Release wait for a delivery that
// holds a queue file's lock.
const LockWait = 30 * time.Second

// Delete removes the message at path: it is neither delivered nor
// bounced. It reports success only once the removal is durable (the
// directory fsynced): a removal that a power loss undid would bring the
// message back, and the next agent would deliver mail the user deleted.
// Another name of the same queue file goes too: a claim's link (Take)
// that a crash or a running agent left in new/ beside cur/, which would
// otherwise be delivered, or stay held, after "Deleted".
func (d Dir) Delete(path string) (bool, error) {
	st, _ := os.Lstat(path)
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return d.again(path, d.Delete)
	}
	if err != nil {
		return false, err
	}
	dirs := []string{filepath.Dir(path)}
	// The other name, looked up by name rather than by a listing of
	// the queue: ALL deletes every message.
	name, _, _ := strings.Cut(filepath.Base(path), ":")
	other := d.Path("new", name)
	if filepath.Base(filepath.Dir(path)) == "new" {
		other = d.Path("cur", name+":2,")
	}
	if ost, err := os.Lstat(other); err == nil && st != nil && os.SameFile(st, ost) {
		if err := os.Remove(other); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("%s: removed from %s/, but not from %s/: %w", ID(name), filepath.Base(dirs[0]), filepath.Base(filepath.Dir(other)), err)
		}
		dirs = append(dirs, filepath.Dir(other))
	}
	for _, dir := range dirs {
		if err := safeio.SyncDir(dir); err != nil {
			return false, fmt.Errorf("%s: removed, but not durably (a power loss may bring it back; run the delete again): %w", ID(name), err)
		}
	}
	return true, nil
}

// Hold keeps the message at path in the queue without delivering it.
func (d Dir) Hold(path string) (bool, error) {
	if filepath.Base(filepath.Dir(path)) != "new" {
		return d.mark(path, true)
	}
	// Claim it first, as an agent would (Take: its name leaves new/ once
	// the claim is durable): a held message in new/ would otherwise be
	// taken by the next agent that looks.
	name := filepath.Base(path)
	p, err := d.Take(name)
	if errors.Is(err, os.ErrNotExist) {
		return d.again(path, d.Hold)
	}
	if errors.Is(err, ErrClaimed) {
		return d.mark(p, true) // in cur/ already: hold it there
	}
	if err != nil {
		return false, err
	}
	// Its name leaves new/ once the claim is durable, under the lock
	// (DropClaimed): another hold and a release may have come between.
	if _, err := d.DropClaimed(name); errors.Is(err, os.ErrNotExist) {
		return d.again(path, d.Hold)
	} else if err != nil {
		// Not held. The message is in new/ and in cur/: an agent takes
		// it up from cur/ and drops its name from new/ (DropClaimed).
		return false, err
	}
	ok, err := d.mark(p, true)
	if err != nil {
		// Not held after all: give it back to new/, where an agent
		// will see it, rather than strand it in cur/; under the lock,
		// and not while another (an agent delivering it) holds it.
		if f, lerr := lockName(p); lerr == nil {
			d.giveBack(p)
			f.Close()
		}
	}
	return ok, err
}

// Release lets a held message at path be delivered again.
func (d Dir) Release(path string) (bool, error) { return d.mark(path, false) }

// ParseID reads a queue ID as mailq shows it: a trailing '*' (being
// delivered) or '!' (held) is ignored. It refuses what cannot be an ID,
// so that it never names a path.
func ParseID(s string) (string, error) {
	id := strings.TrimRight(strings.TrimSpace(s), "*!")
	if id == "" || strings.ContainsAny(id, "/.") {
		return "", fmt.Errorf("%q is not a queue ID", id)
	}
	return id, nil
}

// All returns the paths of every queued message, held ones included.
func (d Dir) All() ([]string, error) {
	var paths []string
	var errs []error
	for _, sub := range []string{"new", "cur"} {
		names, err := d.Names(sub)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, n := range names {
			paths = append(paths, d.Path(sub, n))
		}
	}
	return paths, errors.Join(errs...)
}

// mark writes the hold or release record of the message at path, under
// the queue file's lock.
func (d Dir) mark(path string, hold bool) (bool, error) {
	retry := d.Release
	if hold {
		retry = d.Hold
	}
	m, err := openWaiting(path)
	if errors.Is(err, os.ErrNotExist) {
		// Delivered and removed, or moved, while we waited for the lock.
		return d.again(path, retry)
	}
	if err != nil {
		return false, err
	}
	defer m.Close()
	if m.Env.Held == hold {
		return false, nil
	}
	if err := m.Append(Record{Kind: 'h', Hold: hold}); err != nil {
		return false, err
	}
	if !hold && filepath.Base(filepath.Dir(path)) == "cur" {
		// Back into new/: a running agent notices it there at once and
		// claims it as it claims any new message; its journal keeps what
		// was already delivered. Left in cur/, it is taken up from there
		// by the next agent that starts.
		if err := d.giveBack(path); err != nil {
			return true, fmt.Errorf("%s: released but left in cur/: %w", m.ID, err)
		}
	}
	return true, nil
}

// giveBack moves the message at path in cur/ back into new/, for the
// caller that holds the queue file's lock: it links the file into new/,
// fsyncs new/, and only then unlinks it from cur/. A rename would take
// the name out of cur/ at once, and the agent's fsync of cur/ for its
// claims could make that removal durable before new/ held the file
// durably: on a file system that writes the two directory blocks
// independently (ext4 without a journal, ext2), a power loss in between
// left the file in no directory. The unlink needs no fsync: a message
// that a power loss leaves in both is taken up from cur/, released by
// its journal. An agent that finds it in both meanwhile drops the name
// in new/ only under the same lock (DropClaimed), never between the
// link and the unlink. Where the file system has no hard links, it
// renames, and fsyncs new/.
func (d Dir) giveBack(path string) error {
	name, _, _ := strings.Cut(filepath.Base(path), ":")
	dst := d.Path("new", name)
	err := linkat(unix.AT_FDCWD, path, unix.AT_FDCWD, dst, 0)
	switch {
	case err == nil:
	case errors.Is(err, unix.EEXIST):
		// A name of it left in new/ (a claim's, never dropped) will
		// do; another file's will not.
		a, err1 := os.Stat(path)
		b, err2 := os.Lstat(dst)
		if err1 != nil || err2 != nil || !os.SameFile(a, b) {
			return fmt.Errorf("another file named %s is in new/", name)
		}
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EMLINK) || errors.Is(err, unix.EXDEV):
		// No hard links here (as Take): a rename, made durable in new/
		// at once.
		err := unix.Renameat2(unix.AT_FDCWD, path, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			err = safeio.Rename(path, dst) // no RENAME_NOREPLACE either
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: path, New: dst, Err: err}
		}
		return safeio.SyncDir(d.Path("new"))
	default:
		return &os.LinkError{Op: "link", Old: path, New: dst, Err: err}
	}
	if err := safeio.SyncDir(d.Path("new")); err != nil {
		return err // in both: taken up from cur/
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// linkat is unix.Linkat; tests replace it to refuse hard links, or to
// look between giveBack's link and its unlink.
var linkat = unix.Linkat

// openWaiting is OpenLocked, waiting up to LockWait for a delivery that
// holds the lock.
func openWaiting(path string) (*Message, error) {
	deadline := time.Now().Add(LockWait)
	for {
		m, err := OpenLocked(path)
		if !errors.Is(err, ErrBusy) {
			return m, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: queue file is busy: %w", ID(filepath.Base(path)), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// again looks the message up again after it moved under us (an agent
// claimed it from new/ into cur/) and retries act there.
func (d Dir) again(path string, act func(string) (bool, error)) (bool, error) {
	p, err := d.Find(ID(filepath.Base(path)))
	if err != nil || p == path {
		return false, nil // delivered and removed meanwhile
	}
	return act(p)
}
