//go:build linux && amd64

package sweep

import (
	"fmt"
	"strings"
	"testing"
)

// TestMailBatchAppendLeavesNoCutOffCopy kills mail at every write to
// the destination while one command appends two large messages there,
// then starts mail again (mail -H): a save of both into an mbox folder
// from a Maildir, and the move of both to ~/mbox at quit from an mbox (made
// under the mailbox's locks, before its rewrite). The messages of one
// command share one note in the state directory, a mark a copy: after
// each kill, neither copy is left cut off at the destination, each is
// there at most once; after the save both are still whole in the
// mailbox, and after the move each is whole once in all: in the
// mailbox, or, where its copy was whole, in ~/mbox only (the mail
// started again completes the move of a whole copy).
func TestMailBatchAppendLeavesNoCutOffCopy(t *testing.T) {
	needKiller(t)
	needPython(t)
	msgs := mailMsgs()
	kept, moved := msgs[1], msgs[2] // 100 KB and 70 KB
	for _, c := range []struct {
		name, cmds string
		mc         mailCase
		dst        func(*mailWorld) string
	}{
		{"save", "save 2-3 +batch\nx\n", mailCases[0], func(mw *mailWorld) string { return mw.w.e.Path("mail", "batch") }},
		{"move", "unset hold\nmbox 2-3\nq\n", mailCases[1], func(mw *mailWorld) string { return mw.mbox }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			points := 0
			var items []readItem
			for n := 1; ; n++ {
				if n > maxPoints {
					t.Fatalf("still killed after %d writes", n)
				}
				mw := newMailWorld(t, c.mc)
				mw.cmds = c.cmds
				dst := c.dst(mw)
				o, stdout := mw.killMail("write", n)
				if o.err != nil {
					t.Fatalf("write #%d: %v", n, o.err)
				}
				if !o.killed {
					break
				}
				if !strings.HasSuffix(o.site, strings.ReplaceAll(dst, mw.w.e.Home, "~")+">)") {
					continue
				}
				points++
				said, err := mw.reopen()
				if err != nil {
					t.Errorf("write #%d (%s): mail -H after the kill: %v\n%s", n, o.site, err, said)
				}
				items = append(items, readItem{
					Label:  fmt.Sprintf("killed at write #%d (%s)\nmail said:\n%s\nthen:\n%s", n, o.site, stdout, said),
					Expect: expectOf(msgs),
					Stores: []readStore{{"mbox", dst}, {c.mc.kind, mw.box}},
				})
			}
			if points < 4 {
				t.Fatalf("mail was killed at %d writes to the destination, want several in each copy", points)
			}
			for _, r := range readStores(t, items) {
				at, in := r.Stores[0], r.Stores[1]
				for _, st := range r.Stores {
					for _, e := range st.Errors {
						t.Errorf("%s: %s: %s", r.Label, st.Path, e)
					}
				}
				for _, m := range []message{kept, moved} {
					id := m.msgID()
					if n := at.Torn[id]; n > 0 {
						t.Errorf("%s: %s holds %s cut off %d times", r.Label, at.Path, id, n)
					}
					if n := at.Whole[id]; n > 1 {
						t.Errorf("%s: %s holds %s whole %d times", r.Label, at.Path, id, n)
					}
					if c.name == "move" {
						if n, k := in.Whole[id], at.Whole[id]; n+k != 1 {
							t.Errorf("%s: %s is whole %d times in the mailbox and %d in %s, want once in all", r.Label, id, n, k, at.Path)
						}
					} else if n := in.Whole[id]; n != 1 {
						t.Errorf("%s: the mailbox holds %s whole %d times, want once", r.Label, id, n)
					}
				}
			}
			t.Logf("%d crash points at writes to the destination", points)
		})
	}
}
