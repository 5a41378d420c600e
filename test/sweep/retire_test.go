package sweep

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// TestRetirementsRideOnNextBatch records "homepost agent" with strace
// while sendmails queue messages one after another, as cron and scripts
// do: every message is a batch of its own. The retirements of one batch
// must be made durable by the next batch's sync of outbox/cur (its
// claims'), not each by an fsync of cur/ of its own, which was a third
// flush of the disk per message beside the copy's two; the last ones by
// an fsync of their own once no mail came for a moment, before they are
// recycled as spares. The fsync model (R4: no spare refilled before its
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
	c := exec.Command("strace", "-f", "-qq", "-y", "-s", "64", "-o", trace, "--seccomp-bpf", "-e", "trace="+recorded,
		filepath.Join(w.e.Bin, "homepost"), "agent")
	c.Env, c.Dir = w.e.Vars, "/"
	var errb testenv.LockedBuffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { c.Wait(); close(exited) }()
	stop := func() {
		// Stop the agent itself (strace would only detach from it).
		if b, err := os.ReadFile(w.e.Path(".local", "state", "homepost", "agent.lock")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			c.Process.Kill()
			t.Fatalf("the agent did not stop:\n%s", errb.String())
		}
	}
	defer func() {
		select {
		case <-exited:
		default:
			stop()
		}
	}()
	w.e.WaitFor(func() bool { return strings.Contains(errb.String(), "agent started") }, "agent start")
	maildirNew := w.e.Path("Maildir", "new")
	for i := range n {
		w.e.MustSend(message{id: "rt" + strconv.Itoa(i) + "@sweep.test", size: 500}.text(), "-i", me)
		// Each its own batch: the next is queued once this one's copy
		// is in.
		w.e.WaitFor(func() bool { return len(testenv.Files(maildirNew)) > i }, "copy "+strconv.Itoa(i))
	}
	// No more mail: the last retirements get a sync of their own and
	// are recycled.
	w.e.WaitFor(func() bool { return len(testenv.Files(w.e.Outbox("cur"))) == 0 && onlySpares(w.e.Outbox("tmp")) },
		"outbox/cur empty and only spares in outbox/tmp")
	stop()

	calls := w.checkTrace(t, m, trace)
	cur := w.e.Outbox("cur")
	own := 0 // fsyncs of outbox/cur
	for _, c := range calls {
		if c.name == "fsync" && c.ok() {
			if _, p := fdPath(c.args[0]); p == cur {
				own++
			}
		}
	}
	if own > n/3 {
		t.Errorf("outbox/cur was fsynced %d times for %d messages delivered one by one: retirements are not waiting for the next batch's sync", own, n)
	}
	if got := len(testenv.Files(maildirNew)); got != n {
		t.Errorf("%d copies in ~/Maildir/new, want %d", got, n)
	}
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
