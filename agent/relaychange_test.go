package agent

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"homepost/config"
	"homepost/outbox"
)

// silentRelay accepts connections and says nothing, as a port that
// speaks TLS from the first byte does to a client that waits for a
// greeting in clear; conns counts the connections.
func silentRelay(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conns := &atomic.Int32{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().String(), conns
}

// sinkRelay is a real SMTP server that takes every message.
func sinkRelay(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(sink{})
	s.Domain = "smarthost.test"
	s.ErrorLog = log.New(io.Discard, "", 0)
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (ta *testAgent) answer() *remoteBatch {
	ta.t.Helper()
	select {
	case b := <-ta.remoteDone:
		return b
	case <-time.After(10 * time.Second):
		ta.t.Fatal("no answer from the smarthost's worker")
		return nil
	}
}

// A reload that replaces the [relay] settings ends the delivery out
// with the old ones (a STARTTLS url to a port that never greets: it
// would wait command_timeout), within stopGrace: its copy is deferred
// with the reason, a batch queued behind it is not sent with the old
// settings at all, and both messages are due at once, for the new url.
func TestRelayReplacedEndsHungDelivery(t *testing.T) {
	silent, conns := silentRelay(t)
	ta := newTestAgent(t, fmt.Sprintf("[relay]\nurl = \"smtp+starttls://%s\"\n", silent))
	ta.async = true
	ta.queue("alice@box.example.org", ta.clock, "bob@remote.example")
	ta.run()
	waitFor(t, "the connection to the smarthost", func() bool { return conns.Load() > 0 })
	ta.queue("alice@box.example.org", ta.clock, "carol@remote.example")
	ta.run()

	cfg, err := config.LoadFile(ta.cfg.File, config.NewIdentity("alice", ta.home, "Alice", ta.cfg.UID))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Relay.URL = "smtp://" + sinkRelay(t)
	ta.configure(cfg)
	start := time.Now()
	ta.relayReplaced()
	// The worker holds the smarthost until the loop has recorded a
	// delivery's results: the one queued behind answers after that.
	b1 := ta.answer()
	if d := time.Since(start); d > stopGrace+3*time.Second {
		t.Errorf("the hung delivery ended %v after the reload", d.Round(time.Millisecond))
	}
	if !b1.started {
		t.Fatal("the first delivery did not start")
	}
	if r := b1.results[0]; r.Status != outbox.Deferred || !strings.Contains(r.Reason, "interrupted as the [relay] configuration changed") {
		t.Errorf("the hung copy: %s %s", r.Status, r.Text())
	}
	ta.remoteFinished(b1)
	b2 := ta.answer()
	if b2.started {
		t.Error("the delivery queued behind went out with the old url")
	}
	ta.remoteFinished(b2)
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections with the old url, want 1", n)
	}
	if strings.Count(ta.logs.String(), "status=deferred") != 1 {
		t.Errorf("want one deferral logged (the batch not begun records nothing):\n%s", ta.logs.String())
	}
	for n, d := range ta.due {
		if !d.IsZero() || !ta.forcedRemote[n] {
			t.Errorf("%s due %v (forced %v), want now", n, d, ta.forcedRemote[n])
		}
	}
	if len(ta.due) != 2 {
		t.Fatalf("due: %v, want both messages", ta.due)
	}
	// With the new url, both go.
	ta.runDue(context.Background())
	for range 2 {
		if len(ta.out) == 0 {
			break
		}
		ta.remoteFinished(ta.answer())
	}
	ta.empty()
	if got := strings.Count(ta.logs.String(), "status=sent"); got != 2 {
		t.Errorf("%d copies sent with the new url, want 2:\n%s", got, ta.logs.String())
	}
}

// While the smarthost does not answer, the local copy of a message that
// also goes to it is recorded in the journal (mailq lists only the
// remote recipient), and the agent says what is being sent where,
// since when (RunningSending, which mailq reads).
func TestLocalResultRecordedWhileSmarthostHangs(t *testing.T) {
	silent, conns := silentRelay(t)
	ta := newTestAgent(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", silent))
	lock, err := TryLock(ta.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	ta.async = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ta.queue("alice@box.example.org", ta.clock, "alice", "bob@remote.example")
	if err := ta.runOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connection to the smarthost", func() bool { return conns.Load() > 0 })
	if n := len(ta.stored()); n != 1 {
		t.Fatalf("%d local copies, want 1", n)
	}
	entries, err := ta.box.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || len(entries[0].Rcpts) != 1 || entries[0].Rcpts[0].Addr != "bob@remote.example" {
		t.Errorf("mailq would list %+v, want bob@remote.example alone", entries)
	}
	s, ok := RunningSending(ta.cfg)
	if !ok {
		t.Fatal("the agent does not say what it sends")
	}
	if s.Where != silent || !s.Since.Equal(ta.clock) || fmt.Sprint(s.Rcpts[entries[0].ID]) != "[1]" {
		t.Errorf("sending: %+v, want recipient 1 of %s to %s since %v", s, entries[0].ID, silent, ta.clock)
	}
	cancel()
	ta.remoteFinished(ta.answer())
	waitFor(t, "the status of the delivery to go", func() bool { _, ok := RunningSending(ta.cfg); return !ok })
	_, env := ta.claimed()
	if env.Rcpts[0].Status != outbox.Sent || env.Rcpts[1].Status != outbox.Deferred {
		t.Errorf("recipients: %+v", env.Rcpts)
	}
}

// A delivery queued behind the one in progress is told apart from it:
// RunningSending lists its recipients as waiting, until it is the only
// one out.
func TestQueuedDeliveryIsShownWaiting(t *testing.T) {
	silent, conns := silentRelay(t)
	ta := newTestAgent(t, fmt.Sprintf("[relay]\nurl = \"smtp://%s\"\n", silent))
	lock, err := TryLock(ta.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	ta.async = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ta.queue("alice@box.example.org", ta.clock, "bob@remote.example")
	if err := ta.runOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connection to the smarthost", func() bool { return conns.Load() > 0 })
	names, _ := ta.box.Names("cur")
	if len(names) != 1 {
		t.Fatalf("cur/ holds %v, want the first message", names)
	}
	first := names[0]
	ta.queue("alice@box.example.org", ta.clock, "alice", "carol@remote.example")
	if err := ta.runOnce(ctx, false); err != nil {
		t.Fatal(err)
	}
	s, ok := RunningSending(ta.cfg)
	if !ok {
		t.Fatal("the agent does not say what it sends")
	}
	if len(s.Rcpts) != 1 || s.Rcpts[outbox.ID(first)] == nil || len(s.Waiting) != 1 || s.Rcpts[outbox.ID(first)][0] != 0 {
		t.Fatalf("sending %v, waiting %v: want %s in progress, the other waiting", s.Rcpts, s.Waiting, outbox.ID(first))
	}
	for _, idx := range s.Waiting {
		if fmt.Sprint(idx) != "[1]" {
			t.Errorf("waiting: %v, want recipient 1 (carol; alice is stored)", s.Waiting)
		}
	}
	cancel()
	ta.remoteFinished(ta.answer())
	if _, err := os.Stat(queuedPath(ta.cfg)); !os.IsNotExist(err) {
		t.Errorf("the list of deliveries out stays with one out: %v", err)
	}
	ta.remoteFinished(ta.answer())
	waitFor(t, "the status of the deliveries to go", func() bool { _, ok := RunningSending(ta.cfg); return !ok })
}
