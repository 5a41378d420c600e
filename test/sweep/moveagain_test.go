//go:build linux && amd64

package sweep

import (
	"fmt"
	"strings"
	"testing"
)

// TestMailMoveAgainAfterCrash kills mail after its move to ~/mbox is
// done (the copy fsynced) and before the mailbox's rewrite is recorded
// (at the write of the record's header), which leaves the moved message
// in both, as mail(1) says a crash may. The user then does what comes
// next: starts mail again and quits with the same move. The note of
// appends the killed mail left names the copy it made, and the next
// mail reads it: the message must be in ~/mbox once, not twice.
func TestMailMoveAgainAfterCrash(t *testing.T) {
	needKiller(t)
	needPython(t)
	mc := mailCases[1] // the mbox
	if mc.kind != "mbox" || mc.spool {
		t.Fatalf("mailCases[1] is %s, not the mbox", mc.name)
	}
	msgs := mailMsgs()
	moved := msgs[2].msgID()
	tried := 0
	for n := 1; n <= 50; n++ {
		mw := newMailWorld(t, mc)
		mw.cmds = "mbox 3\nq\n"
		o, _ := mw.killMail("pwrite64", n)
		if o.err != nil {
			t.Fatal(o.err)
		}
		if !o.killed {
			break
		}
		if !strings.Contains(o.site, "homepost-rewrite") {
			continue
		}
		tried++
		_, again := mw.killRun("pwrite64", 0, "mbox 3\nq\n")
		label := fmt.Sprintf("mail (mbox 3, q) killed at pwrite64 #%d (%s), then mail with mbox 3, q again", n, o.site)
		r := readStores(t, []readItem{{Label: label, Expect: expectOf(msgs), Stores: []readStore{
			{mc.kind, mw.box}, {"mbox", mw.mbox}}}})[0]
		box, mbox := r.Stores[0], r.Stores[1]
		if box.Whole[moved] != 0 || mbox.Whole[moved] != 1 || mbox.Torn[moved] != 0 {
			t.Errorf("%s: the moved message %s is whole %d times in the mailbox and %d in ~/mbox (%d cut off), want 0 and 1\nmail said:\n%s",
				label, moved, box.Whole[moved], mbox.Whole[moved], mbox.Torn[moved], again)
		}
		break
	}
	if tried == 0 {
		t.Fatal("mail was never killed at the write of its rewrite record")
	}
}
