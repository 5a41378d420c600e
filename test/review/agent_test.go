package review

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"homepost/test/testenv"
)

// The user's agent (the systemd unit) starting while a one-shot delivery
// (started by sendmail where no agent ran, or homepost flush) holds the
// lock must not give up for good: it exits 0, systemd does not restart
// it (Restart=on-failure), and deferred mail is then retried only when
// the next message happens to be sent.
func TestAgentStartsWhileOneShotRuns(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	slow := e.Path("slow-relay.sh")
	os.WriteFile(slow, []byte("#!/bin/sh\ncat >/dev/null\nsleep 3\nexit 75\n"), 0o755)
	cfg := e.Path(".config", "homepost", "config.toml")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, fmt.Sprintf("[relay]\nurl = \"exec:%s\"\n", slow)...), 0o600)
	e.MustSend("Subject: s\n\nb\n", "x@remote.example")

	once := e.Cmd(nil, "homepost", "agent", "--once")
	if err := once.Start(); err != nil {
		t.Fatal(err)
	}
	defer once.Wait()
	time.Sleep(500 * time.Millisecond)
	daemon := e.Cmd(nil, "homepost", "agent")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	t.Cleanup(func() { daemon.Process.Kill() })
	once.Wait()
	select {
	case err := <-exited:
		t.Fatalf("the agent exited (%v) while a one-shot delivery ran; nothing retries deferred mail now", err)
	case <-time.After(2 * time.Second):
	}
	if _, stderr, _ := e.Run(nil, "mailq"); strings.Contains(stderr, "no agent is running") {
		t.Errorf("mailq: %s", stderr)
	}
}

// With the outbox's disk full and a queue file's journal reserve used
// up, a recipient that expands to several targets cannot have its
// expansion recorded. The agent must wait before
// trying again, not spin: the recipient's children are left pending in
// memory, NextAttempt is the arrival time, and the loop retries at once,
// forever, logging an error each time.
func TestDiskFullExpansionDoesNotSpin(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	state := e.Path(".local", "state")
	os.MkdirAll(state, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", state).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a small tmpfs here: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", state).Run()
	me := testenv.Login(t)
	os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte("both: \\"+me+", "+e.Path("archive.mbox")+"\n"), 0o600)
	// The queue file must end at a page boundary, so that the journal
	// needs a new block: pad the body until it does.
	pad := 0
	for try := 0; ; try++ {
		for _, n := range testenv.Files(e.Outbox("new")) {
			os.Remove(filepath.Join(e.Outbox("new"), n))
		}
		e.MustSend("Subject: both\n\nbody\n"+strings.Repeat("x", pad)+"\n", "both")
		names := testenv.Files(e.Outbox("new"))
		st, err := os.Stat(filepath.Join(e.Outbox("new"), names[0]))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size()%4096 == 0 {
			// The room reserved for the journal is used up (here:
			// dropped, as a long journal would use it up).
			os.Truncate(filepath.Join(e.Outbox("new"), names[0]), st.Size())
			break
		}
		if try == 20 {
			t.Fatalf("cannot make a queue file of whole pages (%d bytes)", st.Size())
		}
		pad += int(4096 - st.Size()%4096)
		if pad > 4096 {
			pad -= 4096
		}
	}
	// Fill the disk.
	f, err := os.Create(filepath.Join(state, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	c.Process.Kill()
	c.Wait()
	n := strings.Count(log.String(), "record expansion")
	if n > 5 {
		t.Errorf("the agent tried to record the expansion %d times in 3 seconds:\n%.2000s", n, log.String())
	}
	if n == 0 {
		t.Errorf("no expansion was attempted:\n%s", log.String())
	}
}

// newaliases and homepost queue hold/release tell "the running agent"
// to reload with SIGHUP, by the pid in the lock file; when that is a
// one-shot delivery (started by sendmail or flush where no agent runs),
// which does not handle SIGHUP, the signal kills it in the middle of its
// work. (SIGUSR1 from homepost flush is ignored by it: no harm, but no
// flush either.)
func TestSignalsDoNotKillOneShot(t *testing.T) {
	t.Parallel()
	for _, sig := range []struct{ name, cmd string }{{"SIGUSR1", "flush"}, {"SIGHUP", "newaliases"}} {
		t.Run(sig.cmd, func(t *testing.T) {
			e := testenv.New(t, "")
			slow := e.Path("slow-relay.sh")
			os.WriteFile(slow, []byte("#!/bin/sh\ncat >/dev/null\nsleep 2\nexit 0\n"), 0o755)
			cfg := e.Path(".config", "homepost", "config.toml")
			b, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, append(b, fmt.Sprintf("[relay]\nurl = \"exec:%s\"\n", slow)...), 0o600)
			e.MustSend("Subject: s\n\nb\n", "x@remote.example")
			once := e.Cmd(nil, "homepost", "agent", "--once")
			var log testenv.LockedBuffer
			once.Stderr = &log
			if err := once.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			e.Run(nil, "homepost", sig.cmd)
			err := once.Wait()
			if err != nil {
				t.Errorf("the one-shot delivery died after %s (%s): %v\n%s", sig.cmd, sig.name, err, log.String())
			}
			if q, _, _ := e.Run(nil, "mailq"); q != "Mail queue is empty\n" {
				t.Errorf("mailq:\n%s", q)
			}
		})
	}
}

// The daemon starting while a sendmail checks whether an agent runs
// (agent.Running takes the lock shared for an instant) must not take the
// checker for another agent: the lock file still names the previous
// daemon (no "once"), so the new daemon says "another agent is running"
// and exits 0 (under systemd, an exit before READY=1 fails the unit all
// the same, and Restart= starts it again: homepost(1)).
func TestAgentStartsWhileShimChecks(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	state := e.Path(".local", "state", "homepost")
	os.MkdirAll(state, 0o700)
	lock := filepath.Join(state, "agent.lock")
	os.WriteFile(lock, []byte("999999\n"), 0o600) // an earlier daemon, gone
	f, err := os.Open(lock)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	t.Cleanup(func() { c.Process.Kill() })
	time.Sleep(50 * time.Millisecond) // a sendmail's check takes far less
	f.Close()
	select {
	case err := <-exited:
		t.Fatalf("the agent exited (%v) because a sendmail looked at the lock:\n%s", err, log.String())
	case <-time.After(2 * time.Second):
	}
	if !strings.Contains(log.String(), "agent started") {
		t.Errorf("agent log:\n%s", log.String())
	}
}
