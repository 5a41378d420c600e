package smtpd

import (
	"sync"

	"homepost/safeio"
)

// groupSync shares one fsync of a directory among the sessions that
// wait for it at the same time (group commit). A session renames its
// queue file into new/, then calls Sync; a small committer goroutine
// takes every waiter queued so far, fsyncs each directory once, and
// answers them all. A waiter that arrives during a fsync waits for the
// next one, which begins after its rename: the fsync that answers it
// always covers it.
//
// One connection gains nothing (it waits for each fsync in turn); eight
// connections ending messages together pay about one fsync of new/
// between them, so their rate rises above one message per fsync.
type groupSync struct {
	mu      sync.Mutex
	waiting map[string][]chan error
	kick    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newGroupSync() *groupSync {
	g := &groupSync{waiting: map[string][]chan error{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go g.run()
	return g
}

// syncDir is the fsync; tests replace it.
var syncDir = safeio.SyncDir

// Sync returns after a fsync of dir that began after the call.
func (g *groupSync) Sync(dir string) error {
	ch := make(chan error, 1)
	g.mu.Lock()
	select {
	case <-g.done:
		g.mu.Unlock()
		return syncDir(dir)
	default:
	}
	g.waiting[dir] = append(g.waiting[dir], ch)
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // a kick is pending: the committer will see us
	}
	return <-ch
}

func (g *groupSync) run() {
	for {
		select {
		case <-g.kick:
		case <-g.done:
			g.flush()
			return
		}
		g.flush()
	}
}

// flush answers every waiter queued so far.
func (g *groupSync) flush() {
	g.mu.Lock()
	batch := g.waiting
	g.waiting = map[string][]chan error{}
	g.mu.Unlock()
	for dir, waiters := range batch {
		err := syncDir(dir)
		for _, w := range waiters {
			w <- err
		}
	}
}

// stop ends the committer; later calls fsync on their own.
func (g *groupSync) stop() {
	g.once.Do(func() {
		g.mu.Lock()
		close(g.done)
		g.mu.Unlock()
	})
}
