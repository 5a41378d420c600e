package review

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"homepost/agentlock"
	"homepost/test/testenv"
)

// How the agent follows ~/.config/homepost itself: the directory moved
// away and made anew, or a directory symlink made to point elsewhere
// (GNU stow, home-manager), is a change of the files in it; so is a
// config.toml removed while it holds the queue with its error.

// relink makes the symbolic link at link point to target as ln -sfn
// does: a new link renamed over the old one.
func relink(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

// storeConfig names ~/mbox<n> as the store.
func storeConfig(n string) string { return baseConfig + "store = \"mbox:~/mbox" + n + "\"\n" }

// The running agent follows ~/.config/homepost by its path, not by the
// directory it found there at the start: moved away and made anew, or a
// symbolic link to a directory made to point to another one (ln -sfn,
// stow, home-manager), the new directory's config.toml is read once it
// has settled, and edits in it are seen from then on; the old directory
// is no longer followed.
func TestConfigDirReplaced(t *testing.T) {
	t.Parallel()
	// Moved away and made anew at once, as a script does, or with
	// pauses, as by hand (the agent then sees the directory missing for
	// a while). (The names are short: the HOME that a test's name makes
	// must leave room for the listener's socket path.)
	t.Run("moved", func(t *testing.T) {
		t.Parallel()
		movedAway(t, 0)
	})
	t.Run("moved slowly", func(t *testing.T) {
		t.Parallel()
		movedAway(t, time.Second)
	})
	t.Run("relinked", func(t *testing.T) {
		t.Parallel()
		e := testenv.New(t, "")
		dir := e.Path(".config", "homepost")
		for n, sub := range map[string]string{"A": "dA", "B": "dB"} {
			if err := os.Mkdir(e.Path(sub), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.Path(sub, "config.toml"), []byte(storeConfig(n)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(e.Path("dA"), dir); err != nil {
			t.Fatal(err)
		}
		log := startAgentLog(t, e)
		send := func(subject, mbox string) {
			t.Helper()
			e.MustSend("Subject: "+subject+"\n\nb\n", testenv.Login(t))
			e.WaitFor(func() bool { return mboxHas(e, mbox, subject) }, subject+" in ~/"+mbox)
		}
		send("first", "mboxA")

		relink(t, e.Path("dB"), dir)
		e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 1 }, "the reload after the link was made to point to ~/dB")
		send("relinked", "mboxB")

		// An edit in the former target is not followed; one in the new
		// target is.
		if err := os.WriteFile(e.Path("dA", "config.toml"), []byte(storeConfig("9")), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(settleWait)
		if n := strings.Count(log.String(), "msg=reloaded"); n != 1 {
			t.Errorf("%d reloads, want 1: the edit of the former target is followed", n)
		}
		if err := replaceFile(e.Path("dB", "config.toml"), storeConfig("C")); err != nil {
			t.Fatal(err)
		}
		e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 2 }, "the reload after the edit in ~/dB")
		send("edited", "mboxC")

		// Back with ln -sfn itself, whichever way it replaces the link.
		if err := os.WriteFile(e.Path("dA", "config.toml"), []byte(storeConfig("A")), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ln", "-sfn", e.Path("dA"), dir).CombinedOutput(); err != nil {
			t.Fatalf("ln -sfn: %v: %s", err, out)
		}
		e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 3 }, "the reload after ln -sfn ~/dA")
		send("back", "mboxA")
	})
	t.Run("parent relinked", func(t *testing.T) {
		// ~/.config itself a link into a dotfiles tree.
		t.Parallel()
		e := testenv.New(t, "")
		for _, n := range []string{"A", "B"} {
			if err := os.MkdirAll(e.Path("cfg"+n, "homepost"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(e.Path("cfg"+n, "homepost", "config.toml"), []byte(storeConfig(n)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.RemoveAll(e.Path(".config")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("cfgA", e.Path(".config")); err != nil {
			t.Fatal(err)
		}
		log := startAgentLog(t, e)
		e.MustSend("Subject: first\n\nb\n", testenv.Login(t))
		e.WaitFor(func() bool { return mboxHas(e, "mboxA", "first") }, "first in ~/mboxA")
		relink(t, "cfgB", e.Path(".config"))
		e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 1 }, "the reload after ~/.config was made to point to ~/cfgB")
		e.MustSend("Subject: relinked\n\nb\n", testenv.Login(t))
		e.WaitFor(func() bool { return mboxHas(e, "mboxB", "relinked") }, "relinked in ~/mboxB")
	})
	t.Run("link to nothing", func(t *testing.T) {
		// ~/.config/homepost a link to a directory not made yet (a
		// dotfiles checkout to come): its coming is followed.
		t.Parallel()
		e := testenv.New(t, "")
		dir := e.Path(".config", "homepost")
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../dots", dir); err != nil {
			t.Fatal(err)
		}
		log := startAgentLog(t, e)
		if err := os.Mkdir(e.Path("dots"), 0o700); err != nil {
			t.Fatal(err)
		}
		time.Sleep(settleWait)
		if err := os.WriteFile(e.Path("dots", "config.toml"), []byte(storeConfig("D")), 0o600); err != nil {
			t.Fatal(err)
		}
		e.WaitFor(func() bool { return strings.Contains(log.String(), "msg=reloaded") }, "the reading of the new file")
		e.MustSend("Subject: checked out\n\nb\n", testenv.Login(t))
		e.WaitFor(func() bool { return mboxHas(e, "mboxD", "checked out") }, "checked out in ~/mboxD")
	})
}

// movedAway moves ~/.config/homepost away under a running agent and
// makes a new one, with pause between the steps: the new file is read,
// the new directory followed, the old one no longer.
func movedAway(t *testing.T, pause time.Duration) {
	e := testenv.New(t, "")
	dir := e.Path(".config", "homepost")
	setConfig(t, e, storeConfig("1"), 0o600)
	log := startAgentLog(t, e)
	send := func(subject, mbox string) {
		t.Helper()
		e.MustSend("Subject: "+subject+"\n\nb\n", testenv.Login(t))
		e.WaitFor(func() bool { return mboxHas(e, mbox, subject) }, subject+" in ~/"+mbox)
	}
	send("first", "mbox1")

	if err := os.Rename(dir, dir+".bak"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	// Mail sent while the file is missing waits for the new one (as
	// for a file moved away): it does not go where no file says
	// (~/Maildir).
	e.MustSend("Subject: during\n\nb\n", testenv.Login(t))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	setConfig(t, e, storeConfig("2"), 0o600)
	e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 1 }, "the reload after the directory was made anew")
	send("new directory", "mbox2")
	if !mboxHas(e, "mbox2", "during") || len(storeFiles(t, e)) > 0 {
		t.Errorf("the mail sent while the directory was missing is not in ~/mbox2 (%d in ~/Maildir)", len(storeFiles(t, e)))
	}

	// The old directory is no longer followed, the new one is.
	if err := os.WriteFile(dir+".bak/config.toml", []byte(storeConfig("9")), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(settleWait)
	if n := strings.Count(log.String(), "msg=reloaded"); n != 1 {
		t.Errorf("%d reloads, want 1: the edit of the directory moved away is followed", n)
	}
	setConfig(t, e, storeConfig("3"), 0o600)
	e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 2 }, "the reload after the edit in the new directory")
	send("edited", "mbox3")
}

// settleWait is longer than the agent's settle (half a second) with
// room for a loaded machine: a change it follows is read by then.
const settleWait = 2 * time.Second

// heldBackground queues a message with a broken config.toml and waits
// for the background delivery that sendmail starts to hold the queue.
func heldBackground(t *testing.T, e *testenv.Env) {
	t.Helper()
	good := strings.Replace(baseConfig, "= false", "= true", 1)
	setConfig(t, e, good+"stroe = 1\n", 0o600)
	e.MustSend("Subject: waits for the fix\n\nb\n", testenv.Login(t))
	e.WaitFor(func() bool { return strings.Contains(readLog(e), "held") }, "the background delivery to hold the queue")
	if _, ok := agentlock.Running(e.Path(".local", "state", "homepost", "agent.lock")); !ok {
		t.Fatalf("no background delivery holds the queue:\n%s", readLog(e))
	}
}

// The background delivery that holds the queue for an error in
// config.toml takes the fix up when it comes as a new directory (the
// old one moved away), delivers and ends; mailq no longer gives the old
// file's error.
func TestHeldBackgroundDeliveryFollowsNewDirectory(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	heldBackground(t, e)
	dir := e.Path(".config", "homepost")
	if err := os.Rename(dir, dir+".bak"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(baseConfig, "= false", "= true", 1)
	setConfig(t, e, good+"store = \"mbox:~/mbox\"\n", 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for !mboxHas(e, "mbox", "waits for the fix") {
		if time.Now().After(deadline) {
			_, stderr, _ := e.Run(nil, "mailq")
			t.Fatalf("not delivered 10s after the new directory's fix:\n%s\n%s", stderr, readLog(e))
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.WaitFor(func() bool {
		_, ok := agentlock.Running(e.Path(".local", "state", "homepost", "agent.lock"))
		return !ok
	}, "the background delivery to end on an empty queue")
}

// The background delivery that holds the queue for an error in
// config.toml takes its removal (rm: back to the defaults) up once it
// has settled, as any fix: it does not wait for the file to be written
// again, as it does for a file emptied or moved away.
func TestHeldConfigRemovedIsReadOnceSettled(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	heldBackground(t, e)
	start := time.Now()
	if err := os.Remove(e.Path(".config", "homepost", "config.toml")); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery to ~/Maildir once config.toml is removed")
	if d := time.Since(start); d > 4*time.Second || strings.Contains(readLog(e), "still empty or missing") {
		t.Errorf("delivered %v after the removal, waited for as a file being rewritten:\n%s", d.Round(time.Millisecond), readLog(e))
	}
}
