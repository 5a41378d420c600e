package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"homepost/test/testenv"
)

// Many sendmails at once while the agent delivers: finished queue files
// become spares that the next sendmails race for. Every message arrives
// exactly once, whole, and nothing is left in the queue but at most the
// few spares (which keep an old message's bytes and blocks, to be
// written over).
func TestConcurrentSendmailsShareSpares(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.StartAgent()
	const writers, each = 6, 25
	var wg sync.WaitGroup
	errs := make(chan string, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := strings.Repeat(fmt.Sprintf("writer %d message %d\n", w, i), 1+(w*each+i)%40)
				msg := fmt.Sprintf("Subject: w%d-m%d\n\n%s", w, i, body)
				if _, stderr, code := e.Run([]byte(msg), "sendmail", "root"); code != 0 {
					errs <- fmt.Sprintf("sendmail w%d-m%d: exit %d: %s", w, i, code, stderr)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) >= writers*each }, "every message in ~/Maildir/new")
	seen := map[string]int{}
	for _, n := range testenv.Files(e.Path("Maildir", "new")) {
		b, err := os.ReadFile(e.Path("Maildir", "new", n))
		if err != nil {
			t.Fatal(err)
		}
		var subj string
		for _, l := range strings.Split(string(b), "\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				subj = s
				break
			}
		}
		seen[subj]++
		var w, i int
		fmt.Sscanf(subj, "w%d-m%d", &w, &i)
		want := strings.Repeat(fmt.Sprintf("writer %d message %d\n", w, i), 1+(w*each+i)%40)
		if !strings.HasSuffix(string(b), "\n\n"+want) {
			t.Errorf("%s arrived changed:\n%s", subj, b)
		}
	}
	for w := range writers {
		for i := range each {
			if s := fmt.Sprintf("w%d-m%d", w, i); seen[s] != 1 {
				t.Errorf("%s arrived %d times", s, seen[s])
			}
		}
	}
	e.WaitFor(func() bool {
		return len(testenv.Files(e.Outbox("new"))) == 0 && len(testenv.Files(e.Outbox("cur"))) == 0 && onlySpares(e)
	}, "an empty queue, with only spares in outbox/tmp (it holds "+strings.Join(testenv.Files(e.Outbox("tmp")), " ")+")")
}

func onlySpares(e *testenv.Env) bool {
	for _, n := range testenv.Files(e.Outbox("tmp")) {
		st, err := os.Lstat(e.Outbox("tmp") + "/" + n)
		if err != nil || !strings.HasPrefix(n, "spare.") || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// sendmail's hot path sets up no poller: no file it opens (the spare
// queue file, the directories it fsyncs) makes the Go runtime create an
// epoll instance and its eventfd, which cost system calls and a
// thread's wake-ups per message. Seen under strace, queuing into a
// fresh outbox and into a spare.
func TestSendmailSetsUpNoPoller(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed: sendmail's system calls are not checked")
	}
	e := testenv.New(t, "")
	for _, when := range []string{"into a fresh outbox", "into a spare"} {
		if when == "into a spare" {
			e.Once() // delivers: the queue file becomes a spare
			if !slices.ContainsFunc(testenv.Files(e.Outbox("tmp")), func(n string) bool { return strings.HasPrefix(n, "spare.") }) {
				t.Fatalf("no spare in outbox/tmp: %v", testenv.Files(e.Outbox("tmp")))
			}
		}
		trace := filepath.Join(t.TempDir(), "trace")
		c := e.Cmd([]byte("Subject: x\n\nbody\n"), "sendmail", "-oi", "root")
		c.Args = append([]string{strace, "-f", "-qq", "-o", trace, "-e", "signal=none", "-e", "trace=epoll_create1,epoll_create,eventfd2", c.Path}, c.Args[1:]...)
		c.Path = strace
		if out, err := c.CombinedOutput(); err != nil {
			if strings.Contains(strings.ToLower(string(out)), "ptrace") {
				t.Skipf("strace cannot trace here: %s", out)
			}
			t.Fatalf("%s: %v: %s", when, err, out)
		}
		b, _ := os.ReadFile(trace)
		// Only the calls asked for count: strace also writes a line of
		// its own ("???( <detached ...>") for a thread it loses track
		// of as the process exits.
		var calls []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "epoll_create") || strings.Contains(l, "eventfd") {
				calls = append(calls, l)
			}
		}
		if len(calls) > 0 {
			t.Errorf("sendmail %s set up the poller:\n%s", when, strings.Join(calls, "\n"))
		}
	}
}

// The agent opens queue files, copies and the outbox's directories without
// offering them to the runtime's poller: epoll refuses files and
// directories, and the offer costs five system calls each time (the
// agent lists outbox/new twice for every batch).
func TestAgentOffersNoFileToPoller(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed: the agent's system calls are not checked")
	}
	e := testenv.New(t, "")
	e.MustSend("Subject: x\n\nbody\n", "-oi", testenv.Login(t))
	trace := filepath.Join(t.TempDir(), "trace")
	c := e.Cmd(nil, "homepost", "agent", "--once")
	c.Args = append([]string{strace, "-f", "-qq", "-y", "-o", trace, "-e", "signal=none", "-e", "trace=epoll_ctl", c.Path}, c.Args[1:]...)
	c.Path = strace
	if out, err := c.CombinedOutput(); err != nil {
		if strings.Contains(strings.ToLower(string(out)), "ptrace") {
			t.Skipf("strace cannot trace here: %s", out)
		}
		t.Fatalf("agent --once: %v: %s", err, out)
	}
	if n := len(testenv.Files(e.Path("Maildir", "new"))); n != 1 {
		t.Fatalf("%d copies in ~/Maildir/new, want 1", n)
	}
	b, _ := os.ReadFile(trace)
	var offers []string
	for _, l := range strings.Split(string(b), "\n") {
		// Files opened once at the start (config, lock, status) do not
		// matter; those of every message and batch do.
		if strings.Contains(l, "epoll_ctl") && (strings.Contains(l, e.Outbox("")) || strings.Contains(l, e.Path("Maildir"))) {
			offers = append(offers, l)
		}
	}
	if len(offers) > 0 {
		t.Errorf("the agent offered files or directories to the poller:\n%s", strings.Join(offers, "\n"))
	}
}

// "sendmail; homepost agent --once; mailq" while an agent runs: the
// running agent's pass answers the one-shot run only once the message is
// finished, so that mailq finds the queue empty and the copy is in the
// mailbox, although the agent leaves the syncs of a batch delivered on
// its own to the next batch for a moment.
func TestOnceWithAgentRunningFinishesThePass(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	e.StartAgent()
	for i := range 5 {
		e.MustSend(fmt.Sprintf("Subject: pass %d\n\nbody\n", i), "-oi", testenv.Login(t))
		e.Once()
		if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
			t.Fatalf("message %d: mailq right after agent --once:\n%s", i, q)
		}
		if n := len(testenv.Files(e.Path("Maildir", "new"))); n != i+1 {
			t.Fatalf("message %d: %d copies in ~/Maildir/new", i, n)
		}
	}
}
