//go:build linux && amd64

package sweep

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// editMark is the header field the editor adds: the edited text is the
// message with one more header line, so that its body, which the reader
// compares, is the same.
const editMark = "X-Edited: sweep"

// TestMailEditSweep kills mail(1) at every call of every swept system
// call while the user edits the first message of an mbox ("e 1", an
// editor that adds a header field) and quits: the rewrite writes the
// edited text in place of the old and moves every later message (170
// KB) by the field's length. (The first message is small: mail writes
// the text it gives the editor a line per write, and a large one would
// make a thousand crash points of no interest here.) After each kill mail is started
// again (mail -H); every message must then be in the mailbox exactly
// once and whole, the edited one as it was or as edited, and after a
// run that was not killed, as edited.
func TestMailEditSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	for _, mc := range mailCases {
		if mc.kind != "mbox" || mc.spool {
			// A Maildir's edit is a file written in tmp/, fsynced and
			// renamed over the old (maildir.Dir.Replace), the plainest
			// of steps, left out for time; the spool's rewrite is the
			// mbox's, its record kept in the state directory, which
			// TestMailQuitSweep/spool sweeps.
			continue
		}
		t.Run(mc.name, func(t *testing.T) {
			t.Parallel()
			if mc.skip != "" && os.Getenv(knownEnv) == "" {
				t.Skip(mc.skip)
			}
			sweepEach(t, "mail-edit-"+mc.name, func(t *testing.T, sys string) int { return sweepMailEdit(t, mc, sys) })
		})
	}
}

// newEditWorld is a mailWorld whose user edits message 1 and quits.
func newEditWorld(t *testing.T, mc mailCase) *mailWorld {
	t.Helper()
	mw := newMailWorld(t, mc)
	editor := mw.w.e.Path("editor.sh")
	script := fmt.Sprintf("#!/bin/sh\nsed -i '1a %s' \"$1\"\n", editMark)
	if err := os.WriteFile(editor, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	mw.vars = append(mw.vars, "EDITOR="+editor, "VISUAL="+editor)
	mw.cmds = "e 1\nq\n"
	return mw
}

func sweepMailEdit(t *testing.T, mc mailCase, sys string) int {
	points, calls := killPoints(t, fmt.Sprintf("mail edit %s %s", mc.name, sys), func() *mailWorld { return newEditWorld(t, mc) }, func(p *mailPoint) {
		p.o, p.stdout = p.mw.killMail(sys, p.n)
		p.label = fmt.Sprintf("mail edit (%s) %s #%d", mc.name, sys, p.n)
		if p.o.killed {
			p.label += " (killed at " + p.o.site + ")"
			p.again, p.againErr = p.mw.reopen()
		}
	})
	msgs := mailMsgs()[:4] // no message arrives
	var items []readItem
	for _, p := range points {
		items = append(items, readItem{Label: p.label, Expect: expectOf(msgs), Stores: []readStore{{mc.kind, p.mw.box}}})
	}
	killed := 0
	for i, r := range readStores(t, items) {
		p := points[i]
		if p.o.killed {
			killed++
		}
		bad := exactlyOnce(msgs, r)
		if p.againErr != nil {
			bad = append(bad, fmt.Sprintf("mail -H after the kill: %v: %s", p.againErr, p.again))
		}
		if n := edits(p.mw); n > 1 || (!p.o.killed && n != 1) {
			bad = append(bad, fmt.Sprintf("the edited text is in the mailbox %d times", n))
		}
		if len(bad) > 0 {
			t.Errorf("%s:\n\t%s\nmail said:\n%s", r.Label, strings.Join(bad, "\n\t"), p.stdout)
		}
	}
	if killed < calls {
		t.Errorf("mail edit (%s) %s: %d crash points tried, but a whole run makes %d calls", mc.name, sys, killed, calls)
	}
	return killed
}

// edits counts the edited texts in the mailbox: the lines editMark in
// an mbox, or in the files of a Maildir's new/ and cur/.
func edits(mw *mailWorld) int {
	count := func(b []byte) int { return bytes.Count(b, []byte("\n"+editMark+"\n")) }
	if mw.mc.kind != "maildir" {
		b, _ := os.ReadFile(mw.box)
		return count(b)
	}
	n := 0
	for _, sub := range []string{"new", "cur"} {
		names, _ := filepath.Glob(filepath.Join(mw.box, sub, "*"))
		for _, p := range names {
			b, _ := os.ReadFile(p)
			n += count(b)
		}
	}
	return n
}
