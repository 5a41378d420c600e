package safeio

import (
	"errors"
	"os"
	"sync"
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

	mu      sync.Mutex
	leading bool // a round is being synced
	queue   []request
}

// Shared is the group of this process.
var Shared Group

// request is what one caller asked to make durable.
type request struct {
	files []*os.File
	dirs  []string
	ch    chan error
}

// errLead tells a waiting request that it leads the next round.
var errLead = errors.New("lead the next round")

// Sync returns after files and dirs are durable, by a sync that began
// after the call, or with the error of that sync.
func (g *Group) Sync(files []*os.File, dirs []string) error {
	if len(files) == 0 && len(dirs) == 0 {
		return nil
	}
	r := request{files: files, dirs: dirs, ch: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.leading {
		g.mu.Unlock()
		if err := <-r.ch; err != errLead {
			return err
		}
		g.mu.Lock()
	}
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
