//go:build linux && amd64

package sweep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"homepost/test/testenv"
)

// The durable writes of mail(1): what the user's commands change in the
// mailboxes. At quit, mail appends the messages bound for ~/mbox there
// (fsynced) before it removes them from the mailbox, saves ("save") go
// to their folder at once, and the mailbox is updated last: a Maildir by
// unlinks and renames, an mbox by a rewrite in place, recorded first
// (beside the mbox, or, in a directory the user may not create files in
// such as a mail spool, in the state directory) and finished by the next
// program that locks it. A crash may leave a message in both places,
// never in neither, and never touches a message the user kept.

// commands are the user's commands: message 1 deleted, 2 left unread,
// 3 moved to ~/mbox, 4 saved into ~/mail/saved (a Maildir on the
// Maildir's turn, else an mbox that the save creates); then, while mail runs,
// a message arrives in the mailbox (a shell escape delivers it, as the
// agent would), and mail quits.
func (mw *mailWorld) commands() string {
	if mw.cmds != "" {
		return mw.cmds
	}
	arrive := fmt.Sprintf("cat %s >> %s", mw.late, mw.box)
	if mw.mc.kind == "maildir" {
		arrive = fmt.Sprintf("cp %s %s", mw.late, filepath.Join(mw.box, "new", "1796999999.M0P1Q9.late"))
	}
	return "d 1\nmbox 3\nsave 4 +saved\n!" + arrive + "\nq\n"
}

// mailMsgs are the mailbox's messages, in the order of the commands,
// and the one that arrives last: the kept one larger than the writers'
// buffers (the mbox rewrite copies it in several writes), the moved one
// too (its append to ~/mbox is made of several writes), the one that
// arrives large enough to take a few writes of its own.
func mailMsgs() []message {
	return []message{
		{id: "mq-deleted@sweep.test", size: 300},
		{id: "mq-kept@sweep.test", size: 100_000},
		{id: "mq-moved@sweep.test", size: 70_000},
		{id: "mq-saved@sweep.test", size: 300},
		{id: "mq-arrived@sweep.test", size: 40_000},
	}
}

// mailCase is one kind of mailbox that mail quits on.
type mailCase struct {
	name string
	// config is the extra configuration; box is the mailbox under the
	// HOME, kind its kind ("maildir", "mbox").
	config, box, kind string
	// spool: the mailbox is named by $MAIL and lies in a directory
	// the user may not create files in (a mail spool), so that the
	// rewrite writes in place.
	spool bool
	// savedKind is the kind of the folder ~/mail/saved: a Maildir
	// (made before mail runs: a save goes into a Maildir only when it
	// exists) or an mbox (created by the save).
	savedKind string
	// skip, when set, is why the sweep is skipped: a finding that
	// fails it today.
	skip string
}

var mailCases = []mailCase{
	{name: "maildir", box: "Maildir", kind: "maildir", savedKind: "maildir"},
	{name: "mbox", config: "store = \"mbox:~/inbox\"\n", box: "inbox", kind: "mbox", savedKind: "mbox"},
	{name: "spool", box: "spool/inbox", kind: "mbox", savedKind: "mbox", spool: true},
}

// TestMailQuitSweep kills mail(1) at every call of every swept system
// call while it carries out the commands and quits, on a Maildir, an
// mbox, and an mbox in a spool directory. After each kill, mail is
// started again (mail -H: it opens the mailbox and lists it, as the
// user's next mail would; what the crash left half done is the next
// opener's to finish), and then: the kept
// message is in the mailbox exactly once and whole; the deleted one
// there at most once and whole; the moved one whole in the mailbox or
// in ~/mbox, not both (the mail started again completes a move whose
// copies are whole, and cuts back one cut off); the saved one whole in
// the mailbox or at its destination (in both at most once each),
// and at the destination once mail said so ("+saved" for the save,
// "Saved 1 message" for the move); the message that arrived while mail
// ran is in the mailbox once and whole (once the shell escape that
// delivered it is done); the mailbox never holds a copy cut off. A copy cut off at a destination (a kill in the middle of an
// append, which the next mail to start cuts back) is logged, not failed
// here: TestMailAppendLeavesNoCutOffCopy.
func TestMailQuitSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	for _, mc := range mailCases {
		t.Run(mc.name, func(t *testing.T) {
			t.Parallel()
			if mc.skip != "" && os.Getenv(knownEnv) == "" {
				t.Skip(mc.skip)
			}
			sweepEach(t, "mail-"+mc.name, func(t *testing.T, sys string) int { return sweepMail(t, mc, sys) })
		})
	}
}

// knownEnv, set, runs the scenarios skipped for a known finding.
const knownEnv = "HOMEPOST_SWEEP_KNOWN"

// mailWorld is a HOME whose mailbox holds mailMsgs.
type mailWorld struct {
	w      *world
	mc     mailCase
	box    string // the mailbox
	mbox   string // ~/mbox
	saved  string // ~/mail/saved
	late   string // the message that arrives while mail runs
	cmds   string // the user's commands in place of commands()'s
	vars   []string
	killed bool
}

func newMailWorld(t *testing.T, mc mailCase) *mailWorld {
	t.Helper()
	sc := &scenario{name: "mail-" + mc.name, config: func(string) string { return mc.config }, stores: func(string) []store { return nil }}
	w := sc.newWorld(t)
	mw := &mailWorld{w: w, mc: mc, box: w.e.Path(mc.box), mbox: w.e.Path("mbox"), saved: w.e.Path("mail", "saved")}
	msgs := mailMsgs()
	arrived := msgs[len(msgs)-1]
	msgs = msgs[:len(msgs)-1]
	mw.late = w.e.Path("late")
	late := []byte(arrived.text())
	if mc.kind != "maildir" {
		late = []byte("From sweep@example.org Thu Dec  3 17:49:06 2026\n" + arrived.text() + "\n")
	}
	if err := os.WriteFile(mw.late, late, 0o600); err != nil {
		t.Fatal(err)
	}
	switch mc.kind {
	case "maildir":
		for _, sub := range []string{"tmp", "new", "cur"} {
			if err := os.MkdirAll(filepath.Join(mw.box, sub), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		for i, m := range msgs {
			// Names that sort in the mailbox's order: mail lists a
			// Maildir by arrival (the time in the name).
			name := fmt.Sprintf("%d.M%dP1Q%d.sweep", 1796000000+i, i, i)
			if err := os.WriteFile(filepath.Join(mw.box, "new", name), []byte(m.text()), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	default:
		var b bytes.Buffer
		for i, m := range msgs {
			fmt.Fprintf(&b, "From sweep@example.org Thu Dec  3 17:4%d:06 2026\n%s\n", i, m.text())
		}
		if err := os.MkdirAll(filepath.Dir(mw.box), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mw.box, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if mc.savedKind == "maildir" {
		for _, sub := range []string{"tmp", "new", "cur"} {
			os.MkdirAll(filepath.Join(mw.saved, sub), 0o700)
		}
	}
	// A temporary directory in the HOME: what a killed mail leaves
	// there (the spool's new contents) goes with it.
	tmp := w.e.Path("tmpdir")
	os.MkdirAll(tmp, 0o700)
	mw.vars = append(append([]string{}, w.e.Vars...), "TMPDIR="+tmp)
	if mc.spool {
		mw.vars = append(mw.vars, "MAIL="+mw.box)
		noCreate(t, filepath.Dir(mw.box))
	}
	return mw
}

// noCreate makes dir a directory in which no file can be created, as a
// mail spool is to its users (root:mail, mode 2775): by its mode, or,
// for root, whom modes do not stop, by the immutable attribute. It
// skips the test where neither holds.
func noCreate(t *testing.T, dir string) {
	t.Helper()
	probe := filepath.Join(dir, ".probe")
	refused := func() bool {
		f, err := os.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			os.Remove(probe)
			return false
		}
		return errors.Is(err, os.ErrPermission)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	if refused() {
		return
	}
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot make %s a directory no file can be created in (running as root, and chattr +i fails: %v %s)", dir, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	if !refused() {
		t.Skipf("SKIP: files can still be created in %s", dir)
	}
}

// mailPoint is one crash point's run.
type mailPoint struct {
	mw     *mailWorld
	n      int
	o      outcome
	stdout string
	label  string
	// again is what mail said when it was started again after the
	// kill, againErr how it failed.
	again    string
	againErr error
}

// killPoints runs a scenario killed at its nth call of the swept call
// for n = 1, 2, ... (ahead of them at a time, each in a world of its
// own made by world), until a run ends without being killed: run kills
// point p's world at p.n and records the outcome. It returns every
// point and the calls the whole run made. what names the scenario.
func killPoints(t *testing.T, what string, world func() *mailWorld, run func(p *mailPoint)) ([]*mailPoint, int) {
	var points []*mailPoint
	for n := 1; ; n += ahead {
		if n > maxPoints {
			t.Fatalf("%s: still killed after %d calls", what, n)
		}
		ps := make([]*mailPoint, ahead)
		for i := range ps {
			ps[i] = &mailPoint{mw: world(), n: n + i}
		}
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(func() { run(p) })
		}
		wg.Wait()
		for _, p := range ps {
			if p.o.err != nil {
				t.Errorf("%s: %v", p.label, p.o.err)
			}
			points = append(points, p)
			if !p.o.killed {
				return points, p.o.calls
			}
		}
	}
}

func sweepMail(t *testing.T, mc mailCase, sys string) int {
	points, calls := killPoints(t, fmt.Sprintf("mail %s %s", mc.name, sys), func() *mailWorld { return newMailWorld(t, mc) }, func(p *mailPoint) {
		p.o, p.stdout = p.mw.killMail(sys, p.n)
		p.label = fmt.Sprintf("mail (%s) %s #%d", mc.name, sys, p.n)
		if p.o.killed {
			p.label += " (killed at " + p.o.site + ")"
			p.again, p.againErr = p.mw.reopen()
		}
	})
	var items []readItem
	msgs := mailMsgs()
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
		bad, torn := checkMail(msgs, r, p.stdout, !p.o.killed, p.o.killed && p.againErr == nil)
		if p.againErr != nil {
			bad = append(bad, fmt.Sprintf("mail -H after the kill: %v: %s", p.againErr, p.again))
		}
		// A kill between the link of the kept message into cur/ and
		// its unlink from new/ leaves two names of one file: listed
		// once all the same.
		if kept := "sweep " + strings.TrimSuffix(msgs[1].id, "sweep.test"); p.o.killed && p.againErr == nil && strings.Count(p.again, kept) != 1 {
			bad = append(bad, fmt.Sprintf("mail -H after the kill lists the kept message %d times:\n%s", strings.Count(p.again, kept), p.again))
		}
		if len(torn) > 0 {
			t.Logf("%s: %s", r.Label, strings.Join(torn, "; "))
		}
		if len(bad) > 0 {
			t.Errorf("%s:\n\t%s\nmail said:\n%s", r.Label, strings.Join(bad, "\n\t"), p.stdout)
		}
	}
	if killed < calls {
		t.Errorf("mail (%s) %s: %d crash points tried, but a whole run makes %d calls", mc.name, sys, killed, calls)
	}
	return killed
}

// checkMail lists what is wrong after mail ran (whole: it was not
// killed) and what was left cut off at a destination. settled: mail
// was started again after the kill, which completes or undoes quit's
// move to ~/mbox: the moved message is then in one place, not both.
func checkMail(msgs []message, r readResult, stdout string, whole, settled bool) (bad, torn []string) {
	box, mbox, saved := r.Stores[0], r.Stores[1], r.Stores[2]
	for _, st := range r.Stores {
		bad = append(bad, prefixAll(st.Path+": ", st.Errors)...)
	}
	deleted, kept, moved, sv, late := msgs[0].msgID(), msgs[1].msgID(), msgs[2].msgID(), msgs[3].msgID(), msgs[4].msgID()
	for _, id := range []string{deleted, kept, moved, sv, late} {
		if n := box.Torn[id]; n > 0 {
			bad = append(bad, fmt.Sprintf("the mailbox holds %s cut off %d times", id, n))
		}
	}
	if n := box.Whole[kept]; n != 1 {
		bad = append(bad, fmt.Sprintf("the kept message %s is whole %d times in the mailbox", kept, n))
	}
	// The message that arrived is there once mail said "!" (the shell
	// escape is done).
	if n, arrived := box.Whole[late], whole || strings.Contains(stdout, "\n!\n"); n > 1 || (arrived && n != 1) {
		bad = append(bad, fmt.Sprintf("the message that arrived while mail ran, %s, is whole %d times in the mailbox", late, n))
	}
	if n := box.Whole[deleted]; n > 1 || (whole && n != 0) {
		bad = append(bad, fmt.Sprintf("the deleted message %s is whole %d times in the mailbox", deleted, n))
	}
	for _, c := range []struct {
		id, what string
		dst      readStoreResult
		said     bool // mail said it was there
	}{
		{moved, "moved", mbox, strings.Contains(stdout, "Saved 1 message in")},
		{sv, "saved", saved, strings.Contains(stdout, `"+saved"`)},
	} {
		in, at := box.Whole[c.id], c.dst.Whole[c.id]
		switch {
		case in+at == 0:
			bad = append(bad, fmt.Sprintf("the %s message %s is lost: in neither the mailbox nor %s", c.what, c.id, c.dst.Path))
		case c.what == "moved" && settled && in+at != 1:
			bad = append(bad, fmt.Sprintf("the moved message %s is whole %d times in the mailbox and %d in %s once mail started again, want once in all", c.id, in, at, c.dst.Path))
		case in > 1 || at > 1:
			bad = append(bad, fmt.Sprintf("the %s message %s is whole %d times in the mailbox, %d in %s", c.what, c.id, in, at, c.dst.Path))
		case (c.said || whole) && at != 1:
			bad = append(bad, fmt.Sprintf("mail said the %s message %s was in %s, but it is not there", c.what, c.id, c.dst.Path))
		case whole && in != 0:
			bad = append(bad, fmt.Sprintf("the %s message %s is still in the mailbox after mail quit", c.what, c.id))
		}
		if n := c.dst.Torn[c.id]; n > 0 {
			torn = append(torn, fmt.Sprintf("%s holds the %s message cut off %d times", c.dst.Path, c.what, n))
		}
	}
	for _, id := range []string{deleted, kept, late} {
		if mbox.Whole[id]+mbox.Torn[id]+saved.Whole[id]+saved.Torn[id] > 0 {
			bad = append(bad, fmt.Sprintf("%s, which was neither moved nor saved, is in ~/mbox or ~/mail/saved", id))
		}
	}
	return bad, torn
}

// readStoreResult is one store of a readResult.
type readStoreResult = struct {
	Path   string         `json:"path"`
	Whole  map[string]int `json:"whole"`
	Torn   map[string]int `json:"torn"`
	Errors []string       `json:"errors"`
}

// reopen starts mail again after a kill, as the user would: mail -H
// opens the mailbox and lists its messages. It returns what mail said,
// and an error unless it exited 0 (or 1: no mail).
func (mw *mailWorld) reopen() (string, error) {
	c := exec.Command(filepath.Join(mw.w.e.Bin, "mail"), "-H")
	c.Env, c.Dir = mw.vars, "/"
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		err = nil
	}
	return string(out), err
}

// killMail runs mail under the killer, killed at the nth call of sys
// (n = 0: never), with the commands on its standard input, and returns
// the outcome and what mail wrote to its standard output.
func (mw *mailWorld) killMail(sys string, n int) (outcome, string) {
	return mw.killRun(sys, n, mw.commands())
}

// killRun runs mail with args under the killer, killed at the nth call
// of sys (n = 0: never), with stdin on its standard input, and returns
// the outcome and what mail wrote to its standard output.
func (mw *mailWorld) killRun(sys string, n int, stdin string, args ...string) (outcome, string) {
	w := mw.w
	out := filepath.Join(w.e.Home, fmt.Sprintf(".killer.%d.json", n))
	c := exec.Command(os.Args[0], append([]string{sys, strconv.Itoa(n), filepath.Join(w.e.Bin, "mail")}, args...)...)
	c.Env = append(append([]string{}, mw.vars...), killerEnv+"="+out)
	c.Dir = "/"
	c.Stdin = strings.NewReader(stdin)
	var stdout, errb bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &errb
	defer os.Remove(out)
	if err := c.Run(); err != nil {
		return outcome{err: fmt.Errorf("killer: %v: %s", err, errb.String())}, stdout.String()
	}
	b, err := os.ReadFile(out)
	var v verdict
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		return outcome{err: fmt.Errorf("killer: %v: %s", err, errb.String())}, stdout.String()
	}
	o := outcome{killed: v.Killed, site: strings.ReplaceAll(v.Site, w.e.Home, "~"), stderr: errb.String(), calls: v.Calls}
	switch {
	case v.Err != "":
		o.err = errors.New("killer: " + v.Err)
	case !v.Killed && v.Exit > 1: // 1: no mail (mail -H, -e)
		o.err = fmt.Errorf("mail exited %d: %s", v.Exit, o.stderr)
	}
	return o, stdout.String()
}

// TestMailAppendLeavesNoCutOffCopy kills mail in the middle of its
// append of the moved message to ~/mbox (at a write to ~/mbox once part
// of the copy is there), then starts mail again (mail -e): the copy cut
// off must not stay in ~/mbox, where every reader shows it as a message,
// cut off, beside the whole one still in the mailbox (and the next quit
// appends another). As the deliveries' appends are cut back after a
// crash by their journal's mark, mail's appends (a move at quit, save)
// are by the note it keeps of each in its state directory, which the
// next mail reads when it starts.
func TestMailAppendLeavesNoCutOffCopy(t *testing.T) {
	needKiller(t)
	needPython(t)
	for n := 1; n <= 100; n++ {
		mw := newMailWorld(t, mailCases[0])
		o, _ := mw.killMail("write", n)
		if o.err != nil {
			t.Fatal(o.err)
		}
		if !o.killed {
			t.Fatalf("mail was never killed at a write to ~/mbox with part of the copy there (%d writes)", o.calls)
		}
		if st, err := os.Stat(mw.mbox); err != nil || st.Size() == 0 || !strings.HasSuffix(o.site, "~/mbox>)") {
			continue
		}
		msgs := mailMsgs()
		before := readStores(t, []readItem{{Label: o.site, Expect: expectOf(msgs), Stores: []readStore{{"mbox", mw.mbox}}}})[0]
		if before.Stores[0].Torn[msgs[2].msgID()] == 0 {
			t.Fatalf("killed at write #%d (%s): ~/mbox holds no cut-off copy to cut back", n, o.site)
		}
		again := exec.Command(filepath.Join(mw.w.e.Bin, "mail"), "-e")
		again.Env = mw.vars
		again.Dir = "/"
		out, err := again.CombinedOutput()
		if code := again.ProcessState.ExitCode(); code != 0 && code != 1 {
			t.Fatalf("mail -e after the kill: %v: %s", err, out)
		}
		t.Logf("mail -e after the kill: %s", out)
		r := readStores(t, []readItem{{Label: o.site, Expect: expectOf(msgs), Stores: []readStore{{"mbox", mw.mbox}, {"maildir", mw.box}}}})[0]
		if torn := r.Stores[0].Torn[msgs[2].msgID()]; torn > 0 {
			t.Errorf("killed at write #%d (%s), then mail started again: ~/mbox holds the moved message cut off %d times, whole %d times",
				n, o.site, torn, r.Stores[0].Whole[msgs[2].msgID()])
		}
		if whole := r.Stores[1].Whole[msgs[2].msgID()]; whole != 1 {
			t.Errorf("killed at write #%d (%s): the moved message is whole %d times in the mailbox, want once", n, o.site, whole)
		}
		return
	}
}

// TestQueueDeleteIsDurable records "homepost queue delete" with strace,
// of a message waiting in outbox/new and of one held in outbox/cur: the
// removal of its queue file must be durable (its directory fsynced, or
// the file system synced) before the command exits and says "Deleted":
// else a power loss brings the message back, and the next agent
// delivers mail the user deleted.
func TestQueueDeleteIsDurable(t *testing.T) {
	needStrace(t)
	for _, held := range []bool{false, true} {
		name := "new"
		if held {
			name = "held"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sc := &scenario{name: "delete", stores: func(string) []store { return nil }}
			w := sc.newWorld(t)
			w.e.MustSend(message{id: "del@sweep.test", size: 300}.text(), "-i", "someone@example.org")
			if held {
				if _, stderr, code := w.e.Run(nil, "homepost", "queue", "hold", "ALL"); code != 0 {
					t.Fatalf("hold: exit %d: %s", code, stderr)
				}
			}
			trace := filepath.Join(t.TempDir(), "trace")
			if o := w.record(nil, recorded, trace, "homepost", "queue", "delete", "ALL"); o.err != nil {
				t.Fatal(o.err)
			}
			if l := w.leftovers(); l != "" {
				t.Fatalf("the outbox still holds %s after the delete", l)
			}
			for _, v := range checkRemovalsDurable(readTrace(t, trace), w.e.Outbox("")) {
				t.Error(strings.ReplaceAll(v, w.e.Home, "~"))
			}
		})
	}
}

// checkRemovalsDurable lists the queue files removed from outbox new/ or
// cur/ whose removal no later sync (an fsync of the directory, a
// syncfs) made durable before the trace ends.
func checkRemovalsDurable(calls []call, outbox string) []string {
	var bad []string
	removed := 0
	for i, c := range calls {
		if c.name != "unlinkat" || !c.ok() || len(c.args) < 2 {
			continue
		}
		p := atPath(c.args[0], c.args[1])
		dir := filepath.Dir(p)
		if dir != filepath.Join(outbox, "new") && dir != filepath.Join(outbox, "cur") {
			continue
		}
		removed++
		synced := false
		for _, d := range calls[i+1:] {
			if !d.ok() {
				continue
			}
			if _, fp := fdPath(firstArg(d)); d.name == "syncfs" || ((d.name == "fsync" || d.name == "fdatasync") && fp == dir) {
				synced = true
				break
			}
		}
		if !synced {
			bad = append(bad, fmt.Sprintf("trace line %d: %s removed, and %s never synced after it: a power loss brings the message back\n\t%s", c.line, p, dir, c.text))
		}
	}
	if removed == 0 {
		bad = append(bad, "the trace removes no queue file from outbox/new or outbox/cur")
	}
	return bad
}

func firstArg(c call) string {
	if len(c.args) == 0 {
		return ""
	}
	return c.args[0]
}

// TestHoldSweep kills "homepost queue hold ALL" at every call of every
// swept system call, in turn: a hold claims each message from
// outbox/new as an agent does (a link into cur/, cur/ synced, the name
// in new/ dropped) and records the hold in its journal. After each
// kill the user runs the hold again, as its failure tells them to: an
// agent must then deliver nothing, and once the messages are released,
// every one exactly once and whole.
func TestHoldSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	me := testenv.Login(t)
	sc := &scenario{
		name:   "hold",
		stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
		msgs:   msgs("hld", 2, []string{me}, nil),
	}
	sc.prepare(t)
	sweepEach(t, "hold", func(t *testing.T, sys string) int { return sweepHold(t, sc, sys) })
}

func sweepHold(t *testing.T, sc *scenario, sys string) int {
	var items []readItem
	points, calls := 0, 0
	for n := 1; ; n++ {
		if n > maxPoints {
			t.Fatalf("hold %s: still killed after %d calls", sys, n)
		}
		w := sc.newWorld(t)
		o := w.kill(nil, sys, n, "homepost", "queue", "hold", "ALL")
		label := fmt.Sprintf("hold %s #%d", sys, n)
		if o.err != nil {
			t.Errorf("%s: %v", label, o.err)
		}
		if o.killed {
			points++
			label += " (killed at " + o.site + ")"
		}
		for _, m := range sc.msgs {
			name := sc.names[m.id]
			_, errNew := os.Lstat(filepath.Join(w.e.Outbox("new"), name))
			_, errCur := os.Lstat(filepath.Join(w.e.Outbox("cur"), name+":2,"))
			if errNew != nil && errCur != nil {
				t.Errorf("%s: %s is in neither outbox/new nor outbox/cur", label, m.id)
			}
		}
		if o.killed {
			if _, stderr, code := w.e.Run(nil, "homepost", "queue", "hold", "ALL"); code != 0 {
				t.Errorf("%s: the hold run again: exit %d: %s", label, code, stderr)
			}
		}
		log, err := w.once()
		if err != nil {
			t.Errorf("%s: delivery of the held queue: %v", label, err)
		}
		if got := testenv.Files(w.e.Path("Maildir", "new")); len(got) > 0 {
			t.Errorf("%s: held, yet delivered: %v\n%s", label, got, log)
		}
		if _, stderr, code := w.e.Run(nil, "homepost", "queue", "release", "ALL"); code != 0 {
			t.Errorf("%s: release: exit %d: %s", label, code, stderr)
		}
		more, err := w.once()
		if err != nil {
			t.Errorf("%s: delivery after the release: %v", label, err)
		}
		if l := w.leftovers(); l != "" {
			t.Errorf("%s: the outbox still holds %s after the release and a delivery\n%s", label, l, more)
		}
		items = append(items, readItem{Label: label + "\nagent log:\n" + log + more,
			Stores: []readStore{{"maildir", w.e.Path("Maildir")}}, Expect: expectOf(sc.msgs)})
		if !o.killed {
			calls = o.calls
			break
		}
	}
	if points < calls {
		t.Errorf("hold %s: %d crash points tried, but a whole run makes %d calls", sys, points, calls)
	}
	for _, r := range readStores(t, items) {
		if bad := exactlyOnce(sc.msgs, r); len(bad) > 0 {
			t.Errorf("%s:\n\t%s", r.Label, strings.Join(bad, "\n\t"))
		}
	}
	return points
}

// TestSendmailSpareTailSweep kills the small sendmail at every call of
// every swept system call while it queues a message into a spare that
// holds more old bytes than the message takes: 30 KB more (zeroed past
// the message's end in the same write) and 200 KB more (cut off by
// ftruncate), the steps of a spare's reuse (outbox.clearTail) that
// TestSendmailSweep's spare, smaller than its message, does not reach.
// Nothing of the old bytes may be taken for mail or journal.
func TestSendmailSpareTailSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	me := testenv.Login(t)
	m := message{id: "st@sweep.test", rcpts: []string{me}, size: 20_000}
	next := message{id: "st-next@sweep.test", rcpts: []string{me}, size: 500}
	prog := submitter{label: "sendmail", argv: []string{"sendmail", "-i", me}}
	for _, extra := range []int{30_000, 200_000} {
		// An old queue file's bytes, journal records among them, as a
		// retired message leaves them: what would be read as results
		// if they were taken for the new message's journal.
		old := strings.Repeat("s 0 sent 1 1 0 old\nx 0 2 /tmp/old.mbox\n", (m.size+extra)/40)
		sc := &scenario{
			name: fmt.Sprintf("spare+%dK", extra/1000),
			setup: func(h string) {
				tmp := filepath.Join(h, ".local", "state", "homepost", "outbox", "tmp")
				os.MkdirAll(tmp, 0o700)
				os.WriteFile(filepath.Join(tmp, "spare.0"), []byte(old), 0o600)
			},
			stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
			msgs:   []message{m, next},
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sweepEach(t, "sendmail ("+sc.name+")", func(t *testing.T, sys string) int {
				return sweepSendmail(t, sc, sys, m, next, prog)
			})
		})
	}
}
