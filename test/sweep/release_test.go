package sweep

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// TestReleaseSweep kills "homepost queue release ALL" at every call of
// every swept system call, in turn: a release gives each held message
// back to outbox/new by a link, an fsync of new/ and the unlink from
// cur/, under the queue file's lock. After each kill, the user runs the
// release again, as its failure tells them to, and an agent delivers:
// every message must then be stored exactly once and whole, and the
// outbox must be empty.
func TestReleaseSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	me := testenv.Login(t)
	sc := &scenario{
		name: "release",
		// (The test HOME starts no delivery of its own: the recovery's
		// agent delivers, and nothing runs beside the killed command.)
		stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
		msgs:   msgs("rel", 2, []string{me}, map[int]int{1: 70_000}),
	}
	sc.prepare(t)
	sweepEach(t, "release", func(t *testing.T, sys string) int { return sweepRelease(t, sc, sys) })
}

func sweepRelease(t *testing.T, sc *scenario, sys string) int {
	var items []readItem
	points, calls := 0, 0
	for n := 1; ; n++ {
		if n > maxPoints {
			t.Fatalf("release %s: still killed after %d calls", sys, n)
		}
		w := sc.newWorld(t)
		if _, stderr, code := w.e.Run(nil, "homepost", "queue", "hold", "ALL"); code != 0 {
			t.Fatalf("hold: exit %d: %s", code, stderr)
		}
		if q := testenv.Files(w.e.Outbox("new")); len(q) != 0 {
			t.Fatalf("held, yet outbox/new holds %v", q)
		}
		o := w.kill(nil, sys, n, "homepost", "queue", "release", "ALL")
		label := fmt.Sprintf("release %s #%d", sys, n)
		if o.err != nil {
			t.Errorf("%s: %v", label, o.err)
		}
		if o.killed {
			points++
			label += " (killed at " + o.site + ")"
		}
		// What the crash left: each message in cur/ or new/ or both,
		// never in neither.
		for _, m := range sc.msgs {
			name := sc.names[m.id]
			_, errNew := os.Lstat(filepath.Join(w.e.Outbox("new"), name))
			_, errCur := os.Lstat(filepath.Join(w.e.Outbox("cur"), name+":2,"))
			if errNew != nil && errCur != nil {
				t.Errorf("%s: %s is in neither outbox/new nor outbox/cur", label, m.id)
			}
		}
		if o.killed {
			if _, stderr, code := w.e.Run(nil, "homepost", "queue", "release", "ALL"); code != 0 && code != 75 {
				t.Errorf("%s: the release run again: exit %d: %s", label, code, stderr)
			}
		}
		log, err := w.once()
		if err != nil {
			t.Errorf("%s: delivery: %v", label, err)
		}
		if l := w.leftovers(); l != "" {
			t.Errorf("%s: the outbox still holds %s after the delivery\n%s", label, l, log)
		}
		items = append(items, readItem{Label: label + "\nagent log:\n" + log,
			Stores: []readStore{{"maildir", w.e.Path("Maildir")}}, Expect: expectOf(sc.msgs)})
		if !o.killed {
			calls = o.calls
			break
		}
	}
	if points < calls {
		t.Errorf("release %s: %d crash points tried, but a whole run makes %d calls", sys, points, calls)
	}
	for _, r := range readStores(t, items) {
		if bad := exactlyOnce(sc.msgs, r); len(bad) > 0 {
			t.Errorf("%s:\n\t%s", r.Label, strings.Join(bad, "\n\t"))
		}
	}
	return points
}
