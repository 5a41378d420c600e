//go:build linux && amd64

package sweep

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestMailRecoverySweep crashes twice. mail is killed in the middle of
// its rewrite of an mbox in place (at a write over the mailbox, with
// its rewrite record complete), and then the next mail, which finishes
// that rewrite from the record when it locks the mbox (mail -H), is
// killed at every call of every swept system call in turn: the
// recovery's own writes (the rest of the new contents, the truncation,
// the record's removal) are reached by no other sweep, whose
// recoveries all run to the end. After a third, clean mail -H the
// mailbox must hold what TestMailQuitSweep asks after a kill, and no
// rewrite record may be left beside it.
func TestMailRecoverySweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	mc := mailCases[1] // the mbox
	if mc.kind != "mbox" || mc.spool {
		t.Fatalf("mailCases[1] is %s, not the mbox", mc.name)
	}
	// The first kill: the first write over the mailbox after one has
	// been made, found once (every world runs the same calls).
	first := 0
	for n := 1; n <= 50 && first == 0; n++ {
		mw := newMailWorld(t, mc)
		o, _ := mw.killMail("pwrite64", n)
		if o.err != nil {
			t.Fatal(o.err)
		}
		if !o.killed {
			t.Skipf("mail made %d pwrite64 calls, none over the mailbox after another: the rewrite is not made in place", o.calls)
		}
		if n > 1 && strings.Contains(o.site, "~/"+mc.box+">") {
			first = n
		}
	}
	if first == 0 {
		t.Fatal("mail was never killed at a second write over the mailbox")
	}
	t.Logf("the first kill: pwrite64 #%d", first)
	sweepEach(t, "mail-recovery", func(t *testing.T, sys string) int { return sweepRecovery(t, mc, first, sys) })
}

func sweepRecovery(t *testing.T, mc mailCase, first int, sys string) int {
	points, calls := killPoints(t, "mail -H "+sys, func() *mailWorld { return newMailWorld(t, mc) }, func(p *mailPoint) {
		var o outcome
		o, p.stdout = p.mw.killMail("pwrite64", first)
		p.label = fmt.Sprintf("mail -H %s #%d", sys, p.n)
		if o.err != nil || !o.killed {
			p.o = outcome{err: fmt.Errorf("the first kill, at pwrite64 #%d: killed %v, %v", first, o.killed, o.err)}
			return
		}
		p.o, _ = p.mw.killRun(sys, p.n, "", "-H")
		p.label = fmt.Sprintf("mail killed at pwrite64 #%d (%s), then mail -H at %s #%d", first, o.site, sys, p.n)
		if p.o.killed {
			p.label += " (killed at " + p.o.site + ")"
		}
		p.again, p.againErr = p.mw.reopen()
	})
	msgs := mailMsgs()
	var items []readItem
	for _, p := range points {
		mw := p.mw
		items = append(items, readItem{Label: p.label, Expect: expectOf(msgs), Stores: []readStore{
			{mc.kind, mw.box}, {"mbox", mw.mbox}, {mc.savedKind, mw.saved}}})
	}
	killed := 0
	for i, r := range readStores(t, items) {
		p := points[i]
		if p.o.killed {
			killed++
		}
		bad, torn := checkMail(msgs, r, p.stdout, false, p.againErr == nil)
		bad = append(bad, torn...)
		if p.againErr != nil {
			bad = append(bad, fmt.Sprintf("the clean mail -H: %v: %s", p.againErr, p.again))
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p.mw.box), "."+filepath.Base(p.mw.box)+".homepost*")); len(left) > 0 {
			bad = append(bad, fmt.Sprintf("left beside the mailbox: %v", left))
		}
		if len(bad) > 0 {
			t.Errorf("%s:\n\t%s\nthe first mail said:\n%s", r.Label, strings.Join(bad, "\n\t"), p.stdout)
		}
	}
	if killed < calls {
		t.Errorf("mail -H %s: %d crash points tried, but a whole run makes %d calls", sys, killed, calls)
	}
	return killed
}
