package e2e

import (
	"os"
	"strings"
	"testing"

	"homepost/test/testenv"
)

// A copy that ~/.forward or the user's aliases sent to a place that
// takes nothing for now (an mbox under a regular file) follows the file
// once it is changed, also when another copy of the same recipient was
// delivered already: the retry resolves the recipient again, delivers
// the new target, drops the one no longer named, and does not store
// the delivered copy a second time. It was retried at the old path
// until max_queue_lifetime, then bounced.
func TestRetryFollowsChangedForwardAfterPartialDelivery(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	if err := os.WriteFile(e.Path("afile"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old, fixed := e.Path("afile", "box.mbox"), e.Path("box.mbox")
	if err := os.WriteFile(e.Path(".forward"), []byte("\\"+me+"\n"+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: partial\n\nx\n", me)
	e.Once()
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Fatalf("%d copies in the Maildir after the first attempt, want 1", n)
	}
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, old) {
		t.Fatalf("mailq does not show the deferred copy for %s:\n%s", old, q)
	}
	// The fix: the line names another mbox.
	if err := os.WriteFile(e.Path(".forward"), []byte("\\"+me+"\n"+fixed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, _ := e.Run(nil, "homepost", "flush")
	e.WaitFor(func() bool {
		b, _ := os.ReadFile(fixed)
		return strings.Contains(string(b), "Subject: partial")
	}, "the copy in the mbox that ~/.forward names now")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "empty")
	}, "an empty queue")
	b, _ := os.ReadFile(fixed)
	if n := strings.Count(string(b), "Subject: partial"); n != 1 {
		t.Errorf("%d copies in %s, want 1", n, fixed)
	}
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1 (the copy \\%s delivered at first)", n, me)
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
	e := testenv.New(t, "")
	me := testenv.Login(t)
	if err := os.WriteFile(e.Path("afile"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old, fixed := e.Path("afile", "arch.mbox"), e.Path("arch.mbox")
	aliases := e.Path(".config", "homepost", "aliases")
	if err := os.WriteFile(aliases, []byte("arch: "+me+", "+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: archived\n\nx\n", "arch")
	e.Once()
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Fatalf("%d copies in the Maildir after the first attempt, want 1", n)
	}
	if err := os.WriteFile(aliases, []byte("arch: "+me+", "+fixed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run(nil, "homepost", "flush")
	e.WaitFor(func() bool {
		b, _ := os.ReadFile(fixed)
		return strings.Contains(string(b), "Subject: archived")
	}, "the copy in the mbox that the aliases name now")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "empty")
	}, "an empty queue")
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
}

// A target dropped at one retry and named again at a later one is
// delivered by the copy that had it first (its name in a Maildir, its
// mark in an mbox, so that a copy it stored before a crash is found),
// once, and the target it replaced is dropped in turn.
func TestRetryFollowsForwardChangedBack(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	for _, f := range []string{"afile", "bfile"} {
		if err := os.WriteFile(e.Path(f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, b := e.Path("afile", "box.mbox"), e.Path("bfile", "box.mbox")
	forward := func(mbox string) {
		if err := os.WriteFile(e.Path(".forward"), []byte("\\"+me+"\n"+mbox+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	forward(a)
	e.MustSend("Subject: back\n\nx\n", me)
	e.Once()
	forward(b) // also deferred: a is dropped, b waits
	e.Run(nil, "homepost", "flush")
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, b) || strings.Contains(q, a) {
		t.Fatalf("mailq after the change to %s:\n%s", b, q)
	}
	// Back to a, which takes mail now.
	os.Remove(e.Path("afile"))
	os.Mkdir(e.Path("afile"), 0o700)
	forward(a)
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
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
}

// A running agent that sees ~/.forward change retries the copy that
// waits at once, where the file says now, without a flush.
func TestAgentFollowsChangedForwardAfterPartialDelivery(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	if err := os.WriteFile(e.Path("afile"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old, fixed := e.Path("afile", "box.mbox"), e.Path("box.mbox")
	if err := os.WriteFile(e.Path(".forward"), []byte("\\"+me+"\n"+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.StartAgent()
	e.MustSend("Subject: watched\n\nx\n", me)
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, old) && len(testenv.Files(e.Path("Maildir", "new"))) == 1
	}, "the copy in the Maildir and the deferral")
	if err := os.WriteFile(e.Path(".forward"), []byte("\\"+me+"\n"+fixed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool {
		b, _ := os.ReadFile(fixed)
		return strings.Contains(string(b), "Subject: watched")
	}, "the copy in the mbox that ~/.forward names now, without a flush")
	e.WaitFor(func() bool {
		q, _, _ := e.Run(nil, "mailq")
		return strings.Contains(q, "empty")
	}, "an empty queue")
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
}

// A line removed from ~/.forward takes its waiting copy with it: the
// retry drops it, says so, and the message leaves the queue with the
// copy \user delivered, which is not stored again.
func TestRetryDropsTargetRemovedFromForward(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	me := testenv.Login(t)
	if err := os.WriteFile(e.Path("afile"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := e.Path("afile", "box.mbox")
	if err := os.WriteFile(e.Path(".forward"), []byte("\\"+me+"\n"+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.MustSend("Subject: removed\n\nx\n", me)
	e.Once()
	if err := os.WriteFile(e.Path(".forward"), []byte("\\"+me+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, log, _ := e.Run(nil, "homepost", "flush")
	if q, _, _ := e.Run(nil, "mailq"); !strings.Contains(q, "empty") {
		t.Fatalf("mail left in the queue:\n%s", q)
	}
	if !strings.Contains(log, "target dropped") || !strings.Contains(log, old) {
		t.Errorf("the flush does not log that the copy for %s was dropped:\n%s", old, log)
	}
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Errorf("%d copies in the Maildir, want 1", n)
	}
}
