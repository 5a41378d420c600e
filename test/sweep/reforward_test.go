package sweep

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// TestReforwardSweep kills the retry of messages that ~/.forward sent
// to the user's Maildir (\user, delivered) and to an mbox that takes
// nothing for now (under a regular file, deferred), after ~/.forward
// was changed to name another mbox: the retry resolves the recipient
// again, journals the new target and drops the old one, and delivers.
// At every crash point, the recovery (a flush, which retries the
// deferred copies) must leave each message exactly once in the Maildir
// (never again for the \user copy delivered before) and exactly once in
// the new mbox, and the outbox empty.
func TestReforwardSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	me := testenv.Login(t)
	forward := func(h, mbox string) {
		os.WriteFile(filepath.Join(h, ".forward"), []byte("\\"+me+"\n"+mbox+"\n"), 0o600)
	}
	sc := &scenario{
		name: "reforward",
		setup: func(h string) {
			os.WriteFile(filepath.Join(h, "afile"), nil, 0o600)
			forward(h, filepath.Join(h, "afile", "box.mbox"))
		},
		stores: func(h string) []store {
			return []store{{"maildir", filepath.Join(h, "Maildir")}, {"mbox", filepath.Join(h, "box.mbox")}}
		},
		msgs: msgs("rf", 2, []string{me}, map[int]int{1: 90_000}),
	}
	sc.run = func(w *world, sys string, n int) outcome {
		// The first attempt, whole: the Maildir copies stored, the
		// mbox ones deferred. Then the fix, and the retry under the
		// killer.
		log, err := w.once()
		if err != nil {
			return outcome{err: err}
		}
		if strings.Count(log, "status=deferred") != len(w.sc.msgs) {
			return outcome{err: fmt.Errorf("the first attempt did not defer every mbox copy:\n%s", log)}
		}
		forward(w.e.Home, filepath.Join(w.e.Home, "box.mbox"))
		return w.kill(nil, sys, n, "homepost", "flush")
	}
	sc.recover = func(w *world) (string, []string) {
		c := w.e.Cmd(nil, "homepost", "flush")
		var errb bytes.Buffer
		c.Stderr = &errb
		if err := c.Run(); err != nil {
			return errb.String(), []string{fmt.Sprintf("recovery: flush: %v", err)}
		}
		return errb.String(), nil
	}
	sc.prepare(t)
	sweepEach(t, sc.name, func(t *testing.T, sys string) int { return sweepCall(t, sc, sys) })
}

// TestUnforwardSweep kills the first delivery of messages that
// ~/.forward sends to the user's Maildir (\user) and to an mbox or a
// Maildir, then points that line at another mbox before the recovery (a
// flush): a copy that the crash left whole in the first place,
// unrecorded, is found (at its mark, by its name) and not dropped, one
// cut off is cut and dropped, and the copy goes to the new mbox unless
// the journal says it was delivered to the first. Each message is then
// in the user's Maildir exactly once, in each of the other two at most
// once and never cut off, and in one of them at least.
func TestUnforwardSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	me := testenv.Login(t)
	forward := func(h, to string) {
		os.WriteFile(filepath.Join(h, ".forward"), []byte("\\"+me+"\n"+to+"\n"), 0o600)
	}
	for _, kind := range []string{"mbox", "maildir"} {
		t.Run(kind, func(t *testing.T) {
			first := func(h string) string { return filepath.Join(h, "a.mbox") }
			if kind == "maildir" {
				first = func(h string) string { return filepath.Join(h, "a") + "/" }
			}
			sc := &scenario{
				name:  "unforward-" + kind,
				setup: func(h string) { forward(h, first(h)) },
				stores: func(h string) []store {
					s := []store{{"maildir", filepath.Join(h, "Maildir")}}
					if b, _ := os.ReadFile(filepath.Join(h, ".forward")); strings.Contains(string(b), first(h)) {
						s = append(s, store{kind, filepath.Clean(first(h))})
					}
					return s
				},
				msgs: msgs("uf", 2, []string{me}, map[int]int{1: 90_000}),
			}
			sc.recover = func(w *world) (string, []string) {
				forward(w.e.Home, filepath.Join(w.e.Home, "b.mbox"))
				c := w.e.Cmd(nil, "homepost", "flush")
				var errb bytes.Buffer
				c.Stderr = &errb
				if err := c.Run(); err != nil {
					return errb.String(), []string{fmt.Sprintf("recovery: flush: %v", err)}
				}
				a, _ := os.ReadFile(first(w.e.Home))
				if kind == "maildir" {
					for _, sub := range []string{"new", "cur"} {
						for _, n := range testenv.Files(filepath.Join(first(w.e.Home), sub)) {
							f, _ := os.ReadFile(filepath.Join(first(w.e.Home), sub, n))
							a = append(a, f...)
						}
					}
				}
				b, _ := os.ReadFile(filepath.Join(w.e.Home, "b.mbox"))
				var bad []string
				for _, m := range w.sc.msgs {
					in := 0
					for name, box := range map[string][]byte{"first": a, "b.mbox": b} {
						n := strings.Count(string(box), "Message-ID: "+m.msgID())
						whole := strings.Count(string(box), "END-OF-MESSAGE "+m.id+"\n")
						if n > 1 || whole != n {
							bad = append(bad, fmt.Sprintf("%s: %s %d times, %d of them whole", name, m.msgID(), n, whole))
						}
						in += whole
					}
					if in == 0 {
						bad = append(bad, fmt.Sprintf("%s in neither %s nor b.mbox", m.msgID(), first(w.e.Home)))
					}
				}
				return errb.String(), bad
			}
			sc.prepare(t)
			sweepEach(t, sc.name, func(t *testing.T, sys string) int { return sweepCall(t, sc, sys) })
		})
	}
}

// TestForwardAddedSweep kills the first delivery of messages to the
// user, whom nothing forwards (one target: the store, a Maildir or an
// mbox), then gives the user a ~/.forward that keeps a copy (\user) and
// adds an mbox before the recovery (a flush): a copy that the crash
// left in the store, unrecorded, is found there (under the recipient's
// name in a Maildir, at its mark in an mbox) and not stored again for
// the new expansion's \user.
func TestForwardAddedSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	me := testenv.Login(t)
	for _, kind := range []string{"maildir", "mbox"} {
		t.Run(kind, func(t *testing.T) {
			sc := &scenario{
				name:   "forward-added-" + kind,
				stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
				msgs:   msgs("fa", 2, []string{me}, map[int]int{1: 90_000}),
			}
			if kind == "mbox" {
				sc.config = func(string) string { return "store = \"mbox:~/inbox\"\n" }
				sc.stores = func(h string) []store { return []store{{"mbox", filepath.Join(h, "inbox")}} }
			}
			sc.recover = func(w *world) (string, []string) {
				os.WriteFile(filepath.Join(w.e.Home, ".forward"), []byte("\\"+me+"\n"+filepath.Join(w.e.Home, "b.mbox")+"\n"), 0o600)
				c := w.e.Cmd(nil, "homepost", "flush")
				var errb bytes.Buffer
				c.Stderr = &errb
				if err := c.Run(); err != nil {
					return errb.String(), []string{fmt.Sprintf("recovery: flush: %v", err)}
				}
				// The new mbox has the messages still queued at the
				// crash, each once and whole.
				b, _ := os.ReadFile(filepath.Join(w.e.Home, "b.mbox"))
				var bad []string
				for _, m := range w.sc.msgs {
					n := strings.Count(string(b), "Message-ID: "+m.msgID())
					whole := strings.Count(string(b), "END-OF-MESSAGE "+m.id+"\n")
					if n > 1 || whole != n {
						bad = append(bad, fmt.Sprintf("b.mbox: %s %d times, %d of them whole", m.msgID(), n, whole))
					}
				}
				return errb.String(), bad
			}
			sc.prepare(t)
			sweepEach(t, sc.name, func(t *testing.T, sys string) int { return sweepCall(t, sc, sys) })
		})
	}
}
