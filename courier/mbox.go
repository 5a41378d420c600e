package courier

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
func (m *Mbox) Deliver(_ context.Context, copies []*Copy) []Result {
	res := make([]Result, len(copies))
	for i, c := range copies {
		res[i] = m.append(c)
	}
	return res
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
			note = fmt.Sprintf(" (the mailbox changed since an earlier attempt at offset %d, whose copy, if any, stays)", c.Marked.Off)
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
