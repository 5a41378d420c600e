package sweep

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"homepost/test/testenv"
)

// TestRetirementsRideOnNextBatch records "homepost agent" with strace
// while sendmails queue messages one after another, as cron and scripts
// do: every message is a batch of its own. The Maildir new/ into which
// one batch's copy was renamed, and then its retirement, must be made
// durable by the next batch's sync (its claims'), not each by an fsync
// of its own: those were a second and a third flush of the disk per
// message beside the copy's. The last ones get syncs of their own once
// no mail came for a moment, before the files are recycled as spares. The fsync model (R4: no spare refilled before its
// retirement is durable; R5: all durable at exit) holds over the whole
// trace, and every message arrives once.
func TestRetirementsRideOnNextBatch(t *testing.T) {
	needStrace(t)
	me := testenv.Login(t)
	const n = 10
	sc := &scenario{
		name:   "retire",
		stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
	}
	w := sc.newWorld(t)
	m := w.model()
	trace := filepath.Join(t.TempDir(), "trace")
	// The agent's batches share their syncs through one syncfs only
	// while the machine holds less than 64 MB that other programs
	// wrote and that is not yet on disk (safeio.SyncBatch); above it,
	// as when make test's large-message tests run beside this one,
	// they fsync each copy and directory, and this test's premise
	// does not hold. What is unwritten is watched for the whole run.
	var most atomic.Int64
	watching := make(chan struct{})
	go func() {
		for {
			if d := unwritten(); d > most.Load() {
				most.Store(d)
			}
			select {
			case <-watching:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	agent := w.traceAgent(t, trace)
	w.e.WaitFor(func() bool { return strings.Contains(agent.log.String(), "agent started") }, "agent start")
	maildirNew := w.e.Path("Maildir", "new")
	// One after another, as a cron job's or a script's: each sendmail
	// exits before the next starts, and the agent delivers each on its
	// own or with the one before.
	// A gap of more than shareWithin between two sendmails' exits may
	// let the agent's wait for the next batch (retireWait, 100 ms) run
	// out: the syncs it then makes on its own are allowed for.
	const shareWithin = 50 * time.Millisecond
	gaps := 0
	var last time.Time
	for i := range n {
		w.e.MustSend(message{id: "rt" + strconv.Itoa(i) + "@sweep.test", size: 500}.text(), "-i", me)
		if now := time.Now(); i > 0 && now.Sub(last) > shareWithin {
			gaps++
		}
		last = time.Now()
	}
	w.e.WaitFor(func() bool { return len(testenv.Files(maildirNew)) == n }, "every copy in ~/Maildir/new")
	// No more mail: the last retirements get a sync of their own and
	// are recycled.
	w.e.WaitFor(func() bool { return len(testenv.Files(w.e.Outbox("cur"))) == 0 && onlySpares(w.e.Outbox("tmp")) },
		"outbox/cur empty and only spares in outbox/tmp")
	agent.stop()
	close(watching)

	calls := w.checkTrace(t, m, trace)
	if d := most.Load(); d > 48<<20 {
		t.Skipf("the machine held %d MB of unwritten data during the run: the agent fsyncs each copy and directory then, rather than share one syncfs", d>>20)
	}
	for _, dir := range []string{w.e.Outbox("cur"), maildirNew} {
		own := 0 // fsyncs of the directory itself
		for _, c := range calls {
			if c.name == "fsync" && c.ok() {
				if _, p := fdPath(c.args[0]); p == dir {
					own++
				}
			}
		}
		if own > 1+gaps {
			t.Errorf("%s was fsynced %d times for %d messages delivered one by one (%d gaps of more than %v between them): not left to the next batch's sync", dir, own, n, gaps, shareWithin)
		}
	}
	if got := len(testenv.Files(maildirNew)); got != n {
		t.Errorf("%d copies in ~/Maildir/new, want %d", got, n)
	}
}

// unwritten is the data written and not yet on disk, system-wide: the
// Dirty and Writeback lines of /proc/meminfo, as safeio reads them.
// Unknown counts as much.
func unwritten() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 1 << 40
	}
	var total int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "Dirty:" || f[0] == "Writeback:") {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 1 << 40
			}
			total += kb << 10
		}
	}
	return total
}

// onlySpares reports whether a directory holds nothing but spares.
func onlySpares(dir string) bool {
	for _, n := range testenv.Files(dir) {
		if !strings.HasPrefix(n, "spare.") {
			return false
		}
	}
	return true
}
