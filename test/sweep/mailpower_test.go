//go:build linux && amd64

package sweep

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// TestMailPowerLossOrder records mail(1) with strace while it deletes,
// moves to ~/mbox and saves (TestMailQuitSweep's commands, without the
// message arriving) on a Maildir and on an mbox, and checks the order
// that a power loss needs, which a kill cannot show:
//
//	M1 before a message leaves the mailbox (an unlink or rename out of
//	   the Maildir's new/ or cur/; the rewritten mbox renamed over the
//	   old, or written over it in place), every copy written at a destination (~/mbox,
//	   ~/mail/saved) is fsynced after its last write, and every name
//	   made there (the file, its folder, a Maildir copy renamed out of
//	   tmp/) is made durable by an fsync of its directory;
//	M2 a file is fsynced after its last write before it is renamed into
//	   place (a Maildir copy out of tmp/, the rewritten mbox);
//	M3 at exit, every change of the mailbox's names and every copy at a
//	   destination is durable: a removal that a power loss undid would
//	   bring back a message the user deleted or moved;
//	M4 a message kept in a Maildir leaves new/ only once its name in
//	   cur/ is durable: a link into cur/, cur/ fsynced, then the unlink
//	   from new/. A rename takes the name out of new/ at once, and an
//	   fsync of new/ by another process (the agent's, after each
//	   delivery) can make that durable before cur/ holds the new name:
//	   on ext4 without a journal a power loss in between leaves the
//	   file in neither directory.
func TestMailPowerLossOrder(t *testing.T) {
	needStrace(t)
	for _, mc := range mailCases {
		if mc.spool {
			continue // written in place, not renamed (F1)
		}
		t.Run(mc.name, func(t *testing.T) {
			t.Parallel()
			mw := newMailWorld(t, mc)
			trace := filepath.Join(t.TempDir(), "trace")
			o := mw.w.record([]byte("d 1\nmbox 3\nsave 4 +saved\nq\n"), recorded, trace, "mail")
			if o.err != nil {
				t.Fatal(o.err)
			}
			calls := readTrace(t, trace)
			for _, v := range checkMailOrder(calls, mw) {
				t.Error(strings.ReplaceAll(v, mw.w.e.Home, "~"))
			}
			// The trace must hold what the rules are about.
			for _, want := range []string{mw.mbox, mw.saved, mw.box} {
				if !traceHas(calls, want) {
					t.Errorf("the trace never touches %s", want)
				}
			}
		})
	}
}

// checkMailOrder applies M1–M3 to a trace of mail.
func checkMailOrder(calls []call, mw *mailWorld) []string {
	var bad []string
	home := mw.w.e.Home
	under := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	dest := func(p string) bool { return under(p, mw.mbox) || under(p, filepath.Dir(mw.saved)) }
	box := func(p string) bool { return under(p, mw.box) }
	skip := func(p string) bool {
		return !under(p, home) || isLock(p) || strings.HasPrefix(filepath.Base(p), ".probe")
	}
	dirty := map[string]int{}      // file → line of its last write not yet fsynced
	pending := map[string][]call{} // directory → changes of its names not yet durable
	removed := 0
	told := map[string]bool{} // what M1 reported, once each
	// M4: the keys linked from new/ into cur/, and whether that name
	// in cur/ is durable yet.
	curDir, newDir := filepath.Join(mw.box, "cur"), filepath.Join(mw.box, "new")
	inCur := map[string]bool{}
	maildirKey := func(p string) string { k, _, _ := strings.Cut(filepath.Base(p), ":"); return k }
	note := func(dir string, c call) {
		if filepath.Base(dir) == "tmp" {
			return // names in a Maildir's tmp/ are nobody's mail
		}
		pending[dir] = append(pending[dir], c)
	}
	// leaves checks M1 at c, a step that takes a message out of the
	// mailbox.
	leaves := func(c call, what string) {
		removed++
		for p, line := range dirty {
			if dest(p) && !told[p] {
				told[p] = true
				bad = append(bad, fmt.Sprintf("M1 at trace line %d: %s while %s (written at line %d) is not fsynced\n\t%s", c.line, what, p, line, c.text))
			}
		}
		for dir, cs := range pending {
			for _, d := range cs {
				if (dest(dir) || dest(pathOf(d))) && !told[d.text] {
					told[d.text] = true
					bad = append(bad, fmt.Sprintf("M1 at trace line %d: %s while the name %s (line %d) is not durable in %s\n\t%s", c.line, what, pathOf(d), d.line, dir, c.text))
				}
			}
		}
	}
	for _, c := range calls {
		if !c.ok() {
			continue
		}
		switch c.name {
		case "openat":
			if len(c.args) < 3 {
				continue
			}
			p := atPath(c.args[0], c.args[1])
			if skip(p) || !strings.Contains(c.args[2], "O_CREAT") {
				continue
			}
			note(filepath.Dir(p), c)
			if strings.Contains(c.args[2], "O_TRUNC") {
				dirty[p] = c.line
			}
		case "write", "pwrite64", "writev", "pwritev", "ftruncate":
			_, p := fdPath(c.args[0])
			if skip(p) {
				continue
			}
			if p == mw.box && mw.mc.kind == "mbox" {
				leaves(c, "the mailbox written over in place")
			}
			dirty[p] = c.line
		case "fsync", "fdatasync":
			_, p := fdPath(c.args[0])
			delete(dirty, p)
			delete(pending, p)
			if p == curDir {
				for k := range inCur {
					inCur[k] = true
				}
			}
		case "syncfs":
			clear(dirty)
			clear(pending)
			for k := range inCur {
				inCur[k] = true
			}
		case "mkdirat":
			if p := atPath(c.args[0], c.args[1]); !skip(p) {
				note(filepath.Dir(p), c)
			}
		case "renameat", "renameat2":
			src, dst := atPath(c.args[0], c.args[1]), atPath(c.args[2], c.args[3])
			if skip(dst) {
				continue
			}
			if line, ok := dirty[src]; ok {
				bad = append(bad, fmt.Sprintf("M2 at trace line %d: %s renamed into place after a write (line %d) not fsynced\n\t%s", c.line, src, line, c.text))
			}
			delete(dirty, src)
			if dst == mw.box || (box(src) && !inTmp(src)) {
				leaves(c, "a message leaves the mailbox")
			}
			if filepath.Dir(src) == newDir && filepath.Dir(dst) == curDir {
				bad = append(bad, fmt.Sprintf("M4 at trace line %d: %s renamed out of new/: the name leaves new/ before cur/ holds it durably\n\t%s", c.line, src, c.text))
			}
			note(filepath.Dir(src), c)
			note(filepath.Dir(dst), c)
		case "unlinkat":
			p := atPath(c.args[0], c.args[1])
			if skip(p) {
				continue
			}
			delete(dirty, p)
			if box(p) && !inTmp(p) {
				leaves(c, "a message leaves the mailbox")
			}
			if durable, linked := inCur[maildirKey(p)]; filepath.Dir(p) == newDir && linked && !durable {
				bad = append(bad, fmt.Sprintf("M4 at trace line %d: %s unlinked from new/ before its link into cur/ is durable\n\t%s", c.line, p, c.text))
			}
			note(filepath.Dir(p), c)
		case "linkat":
			if p := atPath(c.args[2], c.args[3]); !skip(p) {
				note(filepath.Dir(p), c)
				if filepath.Dir(atPath(c.args[0], c.args[1])) == newDir && filepath.Dir(p) == curDir {
					inCur[maildirKey(p)] = false
				}
			}
		}
	}
	for p, line := range dirty {
		if dest(p) || box(p) {
			bad = append(bad, fmt.Sprintf("M3 at exit: %s (written at line %d) is not fsynced", p, line))
		}
	}
	for dir, cs := range pending {
		if dest(dir) || box(dir) || dir == filepath.Dir(mw.box) || dir == filepath.Dir(mw.mbox) {
			for _, c := range cs {
				bad = append(bad, fmt.Sprintf("M3 at exit: the change of a name in %s (line %d) is not durable\n\t%s", dir, c.line, c.text))
			}
		}
	}
	if removed == 0 {
		bad = append(bad, "the trace takes no message out of the mailbox")
	}
	return bad
}

// pathOf is the path a call names: its (last) path argument.
func pathOf(c call) string {
	switch c.name {
	case "renameat", "renameat2", "linkat":
		return atPath(c.args[2], c.args[3])
	case "openat", "mkdirat", "unlinkat":
		return atPath(c.args[0], c.args[1])
	}
	return ""
}

// The mail order checker itself: a move, a save and a delete in the
// right order pass, and each step taken out of order is reported.
func TestMailOrderRules(t *testing.T) {
	mw := &mailWorld{w: &world{e: &testenv.Env{Home: "/h"}}, mc: mailCases[0],
		box: "/h/Maildir", mbox: "/h/mbox", saved: "/h/mail/saved"}
	good := `
1 mkdirat(AT_FDCWD</>, "/h/mail", 0700) = 0
1 openat(AT_FDCWD</>, "/h", O_RDONLY|O_CLOEXEC) = 8</h>
1 fsync(8</h>) = 0
1 openat(AT_FDCWD</>, "/h/mail/saved", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 9</h/mail/saved>
1 openat(AT_FDCWD</>, "/h/mail", O_RDONLY|O_CLOEXEC) = 10</h/mail>
1 fsync(10</h/mail>) = 0
1 write(9</h/mail/saved>, "From a", 6) = 6
1 fsync(9</h/mail/saved>) = 0
1 openat(AT_FDCWD</>, "/h/mbox", O_RDWR|O_CREAT|O_EXCL|O_CLOEXEC, 0600) = 11</h/mbox>
1 fsync(8</h>) = 0
1 write(11</h/mbox>, "From a", 6) = 6
1 fsync(11</h/mbox>) = 0
1 unlinkat(AT_FDCWD</>, "/h/Maildir/new/1", 0) = 0
1 linkat(AT_FDCWD</>, "/h/Maildir/new/2", AT_FDCWD</>, "/h/Maildir/cur/2:2,S", 0) = 0
1 openat(AT_FDCWD</>, "/h/Maildir/cur", O_RDONLY|O_CLOEXEC) = 12</h/Maildir/cur>
1 fsync(12</h/Maildir/cur>) = 0
1 unlinkat(AT_FDCWD</>, "/h/Maildir/new/2", 0) = 0
1 unlinkat(AT_FDCWD</>, "/h/Maildir/new/3", 0) = 0
1 openat(AT_FDCWD</>, "/h/Maildir/cur", O_RDONLY|O_CLOEXEC) = 12</h/Maildir/cur>
1 fsync(12</h/Maildir/cur>) = 0
1 openat(AT_FDCWD</>, "/h/Maildir/new", O_RDONLY|O_CLOEXEC) = 12</h/Maildir/new>
1 fsync(12</h/Maildir/new>) = 0
`
	run := func(trace string) string {
		calls, _, err := parseTrace(strings.NewReader(strings.TrimSpace(trace) + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		var rules []string
		for _, v := range checkMailOrder(calls, mw) {
			rules = append(rules, v[:2])
		}
		return strings.Join(rules, ",")
	}
	if got := run(good); got != "" {
		t.Fatalf("a trace in order: %s", got)
	}
	drop := func(lines ...int) string {
		l := strings.Split(strings.TrimSpace(good), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			l = append(l[:lines[i]-1], l[lines[i]:]...)
		}
		return strings.Join(l, "\n")
	}
	for _, tc := range []struct {
		what string
		drop []int
		want string
	}{
		{"~/mbox not fsynced before the removals", []int{12}, "M1,M3"},
		{"~/mbox's name not durable before the removals", []int{10}, "M1,M3"},
		{"~/mail/saved's name not durable before the removals", []int{6}, "M1,M3"},
		{"Maildir new/ not fsynced at exit", []int{22}, "M3,M3,M3"},
		{"cur/ not fsynced between the link and the unlink from new/", []int{15, 16}, "M4"},
	} {
		if got := run(drop(tc.drop...)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.what, got, tc.want)
		}
	}
	// The mbox rewritten in place before ~/mbox is durable.
	mw.mc, mw.box = mailCases[1], "/h/inbox"
	inPlace := `
1 openat(AT_FDCWD</>, "/h/inbox", O_RDWR|O_CLOEXEC) = 5</h/inbox>
1 openat(AT_FDCWD</>, "/h/mbox", O_RDWR|O_CLOEXEC) = 11</h/mbox>
1 write(11</h/mbox>, "From a", 6) = 6
1 pwrite64(5</h/inbox>, "From b", 6, 0) = 6
1 fsync(11</h/mbox>) = 0
1 ftruncate(5</h/inbox>, 6) = 0
1 fsync(5</h/inbox>) = 0
`
	if got := run(inPlace); got != "M1" {
		t.Errorf("the mailbox written over in place before ~/mbox is durable: got %q, want M1", got)
	}
}
