package review

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/agentlock"
	"homepost/test/testenv"
)

// A change of outbox or state_dir while the agent runs: the agent
// follows it. It delivers what is queued in the new outbox, moves what
// waited in the old one (deferred mail with its journal, held mail)
// into the new one, and, when the lock moves with state_dir, holds the
// new lock, so that no second agent delivers the same outbox and the
// commands see it running.

// agentPid is the pid of the "agent started" line of log.
func agentPid(t *testing.T, log string) int {
	t.Helper()
	m := regexp.MustCompile(`msg="agent started".* pid=(\d+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no pid in the agent's start line:\n%s", log)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// outboxFiles counts the files in an outbox's new/ and cur/.
func outboxFiles(dir string) int {
	return len(testenv.Files(dir+"/new")) + len(testenv.Files(dir+"/cur"))
}

func TestAgentFollowsOutboxMove(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	setConfig(t, e, baseConfig, 0o600)
	log := startAgentLog(t, e)
	// Deferred in the old outbox: a remote recipient and no smarthost.
	e.MustSend("Subject: deferred before the move\n\nb\n", "someone@remote.example")
	e.WaitFor(func() bool { return strings.Contains(log.String(), "no smarthost configured") }, "the deferral")
	old := e.Path(".local", "state", "homepost", "outbox")

	setConfig(t, e, baseConfig+"outbox = \"~/newq\"\n", 0o600)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "msg=reloaded") }, "the reload")
	e.MustSend("Subject: after the move\n\nb\n", testenv.Login(t))
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery of mail queued in the new outbox")

	if n := outboxFiles(old); n != 0 {
		t.Errorf("%d file(s) left in the old outbox %s", n, old)
	}
	// The delivered message leaves the queue; the deferred one stays.
	e.WaitFor(func() bool { return outboxFiles(e.Path("newq")) == 1 }, "the deferred message alone in the new outbox")
	out, stderr, _ := e.Run(nil, "mailq")
	if !strings.Contains(out, "someone@remote.example") || !strings.Contains(out, "no smarthost") {
		t.Errorf("mailq does not list the deferred message with its reason:\n%s%s", out, stderr)
	}
	if strings.Contains(stderr, "no longer") {
		t.Errorf("mailq:\n%s", stderr)
	}
	if out, _, _ := e.Run(nil, "homepost", "check"); strings.Contains(out, "FAIL") || strings.Contains(out, "no longer") {
		t.Errorf("check:\n%s", out)
	}
	// And back: the agent follows again.
	setConfig(t, e, baseConfig, 0o600)
	e.WaitFor(func() bool { return strings.Count(log.String(), "msg=reloaded") == 2 }, "the second reload")
	e.MustSend("Subject: moved back\n\nb\n", testenv.Login(t))
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 2 }, "delivery after the move back")
	e.WaitFor(func() bool { return outboxFiles(e.Path("newq")) == 0 && outboxFiles(old) == 1 }, "the deferred message back in the first outbox")
}

func TestAgentFollowsStateDirMove(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	good := strings.Replace(baseConfig, "deliver_without_agent = false", "deliver_without_agent = true", 1)
	setConfig(t, e, good, 0o600)
	log := startAgentLog(t, e)
	pid := agentPid(t, log.String())
	e.MustSend("Subject: deferred before the move\n\nb\n", "someone@remote.example")
	e.WaitFor(func() bool { return strings.Contains(log.String(), "no smarthost configured") }, "the deferral")

	// Mail sent at once after the change is queued in the new outbox
	// before the agent has read the file: sendmail finds the new lock
	// free and starts a background delivery, which gives way to the
	// agent once it follows.
	setConfig(t, e, good+"state_dir = \"~/newstate\"\n", 0o600)
	e.MustSend("Subject: deferred by the background delivery\n\nb\n", "other@remote.example")
	e.MustSend("Subject: after the move\n\nb\n", testenv.Login(t))
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery of mail queued in the new outbox")
	lock := e.Path("newstate", "agent.lock")
	e.WaitFor(func() bool { p, ok := agentlock.Running(lock); return ok && p == pid }, "the agent to hold the new lock")
	if !strings.Contains(log.String(), "give way") {
		t.Errorf("the background delivery was not asked to give way")
	}
	e.MustSend("Subject: later\n\nb\n", testenv.Login(t))
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 2 }, "delivery of later mail")
	if n := outboxFiles(e.Path(".local", "state", "homepost", "outbox")); n != 0 {
		t.Errorf("%d file(s) left in the old outbox", n)
	}
	out, stderr, _ := e.Run(nil, "mailq")
	if !strings.Contains(out, "someone@remote.example") || !strings.Contains(out, "other@remote.example") || strings.Contains(stderr, "no longer") {
		t.Errorf("mailq:\n%s%s", out, stderr)
	}
	if out, _, _ := e.Run(nil, "homepost", "check"); !strings.Contains(out, "pid "+strconv.Itoa(pid)) {
		t.Errorf("check does not see the agent (pid %d):\n%s", pid, out)
	}
	// A second agent sees the first one.
	if _, stderr, code := e.Run(nil, "homepost", "agent"); code != 0 || !strings.Contains(stderr, "another agent is running") {
		t.Errorf("a second agent: exit %d: %s", code, stderr)
	}
}

// The move waits while a delivery to the smarthost is out (its queue
// file in the old outbox is in use), and is made when the agent stops,
// once that delivery is cancelled: nothing is left in the old outbox.
func TestOutboxMoveWaitsForSmarthost(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	silent, err := net.Listen("tcp", "127.0.0.1:0") // takes connections, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	relay := fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", silent.Addr())
	setConfig(t, e, baseConfig+relay, 0o600)
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Process.Kill()
		c.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	}()
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	e.MustSend("Subject: out to the smarthost\n\nb\n", "r@remote.example")
	time.Sleep(300 * time.Millisecond)
	old := e.Path(".local", "state", "homepost", "outbox")
	setConfig(t, e, "outbox = \"~/newq\"\n"+baseConfig+relay, 0o600)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "following it") }, "the reload")
	e.MustSend("Subject: local\n\nb\n", testenv.Login(t))
	time.Sleep(300 * time.Millisecond)
	if n := outboxFiles(old); n != 1 {
		t.Errorf("%d file(s) in the old outbox while its message is out to the smarthost, want 1", n)
	}
	// The move is pending: mailq and check say that the agent moves
	// the mail, not that nothing delivers it, and advise no move by
	// hand of a file whose delivery is in progress.
	pending := fmt.Sprintf("the agent (pid %d) moves them into %s once the delivery to %s in progress", c.Process.Pid, e.Path("newq"), silent.Addr())
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, pending) || strings.Contains(stderr, "nothing delivers") {
		t.Errorf("mailq while the move waits, want %q:\n%s", pending, stderr)
	}
	if out, _, _ := e.Run(nil, "homepost", "check"); !strings.Contains(out, pending) || strings.Contains(out, "FAIL outbox") {
		t.Errorf("check while the move waits, want %q:\n%s", pending, out)
	}
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()
	if n := outboxFiles(old); n != 0 {
		t.Errorf("%d file(s) left in the old outbox after the agent stopped", n)
	}
	if n := outboxFiles(e.Path("newq")); n != 2 && len(storeFiles(t, e)) == 0 {
		t.Errorf("%d file(s) in the new outbox, want both messages", n)
	}
	out, stderr, _ := e.Run(nil, "mailq")
	if !strings.Contains(out, "r@remote.example") || strings.Contains(stderr, "no longer") {
		t.Errorf("mailq:\n%s%s", out, stderr)
	}
}

// An outbox moved to another file system: what waits in the old one
// cannot be renamed there. It stays where it was, the agent logs it, and
// mailq and check report it, though the old outbox is no default place:
// the agent listed it as one it followed a move from. Mail queued in
// the new outbox is delivered.
func TestOutboxMoveAcrossFileSystems(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	other, err := os.MkdirTemp("/dev/shm", "homepost-move")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	defer os.RemoveAll(other)
	var a, b syscall.Statfs_t
	if syscall.Statfs(other, &a) != nil || syscall.Statfs(e.Home, &b) != nil || a.Fsid == b.Fsid {
		t.Skip("/dev/shm is on the file system of the test's HOME")
	}
	setConfig(t, e, "outbox = \"~/q1\"\n"+baseConfig, 0o600)
	log := startAgentLog(t, e)
	e.MustSend("Subject: deferred before the move\n\nb\n", "someone@remote.example")
	e.WaitFor(func() bool { return strings.Contains(log.String(), "no smarthost configured") }, "the deferral")
	setConfig(t, e, "outbox = \""+other+"/q2\"\n"+baseConfig, 0o600)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "cannot be moved") }, "the log of mail left in the old outbox")
	e.MustSend("Subject: after the move\n\nb\n", testenv.Login(t))
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery of mail queued in the new outbox")
	if n := outboxFiles(e.Path("q1")); n != 1 {
		t.Errorf("%d file(s) in the old outbox, want the deferred message", n)
	}
	if _, stderr, _ := e.Run(nil, "mailq"); !strings.Contains(stderr, e.Path("q1")) {
		t.Errorf("mailq does not report the mail left in %s:\n%s", e.Path("q1"), stderr)
	}
	if out, _, _ := e.Run(nil, "homepost", "check"); !strings.Contains(out, e.Path("q1")) {
		t.Errorf("check does not report the mail left in %s:\n%s", e.Path("q1"), out)
	}
}

// An agent killed while its move of state_dir waited for the smarthost
// had moved nothing: the next agent finds the old outbox listed in
// outbox.former, takes the old state_dir's lock and moves its mail into
// the configured outbox, as the killed one would have. It holds that
// lock as the daemon it is, not as a one-shot delivery: a daemon started
// on the old state_dir would ask it to give way, and it stopped, leaving
// the configured outbox undelivered.
func TestKilledMoveFinishedAtStart(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	silent, err := net.Listen("tcp", "127.0.0.1:0") // takes connections, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	relay := fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", silent.Addr())
	setConfig(t, e, baseConfig+relay, 0o600)
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	e.MustSend("Subject: out to the smarthost\n\nb\n", "r@remote.example")
	time.Sleep(300 * time.Millisecond)
	old := e.Path(".local", "state", "homepost", "outbox")
	setConfig(t, e, "state_dir = \"~/st2\"\n"+baseConfig+relay, 0o600)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "following it") }, "the reload")
	c.Process.Kill()
	c.Wait()
	if n := outboxFiles(old); n != 1 {
		t.Fatalf("%d file(s) in the old outbox after the kill, want 1:\n%s", n, log.String())
	}
	log2 := startAgentLog(t, e)
	e.WaitFor(func() bool { return outboxFiles(old) == 0 }, "the move of the old outbox's mail")
	if n := outboxFiles(e.Path("st2", "outbox")); n != 1 {
		t.Errorf("%d file(s) in the new outbox, want the message:\n%s", n, log2.String())
	}
	oldLock := e.Path(".local", "state", "homepost", "agent.lock")
	if pid, word := agentlock.ReadState(oldLock); pid != agentPid(t, log2.String()) || word == "once" {
		b, _ := os.ReadFile(oldLock)
		t.Errorf("the old state_dir's lock holds %q, want the daemon's pid alone", b)
	}
	// A sendmail that reads the old configuration queues in the old
	// outbox and finds the agent running there: the agent watches that
	// outbox's new/ and moves what comes.
	oldConf := e.Path("old.toml")
	if err := os.WriteFile(oldConf, []byte(baseConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	send := e.Cmd([]byte("Subject: queued with the old configuration\n\nb\n"), "sendmail", testenv.Login(t))
	send.Env = append(send.Env, "HOMEPOST_CONFIG="+oldConf)
	if out, err := send.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v: %s", err, out)
	}
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery of mail queued in the old outbox")
	if strings.Contains(log2.String(), "nothing delivers") {
		t.Errorf("the agent calls the mail stranded:\n%s", log2.String())
	}
	if _, stderr, _ := e.Run(nil, "mailq"); strings.Contains(stderr, "no longer") {
		t.Errorf("mailq:\n%s", stderr)
	}
}

// The same with an outbox named in config.toml (outbox = "~/q1", then
// "~/q2", state_dir unchanged): the lock that guarded q1 is the one the
// next agent takes at its start, and it moves q1's mail. It took q1's
// parent for its state_dir, found no agent.lock there, and left the
// mail for a move by hand.
func TestKilledOutboxMoveFinished(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	silent, err := net.Listen("tcp", "127.0.0.1:0") // takes connections, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	relay := fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", silent.Addr())
	setConfig(t, e, "outbox = \"~/q1\"\n"+baseConfig+relay, 0o600)
	c := e.Cmd(nil, "homepost", "agent")
	var log testenv.LockedBuffer
	c.Stderr = &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(func() bool { return strings.Contains(log.String(), "agent started") }, "agent start")
	e.MustSend("Subject: out to the smarthost\n\nb\n", "r@remote.example")
	time.Sleep(300 * time.Millisecond)
	setConfig(t, e, "outbox = \"~/q2\"\n"+baseConfig+relay, 0o600)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "following it") }, "the reload")
	c.Process.Kill()
	c.Wait()
	if n := outboxFiles(e.Path("q1")); n != 1 {
		t.Fatalf("%d file(s) in the old outbox after the kill, want 1:\n%s", n, log.String())
	}
	log2 := startAgentLog(t, e)
	moved := func() bool {
		return outboxFiles(e.Path("q1")) == 0 || strings.Contains(log2.String(), "nothing delivers")
	}
	e.WaitFor(moved, "the move of the old outbox's mail")
	if n := outboxFiles(e.Path("q2")); n != 1 {
		t.Errorf("%d file(s) in the new outbox, want the message:\n%s", n, log2.String())
	}
	if _, stderr, _ := e.Run(nil, "mailq"); strings.Contains(stderr, "no longer") {
		t.Errorf("mailq:\n%s", stderr)
	}
}

// An outbox named anew by another path to the same directory (a
// symbolic link to it) is no move: the agent goes on delivering it,
// mail queued through either name is delivered, and nothing calls the
// queue stranded. It was taken for a move: the rename of each file onto
// itself failed, the live queue was reported as waiting where nothing
// delivers it, and check FAILed.
func TestOutboxRenamedNoMove(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	setConfig(t, e, "outbox = \"~/q1\"\n"+baseConfig, 0o600)
	log := startAgentLog(t, e)
	e.MustSend("Subject: deferred before the change\n\nb\n", "someone@remote.example")
	e.WaitFor(func() bool { return strings.Contains(log.String(), "no smarthost configured") }, "the deferral")
	if err := os.Symlink("q1", e.Path("qlink")); err != nil {
		t.Fatal(err)
	}
	setConfig(t, e, "outbox = \"~/qlink\"\n"+baseConfig, 0o600)
	e.WaitFor(func() bool { return strings.Contains(log.String(), "msg=reloaded") }, "the reload")
	e.MustSend("Subject: after the change\n\nb\n", testenv.Login(t))
	e.WaitFor(func() bool { return len(storeFiles(t, e)) == 1 }, "delivery of mail queued through the new name")
	if strings.Contains(log.String(), "level=ERROR") || strings.Contains(log.String(), "following it") {
		t.Errorf("the agent took the new name for a move:\n%s", log.String())
	}
	e.WaitFor(func() bool { return outboxFiles(e.Path("q1")) == 1 }, "the deferred message alone in the outbox")
	if _, stderr, _ := e.Run(nil, "mailq"); strings.Contains(stderr, "no longer") {
		t.Errorf("mailq:\n%s", stderr)
	}
	if out, _, _ := e.Run(nil, "homepost", "check"); strings.Contains(out, "FAIL outbox") {
		t.Errorf("check:\n%s", out)
	}
}
