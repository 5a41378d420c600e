package smtpd

import (
	"errors"
	"os"
	"sync"

	"homepost/safeio"
)

// groupSync shares the disk's work among the sessions that end a message
// at the same time (group commit). A session's queue file is sealed
// (package outbox, seal.go): renamed into new/ as soon as it is written,
// then made durable with its name in one step, SyncSealed, before the
// 250. (SyncFile and SyncDir, the two steps of an unsealed file, serve
// the same way.)
//
// The first session to ask, finding nobody syncing, leads: it takes
// every request queued so far (its own among them), makes all their
// files and directories durable at once (safeio.SyncBatch: one syncfs
// for many files where that is sound, else an fsync each, side by side),
// and answers them all. Requests made meanwhile wait for the next round,
// which begins after they were made: the sync that answers a request
// always covers it. When its round is done the leader hands the lead to
// the first request still waiting, if any, and goes back to its session.
//
// One connection gains nothing from sharing, and pays nothing for it:
// its session syncs in its own goroutine, with no hand-off to another
// (on a virtual machine, waking another thread costs tens of
// microseconds, several times per message); its file and new/ take one
// syncfs, one flush of the disk, where sendmail's order takes two.
// Eight connections ending messages together pay about one flush
// between them instead of sixteen, so their rate rises above one
// message per durable write.
type groupSync struct {
	mu      sync.Mutex
	leading bool // a session is syncing a round
	queue   []request
}

// request is a file, a directory, or both, to make durable.
type request struct {
	f   *os.File // a queue file, or nil
	dir string   // a directory, or ""
	ch  chan error
}

// errLead tells a waiting request that it leads the next round.
var errLead = errors.New("lead the next round")

func newGroupSync() *groupSync { return &groupSync{} }

// syncBatch is the sync of one round; tests replace it.
var syncBatch = safeio.SyncBatch

// SyncFile returns after f's data is durable, by a sync that began after
// the call.
func (g *groupSync) SyncFile(f *os.File) error { return g.sync(request{f: f}) }

// SyncDir returns after an fsync (or syncfs) of dir that began after the
// call.
func (g *groupSync) SyncDir(dir string) error { return g.sync(request{dir: dir}) }

// SyncSealed returns after f's data and dir are durable, by syncs that
// began after the call (outbox.Sealer).
func (g *groupSync) SyncSealed(f *os.File, dir string) error { return g.sync(request{f: f, dir: dir}) }

func (g *groupSync) sync(r request) error {
	r.ch = make(chan error, 1)
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

	var files []*os.File
	var dirs []string
	seen := map[string]bool{}
	for _, q := range round {
		if q.f != nil {
			files = append(files, q.f)
		}
		if q.dir != "" && !seen[q.dir] {
			seen[q.dir] = true
			dirs = append(dirs, q.dir)
		}
	}
	err := syncBatch(files, dirs)
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
