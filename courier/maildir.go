package courier

import (
	"context"
	"sync"

	"homepost/maildir"
	"homepost/outbox"
)

// Maildir stores copies in Maildirs (Copy.To is the directory), with
// package maildir's durable writer. Every directory that received a copy
// is fsynced once, after the whole batch (group commit); a copy is sent
// only once its directory is. A recovered copy is looked for by its name
// first, and not stored twice.
//
// The copies of a batch are written by a few goroutines at once: each
// copy's own order stays (write, fsync, rename into new/), but their
// fsyncs overlap, and the disk serves them together (the block layer
// merges the cache flushes that wait at the same time) instead of one
// after another.
type Maildir struct{}

// parallel bounds the copies written at the same time.
const parallel = 8

// Deliver implements Courier.
func (Maildir) Deliver(_ context.Context, copies []*Copy) []Result {
	res := make([]Result, len(copies))
	var dirs []maildir.Dir
	touched := make([]bool, len(copies))
	ready := map[maildir.Dir]error{}
	var todo []int
	for i, c := range copies {
		d := maildir.Dir(c.To)
		if _, ok := ready[d]; !ok {
			// Before the first copy of the batch: complete the
			// Maildir, so that no copy goes into one that a crash left
			// without cur/ (readers refuse it). Three stats when it is
			// whole.
			ready[d] = d.Init()
			dirs = append(dirs, d)
		}
		if err := ready[d]; err != nil {
			res[i] = localError(err)
			continue
		}
		todo = append(todo, i)
	}
	store := func(i int) {
		c := copies[i]
		d := maildir.Dir(c.To)
		if c.Recovered {
			if ok, err := d.Has(c.Name); err == nil && ok {
				// Stored before a crash, perhaps not yet synced.
				touched[i] = true
				res[i] = OK("already delivered")
				return
			}
		}
		if err := d.Deliver(c.Name, c.Header, c.Body()); err != nil {
			res[i] = localError(err)
			return
		}
		touched[i] = true
		res[i] = OK("delivered to maildir")
	}
	if len(todo) == 1 {
		store(todo[0])
	} else {
		var wg sync.WaitGroup
		next := make(chan int)
		for range min(parallel, len(todo)) {
			wg.Go(func() {
				for i := range next {
					store(i)
				}
			})
		}
		for _, i := range todo {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	for _, d := range dirs {
		used := false
		for i, c := range copies {
			used = used || (touched[i] && maildir.Dir(c.To) == d)
		}
		if !used {
			continue
		}
		err := d.Sync()
		if err == nil {
			continue
		}
		for i, c := range copies {
			if maildir.Dir(c.To) == d && res[i].Status == outbox.Sent {
				res[i] = Unknown("4.3.0", "%v", err)
			}
		}
	}
	return res
}

// localError turns a local delivery error into a result: disk full or
// a lock held elsewhere waits; anything else (a path that cannot exist)
// waits too, because the user can fix it and mail must not be lost.
func localError(err error) Result {
	if maildir.IsTemporary(err) {
		return Temp("4.3.0", "%v", err)
	}
	return Temp("4.2.0", "%v", err)
}
