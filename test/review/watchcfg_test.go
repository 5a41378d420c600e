package review

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"homepost/agentlock"
	"homepost/test/testenv"
)

// How the agent follows config.toml: it ends on SIGTERM while it holds
// the queue, it never keeps a reading the file no longer has, it
// follows a file that is a symbolic link, and flush and SIGHUP wait for
// a change that is settling.

// The background delivery that holds the queue for a configuration
// error while mail waits ends on SIGTERM at once, as the daemon does:
// nothing is in flight while the queue is held.
func TestHeldBackgroundDeliveryEndsOnSIGTERM(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	good := strings.Replace(baseConfig, "= false", "= true", 1)
	setConfig(t, e, good+"stroe = 1\n", 0o600)
	e.MustSend("Subject: waits for the fix\n\nb\n", testenv.Login(t))
	lock := e.Path(".local", "state", "homepost", "agent.lock")
	e.WaitFor(func() bool { return strings.Contains(readLog(e), "held") }, "the background delivery to hold the queue")
	pid, ok := agentlock.Running(lock)
	if !ok || pid <= 0 {
		t.Fatalf("no background delivery holds the lock:\n%s", readLog(e))
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the held background delivery (pid %d) still runs 3s after SIGTERM:\n%s", pid, readLog(e))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(testenv.Files(e.Outbox("new"))) + len(testenv.Files(e.Outbox("cur"))); n != 1 {
		t.Errorf("%d messages in the outbox after the stop, want the one queued", n)
	}
}

// afterRead runs change once a process has read the file at path (closed
// it after opening it to read): a change that lands after the agent's
// reading and, as a rule, before it watches the file.
func afterRead(t *testing.T, path string, change func()) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_CLOSE_NOWRITE); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(fd)
		buf := make([]byte, 4096)
		if n, err := unix.Read(fd, buf); err != nil || n <= 0 {
			return
		}
		change()
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Errorf("the file %s was never read", path)
		}
	})
}

// replaceFile writes text into path as an editor's save does: a new
// file renamed over the old one.
func replaceFile(path, text string) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// A change of config.toml made right after the agent read it, before
// it watches the file, is not missed: the agent compares the file with
// what it was before the reading once it watches it, and reads it again.
// Fixed: it does not stay held with an error the file no longer has.
// Completed: it does not keep a half-written reading (~/Maildir, no
// smarthost).
func TestConfigChangedWhileReadIsTaken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, first string }{
		{"fixed after the read", baseConfig + "frm = 1\n"},
		{"completed after the read", baseConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, "")
			file := setConfig(t, e, tc.first, 0o600)
			afterRead(t, file, func() { replaceFile(file, baseConfig+"store = \"mbox:~/mbox\"\n") })
			log := startAgentLog(t, e)
			e.MustSend("Subject: after the change\n\nb\n", testenv.Login(t))
			deadline := time.Now().Add(10 * time.Second)
			for {
				b, _ := os.ReadFile(e.Path("mbox"))
				if strings.Contains(string(b), "Subject: after the change") {
					break
				}
				if time.Now().After(deadline) || len(storeFiles(t, e)) > 0 {
					_, stderr, _ := e.Run(nil, "mailq")
					t.Fatalf("the agent runs with the reading the file no longer has (mbox empty, %d in ~/Maildir):\n%s\n%s", len(storeFiles(t, e)), stderr, log.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// mboxHas reports whether the mbox at ~/name holds a message with subject.
func mboxHas(e *testenv.Env, name, subject string) bool {
	b, _ := os.ReadFile(e.Path(name))
	return strings.Contains(string(b), "Subject: "+subject+"\n")
}

// A config.toml that is a symbolic link into a dotfiles tree (GNU stow,
// yadm, home-manager) is followed where it points: an edit of the target
// in place, or a save that renames a new file over it, is read by the
// running agent; so is a new target the link is made to point to. A
// link to nothing is followed to where its target would be, and its
// return is seen.
func TestConfigSymlinkTargetIsWatched(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	dots := e.Path("dotfiles", "homepost")
	if err := os.MkdirAll(dots, 0o700); err != nil {
		t.Fatal(err)
	}
	target := dots + "/config.toml"
	store := func(n int) string { return baseConfig + "store = \"mbox:~/mbox" + string(rune('0'+n)) + "\"\n" }
	if err := os.WriteFile(target, []byte(store(1)), 0o600); err != nil {
		t.Fatal(err)
	}
	link := e.Path(".config", "homepost", "config.toml")
	os.Remove(link)
	if err := os.Symlink("../../dotfiles/homepost/config.toml", link); err != nil {
		t.Fatal(err)
	}
	log := startAgentLog(t, e)
	send := func(subject, mbox string) {
		t.Helper()
		e.MustSend("Subject: "+subject+"\n\nb\n", testenv.Login(t))
		e.WaitFor(func() bool { return mboxHas(e, mbox, subject) }, subject+" in ~/"+mbox)
	}
	send("first", "mbox1")

	// Edited in place.
	if err := os.WriteFile(target, []byte(store(2)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 1 }, "the reload after the edit in place")
	send("in place", "mbox2")

	// Saved by rename, as vim and emacs do.
	if err := replaceFile(target, store(3)); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 2 }, "the reload after the save by rename")
	send("renamed", "mbox3")

	// The link made to point elsewhere, then that file edited.
	other := e.Path("dotfiles", "other.toml")
	if err := os.WriteFile(other, []byte(store(4)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 3 }, "the reload after the link changed")
	send("relinked", "mbox4")
	if err := os.WriteFile(other, []byte(store(5)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 4 }, "the reload after the new target's edit")
	send("new target", "mbox5")

	// The target's directory moved away (a dotfiles checkout moved):
	// the agent keeps the configuration read before; back, the file is
	// read again.
	if err := os.Rename(e.Path("dotfiles"), e.Path("dotfiles.away")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../dotfiles/homepost/config.toml", link); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Contains(log.String(), "keeping the configuration read before") }, "the reading of the link to nothing")
	if err := os.Rename(e.Path("dotfiles.away"), e.Path("dotfiles")); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 5 }, "the reload once the link's target is back")
	send("back", "mbox3")
}

// A SIGHUP right after a file was emptied (a tool's non-atomic write,
// then "systemctl reload") does not read the empty file at once: the
// change settles first, as without the SIGHUP, and the mail sent
// meanwhile goes where the file says before and after.
func TestSIGHUPWaitsForSettle(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	text := baseConfig + "store = \"mbox:~/mbox\"\n"
	file := setConfig(t, e, text, 0o600)
	log := startAgentLog(t, e)
	pid, ok := agentlock.Running(e.Path(".local", "state", "homepost", "agent.lock"))
	if !ok {
		t.Fatal("no agent holds the lock")
	}
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	e.MustSend("Subject: during\n\nb\n", testenv.Login(t))
	time.Sleep(300 * time.Millisecond)
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return mboxHas(e, "mbox", "during") || len(storeFiles(t, e)) > 0 }, "delivery")
	if n := len(storeFiles(t, e)); n != 0 {
		t.Errorf("%d messages in ~/Maildir: the SIGHUP read the emptied file", n)
	}
	if !strings.Contains(log.String(), "SIGHUP") {
		t.Errorf("the log does not say the SIGHUP waited")
	}
}

// homepost flush right after the file that held the queue is fixed
// waits for the agent to take the fix up (the change settles first),
// then for the pass that delivers, and exits 0; with the file still
// broken it says so with the error the file has now, exit 78.
func TestFlushWaitsForSettle(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	file := setConfig(t, e, baseConfig+"stroe = 1\n", 0o600)
	log := startAgentLog(t, e)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "held") }, "the agent to hold the queue")
	e.MustSend("Subject: flushed\n\nb\n", testenv.Login(t))

	setConfig(t, e, baseConfig+"stor = 1\n", 0o600)
	_, stderr, code := e.Run(nil, "homepost", "flush")
	if code != 78 || !strings.Contains(stderr, file+":4: stor: unknown key") {
		t.Errorf("flush with the file still broken: exit %d, want 78 with the error the file has now:\n%s", code, stderr)
	}

	setConfig(t, e, baseConfig, 0o600)
	_, stderr, code = e.Run(nil, "homepost", "flush")
	if code != 0 {
		t.Fatalf("flush right after the fix: exit %d:\n%s", code, stderr)
	}
	if n := len(storeFiles(t, e)); n != 1 {
		t.Errorf("%d messages delivered when flush returned, want 1", n)
	}
}
