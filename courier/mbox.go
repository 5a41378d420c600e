package courier

import (
	"context"
	"errors"
	"sync"
	"time"

	"homepost/maildir"
)

// Mbox appends copies to mbox files (Copy.To is the path) under their
// locks, with package maildir's mbox writer, which fsyncs each copy.
//
// A recovered copy is looked for near the end of the mbox, by its trace
// header without the date (identity), so that the retry does not append
// it twice.
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
	l, err := maildir.Mbox(path).Lock()
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
	if c.Recovered {
		if ok, err := l.ContainsNear(identity(c.Header), c.Size+int64(len(c.Header)), 64<<10); err == nil && ok {
			return OK("already delivered")
		}
	}
	if err := l.Append(c.Sender, c.Time, c.Header, c.Body()); err != nil {
		return localError(err)
	}
	return OK("delivered to mailbox")
}
