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
