package courier

import (
	"context"

	"homepost/maildir"
	"homepost/outbox"
)

// Maildir stores copies in Maildirs (Copy.To is the directory), with
// package maildir's durable writer. Every directory that received a copy
// is fsynced once, after the whole batch (group commit); a copy is sent
// only once its directory is. A recovered copy is looked for by its name
// first, and not stored twice.
type Maildir struct{}

// Deliver implements Courier.
func (Maildir) Deliver(_ context.Context, copies []*Copy) []Result {
	res := make([]Result, len(copies))
	var dirs []maildir.Dir
	touched := map[maildir.Dir]bool{}
	touch := func(d maildir.Dir) {
		if !touched[d] {
			touched[d] = true
			dirs = append(dirs, d)
		}
	}
	ready := map[maildir.Dir]error{}
	for i, c := range copies {
		d := maildir.Dir(c.To)
		// Before the first copy of the batch: complete the Maildir, so
		// that no copy goes into one that a crash left without cur/
		// (readers refuse it). Three stats when it is whole.
		err, ok := ready[d]
		if !ok {
			err = d.Init()
			ready[d] = err
		}
		if err != nil {
			res[i] = localError(err)
			continue
		}
		if c.Recovered {
			if ok, err := d.Has(c.Name); err == nil && ok {
				// Stored before a crash, perhaps not yet synced.
				touch(d)
				res[i] = OK("already delivered")
				continue
			}
		}
		if err := d.Deliver(c.Name, c.Header, c.Body()); err != nil {
			res[i] = localError(err)
			continue
		}
		touch(d)
		res[i] = OK("delivered to maildir")
	}
	for _, d := range dirs {
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
