package review

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/test/testenv"
)

// A smarthost that has a message's data and takes its time to answer
// (content scanning): a stop that cut the delivery then would have the
// message sent again, a second copy at the smarthost. So a stopping
// agent, and a background delivery asked to give way to a daemon that
// starts, wait for the answer to the end of data; only what has not
// reached that point is cut off.

// slowRelay is a HOME whose smarthost answers each message's data after
// wait; far is a recipient there.
func slowRelay(t *testing.T, wait time.Duration) (*testenv.Env, *testenv.Smarthost, string) {
	h := testenv.StartSmarthost(t)
	h.Slow(wait)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	return e, h, "far@remote.example"
}

// queueEmpty reports whether the outbox holds no message.
func queueEmpty(e *testenv.Env) bool {
	return len(testenv.Files(e.Outbox("new"))) == 0 && len(testenv.Files(e.Outbox("cur"))) == 0
}

// oneCopy flushes the queue (a deferral is tried again at once) and
// fails the test unless the smarthost got exactly one copy for rcpt.
func oneCopy(t *testing.T, e *testenv.Env, h *testenv.Smarthost, rcpt string) {
	t.Helper()
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Fatalf("flush: exit %d: %s", code, stderr)
	}
	e.WaitFor(func() bool { return queueEmpty(e) }, "the queue to empty")
	if n := h.Count(rcpt); n != 1 {
		t.Errorf("the smarthost got %d copies, want 1", n)
	}
}

// README's restart, "kill PID; homepost agent", while the smarthost
// holds a message's data and has not answered.
func TestRestartWaitsForSmarthostAnswer(t *testing.T) {
	t.Parallel()
	e, h, far := slowRelay(t, 5*time.Second)
	old, log, exited := stoppingAgent(t, e)
	e.MustSend("Subject: slow answer\n\nx\n", far)
	e.WaitFor(func() bool { return h.Count(far) == 1 }, "the smarthost to take the data")
	old.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	e.StartAgent()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Error("the old agent still runs beside the new one")
	}
	if !strings.Contains(log.String(), "status=sent") {
		t.Errorf("the stopping agent did not take the smarthost's answer:\n%s", log.String())
	}
	oneCopy(t, e, h, far)
}

// A daemon that starts while sendmail's background delivery waits for
// the smarthost's answer: the background delivery is asked to give way,
// and does so once the answer is in.
func TestDaemonStartWaitsForBackgroundAnswer(t *testing.T) {
	t.Parallel()
	e, h, far := slowRelay(t, 5*time.Second)
	e.DeliverWithoutAgent()
	e.MustSend("Subject: slow answer\n\nx\n", far)
	e.WaitFor(func() bool { return h.Count(far) == 1 }, "the smarthost to take the data")
	if e.LockHolder() <= 0 {
		t.Fatal("no background delivery holds the lock")
	}
	e.StartAgent()
	oneCopy(t, e, h, far)
	if b, _ := os.ReadFile(e.Path(".local", "state", "homepost", "agent.log")); strings.Contains(string(b), "status=deferred") {
		t.Errorf("the background delivery was cut off:\n%s", b)
	}
}

// Mail queued while the agent stops (here, waiting for a smarthost's
// answer) saw an agent holding the lock and started no delivery, and
// the agent delivered nothing more: it waited for the next homepost
// command. Now sendmail starts a background delivery, which waits for
// the stopping agent to end and delivers it; check says the agent is
// stopping.
func TestMailQueuedWhileAgentStops(t *testing.T) {
	t.Parallel()
	e, h, far := slowRelay(t, 4*time.Second)
	e.DeliverWithoutAgent()
	old := e.StartAgent()
	e.MustSend("Subject: slow answer\n\nx\n", far)
	e.WaitFor(func() bool { return h.Count(far) == 1 }, "the smarthost to take the data")
	old.Process.Signal(syscall.SIGTERM)
	e.WaitFor(func() bool {
		out, _, _ := e.Run(nil, "homepost", "check")
		return strings.Contains(out, "agent: stopping (pid")
	}, "check to say that the agent is stopping")
	e.MustSend("Subject: queued meanwhile\n\nx\n", "root")
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 1 }, "the message queued meanwhile in the Maildir")
	e.WaitFor(func() bool { return queueEmpty(e) }, "the queue to empty")
	if n := h.Count(far); n != 1 {
		t.Errorf("the smarthost got %d copies, want 1", n)
	}
}

// README's restart while the agent runs a command that takes a while
// (a |command in the aliases): the agent took the signal only when the
// command ended, and a daemon started meanwhile found it running and
// left, so that none was left. The lock says "stopping" as the signal
// comes, and the new agent waits.
func TestRestartDuringCommandDelivery(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	started, out := e.Path("started"), e.Path("out")
	aliases := fmt.Sprintf("slow: \"|touch %s; sleep 3; cat > %s\"\n", started, out)
	if err := os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte(aliases), 0o600); err != nil {
		t.Fatal(err)
	}
	old, _, _ := stoppingAgent(t, e)
	e.MustSend("Subject: to a command\n\nx\n", "slow")
	e.WaitFor(func() bool { _, err := os.Stat(started); return err == nil }, "the command to start")
	old.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	_, newLog, ended := e.OwnAgent()
	e.AwaitStarted(newLog, ended)
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), "to a command") {
		t.Errorf("the command's copy: %q, %v", b, err)
	}
}

// A reload that replaces [relay] while the smarthost holds a message's
// data and has not answered: the delivery out under the old settings
// is cut after 2 s unless its answer is awaited; then it gets the
// answer first, and the message is not sent again.
func TestRelayChangeWaitsForSmarthostAnswer(t *testing.T) {
	t.Parallel()
	e, h, far := slowRelay(t, 5*time.Second)
	e.StartAgent()
	e.MustSend("Subject: slow answer\n\nx\n", far)
	e.WaitFor(func() bool { return h.Count(far) == 1 }, "the smarthost to take the data")
	cfg := e.Path(".config", "homepost", "config.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append(b, "connect_timeout = \"20s\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	oneCopy(t, e, h, far)
}

// A stop that comes while a |command runs: the agent took the signal
// only once its queue was empty, and so delivered every message queued
// after it, each command in turn, for as long as mail came. No batch
// begins after the signal: what came meanwhile is the next agent's.
func TestStopTakesNoNewBatch(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "")
	runs := e.Path("runs")
	aliases := fmt.Sprintf("slow: \"|/bin/sh -c 'echo run >> %s; sleep 2'\"\n", runs)
	if err := os.WriteFile(e.Path(".config", "homepost", "aliases"), []byte(aliases), 0o600); err != nil {
		t.Fatal(err)
	}
	old, log, exited := stoppingAgent(t, e)
	e.MustSend("Subject: first\n\nx\n", "slow")
	e.WaitFor(func() bool { _, err := os.Stat(runs); return err == nil }, "the command to start")
	old.Process.Signal(syscall.SIGTERM)
	e.MustSend("Subject: second\n\nx\n", "slow")
	e.MustSend("Subject: third\n\nx\n", "slow")
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the agent has not stopped:\n%s", log.String())
	}
	if b, _ := os.ReadFile(runs); strings.Count(string(b), "run") != 1 {
		t.Errorf("the stopping agent ran the command %d times, want 1:\n%s", strings.Count(string(b), "run"), log.String())
	}
	if n := len(testenv.Files(e.Outbox("new"))); n != 2 {
		t.Errorf("%d messages left in outbox/new, want 2", n)
	}
}

// stoppingAgent starts an agent with its own log, returns it, and a
// channel closed once it has exited.
func stoppingAgent(t *testing.T, e *testenv.Env) (*exec.Cmd, *testenv.LockedBuffer, <-chan struct{}) {
	c, log, exited := e.OwnAgent()
	e.AwaitStarted(log, exited)
	return c, log, exited
}

// The smarthost's own answer, come while a stop waited for it (a 451
// after the scan), is the result: not called an interruption by the
// stop, which interrupted nothing.
func TestStopKeepsSmarthostsAnswer(t *testing.T) {
	t.Parallel()
	h := testenv.StartSmarthost(t)
	came := make(chan struct{}, 1)
	h.OnData(func([]byte) error {
		came <- struct{}{}
		time.Sleep(3 * time.Second)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "scanner busy"}
	})
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", h.Addr))
	c, log, exited := stoppingAgent(t, e)
	e.MustSend("Subject: scanned\n\nx\n", "far@remote.example")
	select {
	case <-came:
	case <-time.After(20 * time.Second):
		t.Fatal("the smarthost got no data")
	}
	c.Process.Signal(syscall.SIGTERM)
	<-exited
	l := log.String()
	if !strings.Contains(l, "scanner busy") || strings.Contains(l, "interrupted as the agent stopped: host") {
		t.Errorf("the smarthost's answer is not the result as it is:\n%s", l)
	}
}

// A stop that waited for the answer to a message's first transaction
// (50 recipients) ends the delivery then: the recipients of the next
// transaction, never offered, count no attempt ("not tried"), rather
// than a deferral as if a connection had failed.
func TestStopLeavesNextTransactionNotTried(t *testing.T) {
	t.Parallel()
	e, h, _ := slowRelay(t, 3*time.Second)
	var rcpts []string
	for i := range 60 {
		rcpts = append(rcpts, fmt.Sprintf("r%02d@remote.example", i))
	}
	c, log, exited := stoppingAgent(t, e)
	e.MustSend("Subject: many\n\nx\n", rcpts...)
	e.WaitFor(func() bool { return len(h.Transactions()) == 1 }, "the first transaction's data")
	c.Process.Signal(syscall.SIGTERM)
	<-exited
	l := log.String()
	if n := strings.Count(l, `status="not tried"`); n != 10 {
		t.Errorf("%d recipients not tried, want 10:\n%s", n, l)
	}
	if strings.Contains(l, "operation was canceled") {
		t.Errorf("a recipient never offered has a connection's failure as its reason:\n%s", l)
	}
}

// An exec: relay program and a stop: one that has read the whole
// message may have handed it on, and is waited for (cut off, it would
// be sent again); one that has read none of it yet is cut after the
// 2 s grace, not waited for as if it had it.
func TestStopAndExecRelay(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, script string
		waited       bool
	}{
		{"read it all", "cat > \"$0.got\"; sleep 4; echo sent >> \"$0.runs\"", true},
		{"read nothing", "sleep 30; cat > \"$0.got\"; echo sent >> \"$0.runs\"", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := testenv.New(t, "")
			prog := e.Path("relay.sh")
			if err := os.WriteFile(prog, []byte("#!/bin/sh\n"+c.script+"\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			cfg := e.Path(".config", "homepost", "config.toml")
			b, _ := os.ReadFile(cfg)
			os.WriteFile(cfg, append(b, fmt.Sprintf("[relay]\nurl = \"exec:%s\"\n", prog)...), 0o600)
			a, log, exited := stoppingAgent(t, e)
			e.MustSend("Subject: by a program\n\nx\n", "far@remote.example")
			if c.waited {
				e.WaitFor(func() bool { _, err := os.Stat(prog + ".got"); return err == nil }, "the program to read")
			}
			time.Sleep(500 * time.Millisecond)
			start := time.Now()
			a.Process.Signal(syscall.SIGTERM)
			<-exited
			took := time.Since(start)
			runs, _ := os.ReadFile(prog + ".runs")
			switch {
			case c.waited && (strings.Count(string(runs), "sent") != 1 || !strings.Contains(log.String(), "status=sent")):
				t.Errorf("the program that had the message was not waited for (%v):\n%s", took, log.String())
			case !c.waited && took > 10*time.Second:
				t.Errorf("the stop took %v for a program that had read nothing:\n%s", took, log.String())
			}
		})
	}
}

// A hold asked for while a stopping agent waits for the smarthost's
// answer to that message, which the smarthost then takes: the agent
// logs the hold as asked, then "not held"; it does not leave the hold
// for the next agent to log, as the last word on a message that has
// gone.
func TestHoldInStopWindowLoggedInOrder(t *testing.T) {
	t.Parallel()
	e, h, far := slowRelay(t, 4*time.Second)
	c, log, exited := stoppingAgent(t, e)
	e.MustSend("Subject: held too late\n\nx\n", far)
	e.WaitFor(func() bool { return h.Count(far) == 1 }, "the smarthost to take the data")
	id := queueIDs(t, e)[0]
	c.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	if _, stderr, code := e.Run(nil, "homepost", "queue", "hold", id); code != 0 {
		t.Fatalf("hold: exit %d: %s", code, stderr)
	}
	<-exited
	l := log.String()
	held, notHeld := strings.Index(l, "status=held"), strings.Index(l, `status="not held"`)
	if held < 0 || notHeld < held {
		t.Errorf("the hold and its end are not logged in order:\n%s", l)
	}
	if _, err := os.Stat(e.Path(".local", "state", "homepost", "queue.actions")); err == nil {
		t.Error("the hold is left for a later agent to log, after the message has gone")
	}
}
