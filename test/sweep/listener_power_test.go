package sweep

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"homepost/safeio"
	"homepost/test/testenv"
)

// TestListenerPowerLossOrder records "homepost agent" with strace while
// a client submits messages over its SMTP socket, and checks the order
// that a power loss leaves safe: a message is answered 250 only after
// its queue file's data and its name in outbox/new are durable, each by
// a sync (an fsync of the file or of new/, or a syncfs) that began after
// the file's last write and after the rename, and ended before the
// reply. A queue file synced before its rename must have been synced
// whole before it (sendmail's order); one renamed before its sync must
// be sealed (package outbox, seal.go), so that a torn one is refused.
// An fsync of the file alone makes its new name durable only where
// safeio.FsyncCoversRename says so (ext4), and there it must be seen.
func TestListenerPowerLossOrder(t *testing.T) {
	listenerPowerLoss(t, "")
}

// TestListenerPowerLossOrderJournaled is TestListenerPowerLossOrder on
// ext4 with a journal, where a message alone in its round is made
// durable, name and all, by one fsync of its queue file (as on ext4
// without one): the check accepts that fsync for the name, and must
// find it at least once.
func TestListenerPowerLossOrderJournaled(t *testing.T) {
	needStrace(t)
	listenerPowerLoss(t, testenv.Ext4(t, true))
}

// listenerPowerLoss runs the listener's scenario with its HOME under
// root ("": the test's temporary directory) and checks the trace.
func listenerPowerLoss(t *testing.T, root string) {
	needStrace(t)
	if root != "" {
		t.Setenv("TMPDIR", root)
	}
	me := testenv.Login(t)
	sc := &scenario{
		name:     "listener-power",
		listener: true,
		noOutbox: true,
		stores:   func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
		msgs:     msgs("lp", 3, []string{me + "@testhost.example"}, map[int]int{1: 20_000}),
	}
	w := sc.newWorld(t)
	trace := filepath.Join(t.TempDir(), "trace")
	agent := w.traceAgent(t, trace)
	acked, err := w.submit(agent.exited)
	agent.stop()
	if err != nil {
		t.Fatalf("submit: %v\n%s", err, agent.log.String())
	}
	if len(acked) != len(sc.msgs) {
		t.Fatalf("%d of %d messages answered 250", len(acked), len(sc.msgs))
	}
	newDir := w.e.Outbox("new")
	d, err := os.Open(newDir)
	if err != nil {
		t.Fatal(err)
	}
	covers := safeio.FsyncCoversRename(d)
	d.Close()
	if root != "" && !covers {
		t.Fatalf("%s is ext4 with a journal, but FsyncCoversRename says an fsync there does not make a new name durable", root)
	}
	calls := readTrace(t, trace)
	for _, v := range checkListenerOrder(calls, newDir, covers) {
		t.Error(strings.ReplaceAll(v, w.e.Home, "~"))
	}
	if covers {
		// Where no delivery rode on a session's round, the round was
		// the queue file's fsync alone.
		fast := 0
		for _, c := range calls {
			if c.name == "fsync" && c.ok() {
				if _, p := fdPath(c.args[0]); filepath.Dir(p) == newDir {
					fast++
				}
			}
		}
		if fast == 0 {
			t.Error("no queue file in outbox/new was made durable by an fsync of its own: every round took a syncfs")
		}
	}
}

var queuedAs = regexp.MustCompile(`Ok: queued as ([0-9A-Za-z]+)`)

// checkListenerOrder returns what is wrong with the syncs behind each
// "250 ... queued as ID" in a trace of the listener. covers: an fsync of
// the queue file begun after its rename makes its name durable too
// (safeio.FsyncCoversRename).
func checkListenerOrder(calls []call, newDir string, covers bool) []string {
	var bad []string
	replies := 0
	for _, reply := range calls {
		if reply.name != "write" || len(reply.args) < 2 {
			continue
		}
		m := queuedAs.FindStringSubmatch(reply.args[1])
		if m == nil {
			continue
		}
		replies++
		id := m[1]
		lastWrite, renamed, sealed := 0, 0, false
		for _, c := range calls {
			if c.line >= reply.start {
				break
			}
			if !c.ok() {
				continue
			}
			switch c.name {
			case "write", "pwrite64", "writev", "pwritev", "pwritev2", "ftruncate":
				if _, p := fdPath(c.args[0]); strings.Contains(p, id) && !strings.Contains(p, "/Maildir/") {
					lastWrite = c.line
					if strings.Contains(c.args[1], `\nseal `) {
						sealed = true
					}
				}
			case "rename", "renameat", "renameat2":
				dst := filepath.Clean(str(c.args[1]))
				if c.name != "rename" {
					dst = atPath(c.args[2], c.args[3])
				}
				if filepath.Dir(dst) == newDir && strings.Contains(filepath.Base(dst), id) {
					renamed = c.line
				}
			}
		}
		if lastWrite == 0 || renamed == 0 {
			bad = append(bad, "queue file "+id+": no write or no rename into new/ before its 250 in the trace")
			continue
		}
		// A sync is of the file, of new/, or of everything.
		synced := func(after int, of func(string) bool) (int, bool) {
			for _, c := range calls {
				if c.start <= after || !c.ok() {
					continue
				}
				if c.line >= reply.start {
					break
				}
				switch c.name {
				case "syncfs":
					return c.line, true
				case "fsync", "fdatasync":
					if _, p := fdPath(c.args[0]); of(p) {
						return c.line, true
					}
				}
			}
			return 0, false
		}
		dataAt, ok := synced(lastWrite, func(p string) bool { return strings.Contains(p, id) })
		if !ok {
			bad = append(bad, "queue file "+id+": answered 250 (line "+strconv.Itoa(reply.line)+") without a sync of its data begun after its last write (line "+strconv.Itoa(lastWrite)+")")
		}
		if _, ok := synced(renamed, func(p string) bool { return p == newDir || covers && strings.Contains(p, id) }); !ok {
			bad = append(bad, "queue file "+id+": answered 250 without a sync of outbox/new begun after its rename (line "+strconv.Itoa(renamed)+")")
		}
		if ok && dataAt > renamed && !sealed {
			bad = append(bad, "queue file "+id+": renamed into new/ (line "+strconv.Itoa(renamed)+") before its data was durable, and not sealed: a power loss can leave it torn and taken for mail")
		}
	}
	if replies == 0 {
		bad = append(bad, "no 250 reply in the trace")
	}
	return bad
}
