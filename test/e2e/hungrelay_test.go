package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"homepost/test/testenv"
)

// Local mail never waits for the smarthost: with a relay that accepts
// connections and never greets, a message for the Maildir that comes
// after a remote one is stored at once, and so is one whose relay
// password takes its time; the remote one is deferred when the
// timeout passes.
func TestLocalMailDoesNotWaitForHungRelay(t *testing.T) {
	t.Parallel()
	addr, _ := hungRelay(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ncommand_timeout = \"8s\"\n", addr))
	e.StartAgent()
	e.MustSend("Subject: far\n\nb\n", "x@remote.example")
	time.Sleep(300 * time.Millisecond) // the relay is being waited for
	start := time.Now()
	e.MustSend("Subject: near\n\nb\n", "root")
	e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == 1 }, "the local copy")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the local copy took %v behind a hung smarthost", d.Round(time.Millisecond))
	}
}

// hungRelay listens for connections and never greets; conns counts the
// connections accepted.
func hungRelay(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	conns := &atomic.Int32{}
	addr := testenv.Serve(t, func(net.Conn) { conns.Add(1) }) // say nothing
	return addr, conns
}

// A flush (or agent --once) that waits for the running agent while the
// smarthost hangs does not hold up local mail: the agent answers it
// without stopping its loop for the smarthost.
func TestFlushDoesNotHoldLocalMailBehindHungRelay(t *testing.T) {
	t.Parallel()
	addr, conns := hungRelay(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ncommand_timeout = \"40s\"\n", addr))
	e.StartAgent()
	e.MustSend("Subject: far\n\nb\n", "x@remote.example")
	e.WaitFor(func() bool { return conns.Load() > 0 }, "the connection to the smarthost")
	for _, args := range [][]string{{"flush"}, {"agent", "--once"}} {
		w := e.Cmd(nil, "homepost", args...)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Process.Kill(); w.Wait() })
		time.Sleep(500 * time.Millisecond) // the agent has the request
		before := len(testenv.Files(e.Path("Maildir", "new")))
		start := time.Now()
		e.MustSend("Subject: near\n\nb\n", "root")
		e.WaitFor(func() bool { return len(testenv.Files(e.Path("Maildir", "new"))) == before+1 }, "the local copy")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("homepost %v: the local copy took %v behind a hung smarthost", args, d.Round(time.Millisecond))
		}
	}
}

// SIGTERM ends the agent at once while the smarthost hangs: the send is
// cancelled, its recipient deferred (recorded so) and the message kept.
func TestStopDuringHungRelay(t *testing.T) {
	t.Parallel()
	addr, conns := hungRelay(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ncommand_timeout = \"60s\"\n", addr))
	agent := e.StartAgent()
	e.MustSend("Subject: far\n\nb\n", "x@remote.example")
	e.WaitFor(func() bool { return conns.Load() > 0 }, "the connection to the smarthost")
	time.Sleep(200 * time.Millisecond)
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	start := time.Now()
	agent.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("agent: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the agent took %v to stop", d.Round(time.Millisecond))
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the agent still runs 10s after SIGTERM while the smarthost hangs")
	}
	if n := testenv.Files(e.Outbox("cur")); len(n) != 1 {
		t.Errorf("outbox/cur: %v, want the message", n)
	}
	js, _, _ := e.Run(nil, "mailq", "--json")
	if !strings.Contains(js, "x@remote.example") || !strings.Contains(js, `"queue_name":"deferred"`) {
		t.Errorf("mailq --json:\n%s", js)
	}
}

// homepost flush does not wait out a hung smarthost's timeout: once the
// agent's pass has ended but for the smarthost, it waits about half a
// minute for its answer, then leaves (exit 0); the delivery goes on.
func TestFlushLeavesHungRelayToAgent(t *testing.T) {
	t.Parallel()
	addr, conns := hungRelay(t)
	e := testenv.New(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\ncommand_timeout = \"120s\"\n", addr))
	e.StartAgent()
	e.MustSend("Subject: far\n\nb\n", "x@remote.example")
	e.WaitFor(func() bool { return conns.Load() > 0 }, "the connection to the smarthost")
	start := time.Now()
	if _, stderr, code := e.Run(nil, "homepost", "flush"); code != 0 {
		t.Errorf("flush: exit %d: %s", code, stderr)
	}
	if d := time.Since(start); d < 25*time.Second || d > 45*time.Second {
		t.Errorf("flush took %v, want about 30s", d.Round(time.Millisecond))
	}
	if n := testenv.Files(e.Outbox("cur")); len(n) != 1 {
		t.Errorf("outbox/cur: %v, want the message", n)
	}
}
