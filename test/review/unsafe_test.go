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

// A config.toml that others can write could name an exec: relay that
// runs as the user: it is not obeyed. sendmail queues in the default
// outbox (not in the outbox the file names: that is the other user's
// choice too) and says why; check fails the file with the chmod that
// mends it; the agent holds, and the command never runs. Mended, the
// file is obeyed.
func TestWritableConfigNotObeyed(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	p := e.Path(".config", "homepost", "config.toml")
	good, _ := os.ReadFile(p)
	pwned := e.Path("pwned")
	evil := e.Path("evil.sh")
	os.WriteFile(evil, []byte("#!/bin/sh\necho pwned >> "+pwned+"\ncat >/dev/null\n"), 0o755)
	os.WriteFile(p, append(good, "outbox = \"~/q2\"\n[relay]\nurl = \"exec:"+evil+"\"\n"...), 0o600)
	os.Chmod(p, 0o666)
	for _, prog := range testenv.Sendmails {
		_, stderr, code := e.Run([]byte("Subject: via "+prog+"\n\nb\n"), prog, "r@test.invalid")
		if code != 0 || !strings.Contains(stderr, "world-writable (mode 0666)") || !strings.Contains(stderr, "chmod go-w "+p) || !strings.Contains(stderr, "queued in the default outbox") {
			t.Errorf("%s: exit %d\n%s", prog, code, stderr)
		}
	}
	if n := len(testenv.Files(e.Outbox("new"))); n != len(testenv.Sendmails) {
		t.Errorf("the default outbox holds %d messages, want %d", n, len(testenv.Sendmails))
	}
	if _, err := os.Stat(e.Path("q2")); err == nil {
		t.Errorf("the outbox that the unsafe file names was made")
	}
	out, _, code := e.Run(nil, "homepost", "check")
	if code != 78 || !strings.Contains(out, "FAIL config: "+p+": the file is world-writable (mode 0666)") || !strings.Contains(out, "chmod go-w "+p) {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	if _, _, code := e.Run(nil, "homepost", "agent", "--once"); code != 78 {
		t.Errorf("agent --once: exit %d, want 78 (held)", code)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("the exec: relay of a world-writable config.toml ran")
	}
	if os.Geteuid() == 0 {
		// Another user's file, mode 0644: the same.
		os.Chmod(p, 0o644)
		os.Chown(p, 65534, 65534)
		out, _, code := e.Run(nil, "homepost", "check")
		if code != 78 || !strings.Contains(out, "owned by uid 65534") || !strings.Contains(out, "chown") {
			t.Errorf("check of another user's file: exit %d\n%s", code, out)
		}
		if _, _, code := e.Run(nil, "homepost", "agent", "--once"); code != 78 {
			t.Errorf("agent --once, another user's file: exit %d, want 78 (held)", code)
		}
		if _, err := os.Stat(pwned); err == nil {
			t.Fatal("the exec: relay of another user's config.toml ran")
		}
		os.Chown(p, os.Getuid(), os.Getgid())
	}
	stopBackground(t, e)
}

// An outbox that others can write: the file's outbox is not used (the
// shims queue in the default one), check fails it with file:line; a
// queue file of another user's, found in the outbox, is never delivered
// but set aside, with a log line.
func TestOutboxOthersCanWrite(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	p := e.Path(".config", "homepost", "config.toml")
	good, _ := os.ReadFile(p)
	shared := e.Path("shared")
	for _, sub := range []string{"new", "cur", "tmp"} {
		os.MkdirAll(filepath.Join(shared, "outbox", sub), 0o700)
	}
	os.Chmod(shared, 0o777)
	os.WriteFile(p, append(good, "state_dir = \""+shared+"\"\n"...), 0o600)
	n := strings.Count(string(good), "\n") + 1
	_, stderr, code := e.Run([]byte("Subject: s\n\nb\n"), "sendmail", "root")
	if code != 0 || !strings.Contains(stderr, "queued in the default outbox") || len(testenv.Files(e.Outbox("new"))) != 1 {
		t.Errorf("sendmail: exit %d\n%s", code, stderr)
	}
	out, _, code := e.Run(nil, "homepost", "check")
	want := "FAIL config: " + p + ":" + itoa(n) + ": state_dir: " + shared + " is world-writable (mode 0777)"
	if code != 78 || !strings.Contains(out, want) {
		t.Errorf("check: exit %d, want %q\n%s", code, want, out)
	}
	stopBackground(t, e)
	if os.Geteuid() != 0 {
		return
	}
	// A queue file of another user's in the (safe) default outbox.
	os.WriteFile(p, good, 0o600)
	os.RemoveAll(e.Outbox("new"))
	os.MkdirAll(e.Outbox("new"), 0o700)
	e.MustSend("Subject: injected\n\nfrom nobody\n", "root")
	names := testenv.Files(e.Outbox("new"))
	if len(names) != 1 {
		t.Fatalf("outbox/new: %v", names)
	}
	os.Chown(filepath.Join(e.Outbox("new"), names[0]), 65534, 65534)
	log := e.Once()
	if n := len(storeFiles(t, e)); n != 0 {
		t.Errorf("another user's queue file was delivered (%d)", n)
	}
	aside := testenv.Files(e.Path(".local", "state", "homepost", "corrupt"))
	if len(aside) != 1 || !strings.HasPrefix(aside[0], names[0]) || !strings.Contains(log, "owned by another user") {
		t.Errorf("not set aside in corrupt/ (%v):\n%s", aside, log)
	}
}

// An outbox made open to others while the agent runs: at the next
// reload it holds delivery, naming the directory; mended, it delivers.
func TestOutboxOpenedWhileRunning(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	log := startAgentLog(t, e)
	box := filepath.Clean(e.Outbox(""))
	os.MkdirAll(box, 0o700)
	os.Chmod(box, 0o777)
	p := e.Path(".config", "homepost", "config.toml")
	now := time.Now()
	os.Chtimes(p, now, now)
	pidOf := func() int {
		pid, _ := agentlock.Running(e.Path(".local", "state", "homepost", "agent.lock"))
		return pid
	}
	if pid := pidOf(); pid > 0 {
		syscall.Kill(pid, syscall.SIGHUP)
	}
	e.WaitFor(func() bool { return strings.Contains(log.String(), "delivery is held") }, "the agent to hold")
	if !strings.Contains(log.String(), box+" is world-writable") {
		t.Errorf("the hold does not name the outbox:\n%s", log.String())
	}
	// Nothing is queued where others could delete it.
	if _, stderr, code := e.Run([]byte("Subject: refused\n\nb\n"), "sendmail", "root"); code != 78 || !strings.Contains(stderr, "nothing can be queued") {
		t.Errorf("sendmail into an outbox open to others: exit %d\n%s", code, stderr)
	}
	// A message queued in a moment when it was not open is not
	// delivered while it is.
	os.Chmod(box, 0o700)
	e.MustSend("Subject: held\n\nb\n", "root")
	os.Chmod(box, 0o777)
	time.Sleep(500 * time.Millisecond)
	if n := len(storeFiles(t, e)); n != 0 {
		t.Errorf("delivered from an outbox open to others: %d", n)
	}
	os.Chmod(box, 0o700)
	if pid := pidOf(); pid > 0 {
		syscall.Kill(pid, syscall.SIGHUP)
	}
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery once the outbox is mended")
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
