package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"homepost/courier"
	"homepost/forwarder"
)

// gated answers every copy once open is closed, and keeps what it was
// given: a smarthost that does not answer until then.
type gated struct {
	open chan struct{}
	mu   sync.Mutex
	got  map[string]int // queue file → copies taken
}

func (g *gated) Deliver(_ context.Context, copies []*courier.Copy) []courier.Result {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	res := make([]courier.Result, len(copies))
	for i, c := range copies {
		g.got[c.Rcpt]++
		res[i] = courier.OK("250 ok")
	}
	return res
}

// taken is how many copies for rcpt the smarthost took.
func (g *gated) taken(rcpt string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.got[rcpt]
}

// openQueueFiles counts the queue files of cur/ this process holds open.
func openQueueFiles(t *testing.T, cur string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(p, cur+"/") {
			n++
		}
	}
	return n
}

// Behind a smarthost that does not answer, at most remoteOutLimit
// batches of copies for it are out, holding their queue files open; the
// copies of later messages wait in the backlog with their files closed
// (a queue of thousands ran the agent out of file descriptors, and
// local mail waited for the smarthost). Their local copies are stored
// at once. A pass asked for meanwhile is answered once the backlog
// has gone out too; each message goes to the smarthost once.
func TestRemoteBacklogClosesFiles(t *testing.T) {
	defer func(n int) { remoteOutLimit = n }(remoteOutLimit)
	remoteOutLimit = 1
	ta := newTestAgent(t, "")
	g := &gated{open: make(chan struct{}), got: map[string]int{}}
	ta.couriers[forwarder.Remote] = g
	ta.async = true
	ctx := context.Background()
	const n = maxBatch + 40
	for i := range n {
		ta.queue("alice@box.example.org", ta.clock, fmt.Sprintf("r%d@remote.example", i), "alice")
	}
	if err := ta.runOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	cur := ta.box.Path("cur")
	if ta.remoteOut != 1 || len(ta.backlog) != n-maxBatch {
		t.Fatalf("%d batches out and %d messages in the backlog, want 1 and %d", ta.remoteOut, len(ta.backlog), n-maxBatch)
	}
	if k := openQueueFiles(t, cur); k > maxBatch {
		t.Errorf("%d queue files open behind the smarthost, want at most %d", k, maxBatch)
	}
	if k := len(ta.stored()); k != n {
		t.Errorf("%d local copies stored while the smarthost waits, want %d", k, n)
	}
	// A pass asked for now waits for the backlog too.
	start := monotonic()
	ta.passEnded(start)
	// New mail comes meanwhile: the backlog goes before it, as the
	// loop takes it up (runBacklog, then drain), or mail coming faster
	// than the smarthost takes it would keep the backlog waiting.
	const more = 10
	for i := range more {
		ta.queue("alice@box.example.org", ta.clock, fmt.Sprintf("new%d@remote.example", i))
	}
	close(g.open)
	first := true
	for ta.remoteOut > 0 || len(ta.backlog) > 0 {
		select {
		case b := <-ta.remoteDone:
			ta.remoteFinished(b)
		case <-time.After(10 * time.Second):
			t.Fatal("no answer from the smarthost's worker")
		}
		if ta.answering == nil {
			// Every message queued before the pass must have gone
			// out; the new ones came after it.
			for i := range n {
				if g.taken(fmt.Sprintf("r%d@remote.example", i)) == 0 {
					t.Fatalf("the pass was answered before r%d, in the backlog at its end, went out", i)
				}
			}
		}
		ta.runBacklog(ctx)
		ta.drain(ctx)
		if first {
			first = false
			if len(ta.backlog) != more {
				t.Errorf("after the first delivery came back, %d messages in the backlog, want the %d new ones", len(ta.backlog), more)
			}
			for _, s := range ta.backlog {
				if !strings.HasPrefix(s.sends[0].c.Rcpt, "new") {
					t.Errorf("%s is still in the backlog: new mail went before it", s.sends[0].c.Rcpt)
				}
			}
		}
		ta.answerIfDone()
	}
	if ta.answering != nil || ta.passAt != start {
		t.Errorf("the pass is not answered once everything went out")
	}
	for i := range n {
		if k := g.got[fmt.Sprintf("r%d@remote.example", i)]; k != 1 {
			t.Errorf("r%d: %d copies taken by the smarthost, want 1", i, k)
		}
	}
	for i := range more {
		if k := g.got[fmt.Sprintf("new%d@remote.example", i)]; k != 1 {
			t.Errorf("new%d: %d copies taken by the smarthost, want 1", i, k)
		}
	}
	if k := len(ta.stored()); k != n {
		t.Errorf("%d local copies stored, want %d", k, n)
	}
	ta.empty()
}
