package sweep

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

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
func TestListenerPowerLossOrder(t *testing.T) {
	needStrace(t)
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
	for _, v := range checkListenerOrder(readTrace(t, trace), w.e.Outbox("new")) {
		t.Error(strings.ReplaceAll(v, w.e.Home, "~"))
	}
}

var queuedAs = regexp.MustCompile(`Ok: queued as ([0-9A-Za-z]+)`)

// checkListenerOrder returns what is wrong with the syncs behind each
// "250 ... queued as ID" in a trace of the listener.
func checkListenerOrder(calls []call, newDir string) []string {
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
		if _, ok := synced(renamed, func(p string) bool { return p == newDir }); !ok {
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
