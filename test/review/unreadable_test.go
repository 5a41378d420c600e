package review

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/agentlock"
	"homepost/test/testenv"
)

// stopAgent ends the background delivery that a shim started with the
// defaults (deliver_without_agent is on when the file cannot be read):
// it holds the queue, and the test decides when delivery happens.
func stopAgent(t *testing.T, e *testenv.Env) {
	t.Helper()
	lock := e.Path(".local", "state", "homepost", "agent.lock")
	for i, free := 0, 0; i < 100; i++ {
		pid, running := agentlock.Running(lock)
		if !running {
			// Free for a moment, not only at one look: a delivery
			// that ends its loop looks once more for mail queued as
			// it ended, under the lock, which it takes again.
			if free++; free >= 5 {
				return
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		free = 0
		if sig := syscall.SIGTERM; pid > 0 {
			if i >= 20 {
				sig = syscall.SIGKILL // it holds, and has nothing to finish
			}
			syscall.Kill(pid, sig)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the background delivery does not end")
}

// stopBackground waits for the background delivery that a shim
// started (when the defaults stand in for the file, deliver_without_agent
// is on) to take the lock, and ends it: under load it may take the lock
// only after a look that found none, and then hold the queue that the
// test's next agent --once would wait for.
func stopBackground(t *testing.T, e *testenv.Env) {
	t.Helper()
	lock := e.Path(".local", "state", "homepost", "agent.lock")
	e.WaitFor(func() bool { _, ok := agentlock.Running(lock); return ok }, "the background delivery to take the lock")
	stopAgent(t, e)
}

// A config.toml that cannot be read at all (here a directory; mode 000
// or a root-owned file after sudo cp is the same for a user) never makes
// the shims refuse mail: sendmail (both programs), mail and homepost
// cron queue in the default outbox, exit 0, and say where the mail
// waits; check fails the file and says the same; the agent holds. Once
// the file is fixed, the agent delivers what was queued.
func TestUnreadableConfigQueues(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	p := e.Path(".config", "homepost", "config.toml")
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
	box := filepath.Clean(e.Outbox(""))
	said := func(what, stderr string, code int) {
		t.Helper()
		if code != 0 || !strings.Contains(stderr, p) || !strings.Contains(stderr, "queued in the default outbox, "+box) {
			t.Errorf("%s: exit %d, want 0 and where the mail waits:\n%s", what, code, stderr)
		}
	}
	for _, prog := range testenv.Sendmails {
		_, stderr, code := e.Run([]byte("Subject: via "+prog+"\n\nb\n"), prog, "root")
		said(prog, stderr, code)
	}
	_, stderr, code := e.Run([]byte("body\n"), "mail", "-s", "via mail", "root")
	said("mail", stderr, code)
	_, stderr, code = e.Run(nil, "homepost", "cron", "--", "echo", "cron output")
	said("cron", stderr, code)
	if n := len(testenv.Files(e.Outbox("new"))); n != 4 {
		t.Fatalf("the default outbox holds %d messages, want 4", n)
	}
	out, _, code := e.Run(nil, "homepost", "check")
	if code != 78 || !strings.Contains(out, "FAIL config: "+p) || !strings.Contains(out, "FAIL outbox: ") || !strings.Contains(out, "queued in the default outbox, "+box) {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	if _, stderr, code := e.Run(nil, "homepost", "check", "--paths"); code != 78 || !strings.Contains(stderr, "no paths printed") {
		t.Errorf("check --paths: exit %d\n%s", code, stderr)
	}
	if _, _, code := e.Run(nil, "homepost", "agent", "--once"); code != 78 {
		t.Errorf("agent --once with the file unreadable: exit %d, want 78 (held)", code)
	}
	if n := len(storeFiles(t, e)); n != 0 {
		t.Fatalf("delivered with an unreadable file: %d", n)
	}
	stopBackground(t, e)
	os.Remove(p)
	os.WriteFile(p, good, 0o600)
	e.Once()
	if n := len(storeFiles(t, e)); n != 4 {
		t.Errorf("after the fix the store holds %d messages, want 4", n)
	}
}

// A config.toml that is a symbolic link to nothing (a dotfiles checkout
// moved, a disk not mounted) is not "no file": check fails it, naming
// the missing target; sendmail queues in the default outbox and says
// so; the agent holds rather than deliver with the defaults (to
// ~/Maildir instead of the store the file names), and delivers as the
// file says once it is back.
func TestDanglingConfigLinkHolds(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	p := e.Path(".config", "homepost", "config.toml")
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	target := e.Path("dotfiles", "homepost.toml")
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	for _, prog := range testenv.Sendmails {
		_, stderr, code := e.Run([]byte("Subject: via "+prog+"\n\nb\n"), prog, "root")
		if code != 0 || !strings.Contains(stderr, "symbolic link to "+target+", which does not exist") || !strings.Contains(stderr, "queued in the default outbox") {
			t.Errorf("%s: exit %d\n%s", prog, code, stderr)
		}
	}
	out, _, code := e.Run(nil, "homepost", "check")
	if code != 78 || !strings.Contains(out, "FAIL config: "+p+": a symbolic link to "+target+", which does not exist") {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	// The background delivery that sendmail started is stopped first:
	// while it holds the agent's lock, agent --once leaves the queue to
	// it and exits 0.
	stopBackground(t, e)
	if _, _, code := e.Run(nil, "homepost", "agent", "--once"); code != 78 {
		t.Errorf("agent --once: exit %d, want 78 (held)", code)
	}
	if n := len(storeFiles(t, e)); n != 0 {
		t.Errorf("delivered to ~/Maildir with the defaults: %d", n)
	}
	os.MkdirAll(filepath.Dir(target), 0o700)
	os.WriteFile(target, append(good, "store = \"mbox:~/mbox\"\n"...), 0o600)
	e.Once()
	b, _ := os.ReadFile(e.Path("mbox"))
	if n := strings.Count(string(b), "\nSubject: via "); n != 2 || len(storeFiles(t, e)) != 0 {
		t.Errorf("after the link is mended: %d message(s) in ~/mbox, %d in ~/Maildir; want 2 and 0", n, len(storeFiles(t, e)))
	}
}
