package courier

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"homepost/maildir"
)

// Mbox appends copies to mbox files (Copy.To is the path) under their
// locks, with package maildir's mbox writer, which fsyncs each copy.
//
// An mbox append is recorded before it begins (Copy.Mark), and a retry
// reads the mbox where the record says (Copy.Marked, maildir.Resolve):
// a whole copy there is not appended again, a cut-off one at the end is
// cut back first. Nothing is searched for and nothing guessed.
//
// A path that is a directory holding cur/, new/ and tmp/ is that
// Maildir, as mail(1) reads it: its copies go there through the Maildir
// courier (found by name after a crash, as any Maildir copy; no mbox
// append began, so no Mark was written). A ~/.forward line written
// without the trailing '/' of an existing Maildir resolves to the
// Maildir (package forwarder), but a copy journaled as an mbox target
// before the directory became one comes here. A directory that is no
// Maildir waits, with a reason that says what to write: like every
// local path problem the user can fix, it defers rather than bounces
// (no DSN to a mailing list for a slip in ~/.forward), and once the
// directory is a Maildir the copy is delivered there.
//
// A mailbox that stayed locked by another program past the wait is not
// waited for again for a minute: the rest of the batch, and the next
// batches, defer at once. The zero Mbox is ready to use; keep one for
// the life of the process.
type Mbox struct {
	// Now is the clock for the lock memory; nil is time.Now.
	Now func() time.Time

	mu     sync.Mutex
	locked map[string]time.Time // mbox path -> when it last stayed locked
}

// Deliver implements Courier.
func (m *Mbox) Deliver(ctx context.Context, copies []*Copy) []Result {
	res := make([]Result, len(copies))
	var dirs []*Copy
	var at []int
	for i, c := range copies {
		switch dir, md := DirectoryAt(c.To); {
		case md && c.Name == "":
			// Every local copy is named (Copy.Name); without one it
			// could not be found again after a crash.
			res[i] = Temp("4.3.0", "%s is a Maildir, and the copy has no name to store it under", c.To)
		case md:
			dirs = append(dirs, c)
			at = append(at, i)
		case dir:
			res[i] = notMaildir(c.To)
		default:
			res[i] = m.append(c)
		}
	}
	if len(dirs) > 0 {
		for k, r := range (Maildir{}).Deliver(ctx, dirs) {
			res[at[k]] = r
		}
	}
	return res
}

// DirectoryAt reports whether path, a file target written without a
// trailing '/', is a directory, and whether that directory is a Maildir:
// it holds cur/, new/ and tmp/ (maildir.IsMaildir, the test mail(1)
// reads a mailbox by). A symbolic link is followed, as it is for a
// Maildir written with its '/'.
func DirectoryAt(path string) (dir, isMaildir bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return false, false
	}
	return true, maildir.IsMaildir(filepath.Clean(path))
}

// notMaildir is the result for an mbox path that is a directory but no
// Maildir. The directory will not turn into a file by itself, but the
// user can make it a Maildir: the line ended with '/' is one, which the
// next copy for it completes with cur/, new/ and tmp/. The copy waits,
// and the reason says what to write instead of "is a directory", for a
// .forward or aliases line and for config.toml's store alike (the copy
// does not know which named it).
func notMaildir(path string) Result {
	return Temp("4.2.0", "%s is a directory but not a Maildir (no cur/, new/, tmp/): end the line that names it with '/' to make it one (the store: store = \"PATH/\" in config.toml)", path)
}

func (m *Mbox) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Mbox) append(c *Copy) Result {
	path := c.To
	m.mu.Lock()
	t, ok := m.locked[path]
	m.mu.Unlock()
	if ok && m.now().Sub(t) < time.Minute {
		return Temp("4.2.0", "%s: mailbox is locked by another program", path)
	}
	l, err := maildir.Mbox(path).LockForDelivery()
	m.mu.Lock()
	var le *maildir.LockError
	if errors.As(err, &le) {
		if m.locked == nil {
			m.locked = map[string]time.Time{}
		}
		m.locked[path] = m.now()
	} else if err == nil {
		delete(m.locked, path)
	}
	m.mu.Unlock()
	if errors.Is(err, syscall.EISDIR) {
		// Made a directory since Deliver looked.
		return notMaildir(path)
	}
	if err != nil {
		return localError(err)
	}
	defer l.Unlock()
	note := ""
	if c.Marked != nil {
		st, err := l.Resolve(*c.Marked, c.Sender)
		if err != nil {
			return localError(err)
		}
		switch st {
		case maildir.Whole:
			return OK("already delivered")
		case maildir.Cut:
			note = fmt.Sprintf(" (a copy cut off by a crash was removed at offset %d)", c.Marked.Off)
		case maildir.Foreign:
			// Another program rewrote the mbox since (a mail
			// reader's quit). A whole copy, only moved, is found
			// and not stored again; what a crash cut off may
			// have moved too, and is not cut at an offset that
			// now holds other mail. Said plainly, for the user
			// who finds it.
			at, found, err := l.FindWhole(*c.Marked, c.Sender, c.Header, c.Body())
			if err != nil {
				return localError(err)
			}
			if found {
				return OK(fmt.Sprintf("already delivered (found at offset %d of the mailbox, which another program rewrote since)", at))
			}
			note = fmt.Sprintf(" (the mailbox was rewritten by another program since an earlier attempt, cut off at offset %d: a partial copy of this message may remain in it, before this one)", c.Marked.Off)
		}
	}
	mark := c.Mark
	if mark == nil {
		mark = func(maildir.Mark) error { return nil }
	}
	if err := l.AppendMarked(c.Sender, c.Time, c.Header, c.Body, mark); err != nil {
		return localError(err)
	}
	return OK("delivered to mailbox" + note)
}
