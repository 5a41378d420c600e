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

// LockWait bounds how long Release waits for a process that holds a
// queue file's lock.
const LockWait = 30 * time.Second

// HoldWait is how long Hold waits for the lock before it asks for the
// hold instead (AskHold): a local delivery holds it for milliseconds, a
// delivery to the smarthost for as long as the smarthost takes.
var HoldWait = 2 * time.Second

// # A hold asked for a message being delivered
//
// A delivery holds the queue file's lock from the moment it takes the
// message up until its results are recorded: to the smarthost, that is
// as long as the smarthost takes to answer (data_timeout, 10 minutes by
// default, for one that never answers the end of the data), and the
// messages queued behind that delivery are held open too. Hold does not
// wait for it, as Postfix's postsuper -h does not: it asks for the hold
// instead, by an empty file named by the queue ID in the outbox's hold/
// directory, created and made durable (the file, then the directory)
// before it answers. Every delivery honours it: the agent takes no
// message up whose hold is asked (it writes the hold record itself, under
// the lock it then holds, and removes the file); a delivery queued
// behind the one in progress sends nothing of it; and the delivery in
// progress records the hold with its results, unless it delivered the
// message whole, which is then gone and held by nothing. Release removes
// the file (a hold asked and not yet recorded is released so), and so
// does Delete's caller. The file goes only once the hold record is
// durable; a crash in between leaves both, and the next look finds the
// message held already. Its removal is made durable before the message
// can be released, so that a power loss cannot bring it back to hold a
// message the user released. mailq shows such a message held.

// ErrHoldAsked is Hold's error for a message whose lock a delivery in
// progress holds: the hold is asked for (AskHold), durably, and takes
// effect as that delivery lets the message go, unless it delivers or
// bounces it.
var ErrHoldAsked = errors.New("the hold takes effect when the delivery in progress lets the message go")

// askedPath is the file that asks for the hold of the message id.
func (d Dir) askedPath(id string) string { return d.Path("hold", id) }

// AskHold records durably that the message id is to be held.
func (d Dir) AskHold(id string) error {
	if _, err := ParseID(id); err != nil {
		return err
	}
	dir := d.Path("hold")
	if err := os.Mkdir(dir, 0o700); err == nil {
		if err := safeio.SyncDir(string(d)); err != nil {
			return fmt.Errorf("%s: ask for the hold: %w", id, err)
		}
	} else if !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s: ask for the hold: %w", id, err)
	}
	f, err := os.OpenFile(d.askedPath(id), os.O_WRONLY|os.O_CREATE|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0o600)
	if err != nil {
		return fmt.Errorf("%s: ask for the hold: %w", id, err)
	}
	f.Close()
	if err := safeio.SyncDir(dir); err != nil {
		return fmt.Errorf("%s: ask for the hold: %w", id, err)
	}
	return nil
}

// HoldAsked reports whether the hold of the message id is asked for.
func (d Dir) HoldAsked(id string) bool {
	_, err := os.Lstat(d.askedPath(id))
	return err == nil
}

// AskedHolds returns the queue IDs whose hold is asked for: nil, in one
// failed open, when none is.
func (d Dir) AskedHolds() map[string]bool {
	names, err := d.Names("hold")
	if err != nil || len(names) == 0 {
		return nil
	}
	ids := make(map[string]bool, len(names))
	for _, n := range names {
		ids[n] = true
	}
	return ids
}

// DropAskedHold removes the request for the hold of the message id, and
// makes the removal durable; false when there was none.
func (d Dir) DropAskedHold(id string) (bool, error) {
	err := os.Remove(d.askedPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err == nil {
		err = safeio.SyncDir(d.Path("hold"))
	}
	if err != nil {
		return true, fmt.Errorf("%s: remove the request for its hold: %w", id, err)
	}
	return true, nil
}

// TakeAskedHold is for the caller that holds m's lock (OpenLocked): if
// m's hold is asked for, it records the hold in m's journal, durably,
// then removes the request. It reports whether m is held now because of
// a request.
func (d Dir) TakeAskedHold(m *Message) (bool, error) {
	if !d.HoldAsked(m.ID) {
		return false, nil
	}
	if !m.Env.Held {
		if err := m.Append(Record{Kind: 'h', Hold: true}); err != nil {
			return false, err
		}
	}
	_, err := d.DropAskedHold(m.ID)
	return true, err
}

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
// It waits HoldWait for a delivery that has the message, then asks for
// the hold instead (AskHold), and returns ErrHoldAsked.
func (d Dir) Hold(path string) (bool, error) { return d.hold(path, HoldWait) }

// HoldBusy is Hold for a message that a delivery is known to have (the
// agent says it is out to the smarthost, or waits behind that
// delivery): the hold is asked for without waiting for the lock.
func (d Dir) HoldBusy(path string) (bool, error) { return d.hold(path, 0) }

func (d Dir) hold(path string, wait time.Duration) (bool, error) {
	retry := func(p string) (bool, error) { return d.hold(p, wait) }
	if filepath.Base(filepath.Dir(path)) != "new" {
		return d.mark(path, true, wait)
	}
	// Claim it first, as an agent would (Take: its name leaves new/ once
	// the claim is durable): a held message in new/ would otherwise be
	// taken by the next agent that looks.
	name := filepath.Base(path)
	p, err := d.Take(name)
	if errors.Is(err, os.ErrNotExist) {
		return d.again(path, retry)
	}
	if errors.Is(err, ErrClaimed) {
		return d.mark(p, true, wait) // in cur/ already: hold it there
	}
	if err != nil {
		return false, err
	}
	// Its name leaves new/ once the claim is durable, under the lock
	// (DropClaimed): another hold and a release may have come between.
	if _, err := d.DropClaimed(name); errors.Is(err, os.ErrNotExist) {
		return d.again(path, retry)
	} else if err != nil {
		// Not held. The message is in new/ and in cur/: an agent takes
		// it up from cur/ and drops its name from new/ (DropClaimed).
		return false, err
	}
	ok, err := d.mark(p, true, wait)
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

// Release lets a held message at path be delivered again. A hold asked
// for and not yet recorded (AskHold) is released by removing the
// request, at once, without the lock.
func (d Dir) Release(path string) (bool, error) {
	asked, err := d.DropAskedHold(ID(filepath.Base(path)))
	if err != nil {
		return false, err
	}
	if asked {
		// Not held in its journal while a delivery has it (a held
		// message is not delivered): released, without waiting.
		f, err := lockName(path)
		if errors.Is(err, ErrBusy) {
			return true, nil
		}
		if err == nil {
			f.Close()
		}
	}
	ok, err := d.mark(path, false, LockWait)
	return ok || asked, err
}

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
// the queue file's lock, waiting up to wait for it.
func (d Dir) mark(path string, hold bool, wait time.Duration) (bool, error) {
	retry := d.Release
	if hold {
		retry = func(p string) (bool, error) { return d.hold(p, wait) }
	}
	m, err := openWaiting(path, wait)
	if errors.Is(err, os.ErrNotExist) {
		// Delivered and removed, or moved, while we waited for the lock.
		return d.again(path, retry)
	}
	if hold && errors.Is(err, ErrBusy) {
		// A delivery has it: ask for the hold, which that delivery
		// honours as it lets the message go (see AskHold). Asked once
		// it let go, the hold is recorded here after all.
		id := ID(filepath.Base(path))
		if err := d.AskHold(id); err != nil {
			return false, err
		}
		m, err = OpenLocked(path)
		if errors.Is(err, ErrBusy) {
			return true, ErrHoldAsked
		}
		if err != nil {
			// Gone (delivered whole, or deleted) or moved: the
			// request goes too; the message is looked for again.
			d.DropAskedHold(id)
			if errors.Is(err, os.ErrNotExist) {
				return d.again(path, retry)
			}
			return false, err
		}
	}
	if err != nil {
		return false, err
	}
	defer m.Close()
	if hold {
		// A request left by an earlier hold is done with once the
		// journal says held; the record first.
		defer func() {
			if m.Env.Held {
				d.DropAskedHold(m.ID)
			}
		}()
	}
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

// openWaiting is OpenLocked, waiting up to wait for a delivery that
// holds the lock.
func openWaiting(path string, wait time.Duration) (*Message, error) {
	deadline := time.Now().Add(wait)
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
