package e2e

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// reresolveEnv is the world of a retry test: the user (me), and a
// regular file in the home, afile, under which an mbox target
// (afile/NAME.mbox) takes nothing for now: a copy sent there waits.
type reresolveEnv struct {
	*testenv.Env
	me string
}

func newReresolveEnv(t *testing.T) *reresolveEnv {
	r := &reresolveEnv{Env: testenv.New(t, ""), me: testenv.Login(t)}
	r.write("afile", "")
	return r
}

// write writes the file at path (below the home).
func (r *reresolveEnv) write(path, text string) {
	if err := os.WriteFile(r.Path(path), []byte(text), 0o600); err != nil {
		r.T.Fatal(err)
	}
}

// forward makes ~/.forward keep a copy in the store (\user) and send
// one to each of mboxes.
func (r *reresolveEnv) forward(mboxes ...string) {
	text := "\\" + r.me + "\n"
	for _, m := range mboxes {
		text += m + "\n"
	}
	r.write(".forward", text)
}

// waitEmpty waits until mailq says the queue is empty.
func (r *reresolveEnv) waitEmpty() {
	r.WaitFor(func() bool {
		q, _, _ := r.Run(nil, "mailq")
		return strings.Contains(q, "empty")
	}, "an empty queue")
}

// waitIn waits until the mbox at path holds a copy of subject.
func (r *reresolveEnv) waitIn(path, subject, what string) {
	r.WaitFor(func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), "Subject: "+subject)
	}, what)
}

// stored is how many copies the store (~/Maildir) holds.
func (r *reresolveEnv) stored() int { return len(testenv.Files(r.Path("Maildir", "new"))) }

// A copy that ~/.forward or the user's aliases sent to a place that
// takes nothing for now (an mbox under a regular file) follows the file
// once it is changed, also when another copy of the same recipient was
// delivered already: the retry resolves the recipient again, delivers
// the new target, drops the one no longer named, and does not store
// the delivered copy a second time. It was retried at the old path
// until max_queue_lifetime, then bounced.
func TestRetryFollowsChangedForwardAfterPartialDelivery(t *testing.T) {
	t.Parallel()
	e := newReresolveEnv(t)
	old, fixed := e.Path("afile", "box.mbox"), e.Path("box.mbox")
	e.forward(old)
	e.MustSend("Subject: partial\n\nx\n", e.me)
	e.Once()
	if n := e.stored(); n != 1 {
		t.Fatalf("%d copies in the Maildir after the first attempt, want 1", n)
	}
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, old) {
		t.Fatalf("mailq does not show the deferred copy for %s:\n%s", old, q)
	}
	// The fix: the line names another mbox.
	e.forward(fixed)
	_, stderr, _ := e.Run(nil, "homepost", "flush")
	e.waitIn(fixed, "partial", "the copy in the mbox that ~/.forward names now")
	e.waitEmpty()
	b, _ := os.ReadFile(fixed)
	if n := strings.Count(string(b), "Subject: partial"); n != 1 {
		t.Errorf("%d copies in %s, want 1", n, fixed)
	}
	if n := e.stored(); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1 (the copy \\%s delivered at first)", n, e.me)
	}
	log, _ := os.ReadFile(e.Path(".local", "state", "homepost", "agent.log"))
	all := string(log) + stderr
	said := false
	for _, l := range strings.Split(all, "\n") {
		said = said || strings.Contains(l, "target dropped") && strings.Contains(l, old) && strings.Contains(l, fixed)
	}
	if !said {
		t.Errorf("no line of the log says that the copy for %s was dropped for %s:\n%s", old, fixed, all)
	}
}

// The same with the user's aliases file: an alias of two targets, one
// delivered and the other deferred, is resolved again at the retry.
func TestRetryFollowsChangedAliasAfterPartialDelivery(t *testing.T) {
	t.Parallel()
	e := newReresolveEnv(t)
	old, fixed := e.Path("afile", "arch.mbox"), e.Path("arch.mbox")
	aliases := ".config/homepost/aliases"
	e.write(aliases, "arch: "+e.me+", "+old+"\n")
	e.MustSend("Subject: archived\n\nx\n", "arch")
	e.Once()
	if n := e.stored(); n != 1 {
		t.Fatalf("%d copies in the Maildir after the first attempt, want 1", n)
	}
	e.write(aliases, "arch: "+e.me+", "+fixed+"\n")
	e.Run(nil, "homepost", "flush")
	e.waitIn(fixed, "archived", "the copy in the mbox that the aliases name now")
	e.waitEmpty()
	if n := e.stored(); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
}

// A target dropped at one retry and named again at a later one is
// delivered by the copy that had it first (its name in a Maildir, its
// mark in an mbox, so that a copy it stored before a crash is found),
// once, and the target it replaced is dropped in turn.
func TestRetryFollowsForwardChangedBack(t *testing.T) {
	t.Parallel()
	e := newReresolveEnv(t)
	e.write("bfile", "")
	a, b := e.Path("afile", "box.mbox"), e.Path("bfile", "box.mbox")
	e.forward(a)
	e.MustSend("Subject: back\n\nx\n", e.me)
	e.Once()
	e.forward(b) // also deferred: a is dropped, b waits
	e.Run(nil, "homepost", "flush")
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, b) || strings.Contains(q, a) {
		t.Fatalf("mailq after the change to %s:\n%s", b, q)
	}
	// Back to a, which takes mail now.
	os.Remove(e.Path("afile"))
	os.Mkdir(e.Path("afile"), 0o700)
	e.forward(a)
	_, log, _ := e.Run(nil, "homepost", "flush")
	if !strings.Contains(log, "target dropped") || !strings.Contains(log, b) {
		t.Errorf("the flush does not log that the copy for %s was dropped:\n%s", b, log)
	}
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "empty") {
		t.Fatalf("mail left in the queue:\n%s", q)
	}
	got, _ := os.ReadFile(a)
	if n := strings.Count(string(got), "Subject: back"); n != 1 {
		t.Errorf("%d copies in %s, want 1", n, a)
	}
	if n := e.stored(); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
}

// A running agent that sees ~/.forward change retries the copy that
// waits at once, where the file says now, without a flush.
func TestAgentFollowsChangedForwardAfterPartialDelivery(t *testing.T) {
	t.Parallel()
	e := newReresolveEnv(t)
	old, fixed := e.Path("afile", "box.mbox"), e.Path("box.mbox")
	e.forward(old)
	e.StartAgent()
	e.MustSend("Subject: watched\n\nx\n", e.me)
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, old) && e.stored() == 1
	}, "the copy in the Maildir and the deferral")
	e.forward(fixed)
	e.waitIn(fixed, "watched", "the copy in the mbox that ~/.forward names now, without a flush")
	e.waitEmpty()
	if n := e.stored(); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
}

// A line removed from ~/.forward takes its waiting copy with it: the
// retry drops it, says so, and the message leaves the queue with the
// copy \user delivered, which is not stored again.
func TestRetryDropsTargetRemovedFromForward(t *testing.T) {
	t.Parallel()
	e := newReresolveEnv(t)
	old := e.Path("afile", "box.mbox")
	e.forward(old)
	e.MustSend("Subject: removed\n\nx\n", e.me)
	e.Once()
	e.forward()
	_, log, _ := e.Run(nil, "homepost", "flush")
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "empty") {
		t.Fatalf("mail left in the queue:\n%s", q)
	}
	if !strings.Contains(log, "target dropped") || !strings.Contains(log, old) {
		t.Errorf("the flush does not log that the copy for %s was dropped:\n%s", old, log)
	}
	if n := e.stored(); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
}
