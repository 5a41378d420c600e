package outbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
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
// record and moves it back into new/, where a running agent sees it at
// once. A message may move under us (an agent claims it from new/ into
// cur/); it is then looked up again by its ID.

// LockWait bounds how long Hold and Release wait for a delivery that
// holds a queue file's lock.
const LockWait = 30 * time.Second

// Delete removes the message at path: it is neither delivered nor
// bounced.
func (d Dir) Delete(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return d.again(path, d.Delete)
	}
	return err == nil, err
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
	if err := d.SyncClaims(); err != nil {
		// Not held. The message is in new/ and in cur/: an agent takes
		// it up from cur/ and drops its name from new/ once cur/ is
		// synced (Take).
		return false, err
	}
	if err := d.Drop(name); err != nil {
		return false, err
	}
	ok, err := d.mark(p, true)
	if err != nil {
		// Not held after all: give it back to new/, where an agent
		// will see it, rather than strand it in cur/.
		name, _, _ := strings.Cut(filepath.Base(p), ":")
		os.Rename(p, d.Path("new", name))
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
		// was already delivered. Should the rename be lost in a crash,
		// the next agent takes the message up from cur/ all the same.
		name, _, _ := strings.Cut(filepath.Base(path), ":")
		if err := os.Rename(path, d.Path("new", name)); err != nil {
			return true, fmt.Errorf("%s: released but left in cur/: %w", ID(name), err)
		}
	}
	return true, nil
}

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
