package smtpd

import (
	"os"
	"sync"

	"homepost/safeio"
)

// groupSync shares the disk's work among the sessions that end a message
// at the same time (group commit). A session commits its queue file in
// two steps, each through the committer: SyncFile before the rename into
// new/ (the file's data durable), SyncDir after it (the name durable).
// A small committer goroutine takes every waiter queued so far, makes
// all their files and directories durable at once (safeio.SyncBatch: one
// syncfs for many files where that is sound, else an fsync each, side by
// side), and answers them all. A waiter that arrives during a round waits
// for the next one, which begins after it asked: the sync that answers
// it always covers it.
//
// One connection gains nothing (it waits for each step in turn); eight
// connections ending messages together pay about two flushes of the
// disk between them instead of sixteen, so their rate rises above one
// message per durable write.
type groupSync struct {
	mu    sync.Mutex
	files []waiter
	dirs  map[string][]chan error
	kick  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type waiter struct {
	f  *os.File
	ch chan error
}

func newGroupSync() *groupSync {
	g := &groupSync{dirs: map[string][]chan error{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go g.run()
	return g
}

// syncBatch is the sync of one round; tests replace it.
var syncBatch = safeio.SyncBatch

// SyncFile returns after f's data is durable, by a sync that began after
// the call.
func (g *groupSync) SyncFile(f *os.File) error {
	ch := make(chan error, 1)
	if !g.enqueue(func() { g.files = append(g.files, waiter{f, ch}) }) {
		return f.Sync()
	}
	return <-ch
}

// SyncDir returns after an fsync (or syncfs) of dir that began after the
// call.
func (g *groupSync) SyncDir(dir string) error {
	ch := make(chan error, 1)
	if !g.enqueue(func() { g.dirs[dir] = append(g.dirs[dir], ch) }) {
		return safeio.SyncDir(dir)
	}
	return <-ch
}

// enqueue adds a waiter and wakes the committer; false once it stopped.
func (g *groupSync) enqueue(add func()) bool {
	g.mu.Lock()
	select {
	case <-g.done:
		g.mu.Unlock()
		return false
	default:
	}
	add()
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // a kick is pending: the committer will see us
	}
	return true
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
	files, dirs := g.files, g.dirs
	g.files, g.dirs = nil, map[string][]chan error{}
	g.mu.Unlock()
	if len(files) == 0 && len(dirs) == 0 {
		return
	}
	fs := make([]*os.File, len(files))
	for i, w := range files {
		fs[i] = w.f
	}
	ds := make([]string, 0, len(dirs))
	for d := range dirs {
		ds = append(ds, d)
	}
	err := syncBatch(fs, ds)
	for _, w := range files {
		w.ch <- err
	}
	for _, chs := range dirs {
		for _, ch := range chs {
			ch <- err
		}
	}
}

// stop ends the committer; later calls sync on their own.
func (g *groupSync) stop() {
	g.once.Do(func() {
		g.mu.Lock()
		close(g.done)
		g.mu.Unlock()
	})
}
