package safeio

import (
	"errors"
	"os"
	"sync"
	"time"
)

// Group shares the disk's work among the goroutines of a process that
// need files and directories made durable at the same time (group
// commit): the SMTP listener's sessions ending a message, and the
// agent's deliveries making their copies, claims and retirements
// durable.
//
// The first to ask, finding nobody syncing, leads: it takes every
// request queued so far (its own among them), makes all their files and
// directories durable at once (SyncBatch: one syncfs where that is
// sound, else an fsync each, side by side), and answers them all.
// Requests made meanwhile wait for the next round, which begins after
// they were made: the sync that answers a request always covers it, and
// began after the request's call. When its round is done the leader
// hands the lead to the first request still waiting, if any.
//
// One goroutine alone pays nothing for it: it syncs in its own
// goroutine, with no hand-off to another (on a virtual machine, waking
// another thread costs tens of microseconds). Eight SMTP sessions ending
// messages together pay one flush of the disk between them, and a
// delivery that asks while the listener syncs rides on its next round
// instead of adding a flush of its own.
type Group struct {
	// Batch makes a round durable; nil is SyncBatch. Tests replace it.
	Batch func(files []*os.File, dirs []string) error

	// Linger is how long SyncSoon may wait for a round that another
	// caller begins; nil or 0: it does not wait. It is called for each
	// SyncSoon, from any goroutine.
	Linger func() time.Duration

	mu      sync.Mutex
	leading bool // a round is being synced
	queue   []request
}

// Shared is the group of this process.
var Shared Group

// request is what one caller asked to make durable.
type request struct {
	files   []*os.File
	dirs    []string
	renamed bool // one file, renamed into dirs[0] (SyncRenamed)
	ch      chan error
}

// errLead tells a waiting request that it leads the next round.
var errLead = errors.New("lead the next round")

// Sync returns after files and dirs are durable, by a sync that began
// after the call, or with the error of that sync.
func (g *Group) Sync(files []*os.File, dirs []string) error {
	if len(files) == 0 && len(dirs) == 0 {
		return nil
	}
	r := g.enqueue(files, dirs)
	if !g.leading {
		return g.lead(r)
	}
	return g.await(r)
}

// SyncRenamed is Sync of f and dir for a file just renamed into dir
// under a new name. When its round holds nothing else, the round is
// safeio.SyncRenamed: one fsync of f, where that makes the name durable
// too (one session over one connection, with no delivery riding on
// it); else the round syncs everything as Sync does.
func (g *Group) SyncRenamed(f *os.File, dir string) error {
	r := g.enqueue([]*os.File{f}, []string{dir})
	g.queue[len(g.queue)-1].renamed = true
	if !g.leading {
		return g.lead(r)
	}
	return g.await(r)
}

// enqueue queues a request and returns it with g.mu held.
func (g *Group) enqueue(files []*os.File, dirs []string) request {
	r := request{files: files, dirs: dirs, ch: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	return r
}

// SyncSoon is Sync for work that can wait a little: when no round is
// under way, it waits up to Linger for one that another caller begins,
// and rides on it instead of beginning one of its own. The agent's
// deliveries use it while the SMTP listener receives: every session
// ends its message with a sync of the whole file system, which makes
// the delivery's copies and claims durable too, and a round of the
// delivery's own in between was a flush of the disk that the sessions
// then queued behind (over one connection, flush requests a message
// 1.25–1.31 without, 1.06–1.12 with).
func (g *Group) SyncSoon(files []*os.File, dirs []string) error {
	var wait time.Duration
	if g.Linger != nil {
		wait = g.Linger()
	}
	if wait <= 0 {
		return g.Sync(files, dirs)
	}
	if len(files) == 0 && len(dirs) == 0 {
		return nil
	}
	r := g.enqueue(files, dirs)
	if !g.leading {
		g.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case err := <-r.ch:
			// Taken into a round that another began, or handed the
			// lead.
			t.Stop()
			if err != errLead {
				return err
			}
			g.mu.Lock()
			return g.lead(r)
		case <-t.C:
		}
		g.mu.Lock()
		if !g.leading && g.waiting(r) {
			return g.lead(r) // nobody began one: begin it
		}
	}
	// In a round under way or done, or in the queue for the next.
	return g.await(r)
}

// await waits for r's answer, or for the lead of the next round. It is
// called with g.mu held.
func (g *Group) await(r request) error {
	g.mu.Unlock()
	if err := <-r.ch; err != errLead {
		return err
	}
	g.mu.Lock()
	return g.lead(r)
}

// waiting reports whether r is still in the queue. g.mu is held.
func (g *Group) waiting(r request) bool {
	for _, q := range g.queue {
		if q.ch == r.ch {
			return true
		}
	}
	return false
}

// lead syncs a round: every request queued, r among them. It is called
// with g.mu held, by the caller that found nobody leading or was handed
// the lead, and returns r's answer.
func (g *Group) lead(r request) error {
	g.leading = true
	round := g.queue
	g.queue = nil
	g.mu.Unlock()

	var fs []*os.File
	var ds []string
	seen := map[string]bool{}
	for _, q := range round {
		fs = append(fs, q.files...)
		for _, d := range q.dirs {
			if !seen[d] {
				seen[d] = true
				ds = append(ds, d)
			}
		}
	}
	batch := g.Batch
	if batch == nil {
		batch = SyncBatch
		if len(round) == 1 && round[0].renamed {
			batch = func(fs []*os.File, ds []string) error { return SyncRenamed(fs[0], ds[0]) }
		}
	}
	err := batch(fs, ds)
	for _, q := range round {
		q.ch <- err
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].ch <- errLead
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return <-r.ch
}
