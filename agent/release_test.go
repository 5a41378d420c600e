package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
)

// A release gives a held message back to new/ by a link, then unlinks it
// from cur/ (outbox.Dir.Release). An agent that finds it in both in
// between must not drop the name in new/: once the release unlinks the
// name in cur/, the file would be in no directory.

// queueHeld queues a message to alice and holds it; it returns the
// queue ID.
func (ta *testAgent) queueHeld(subject string) string {
	ta.t.Helper()
	id := ta.queueSubject(subject)
	p, err := ta.box.Find(id)
	if err != nil {
		ta.t.Fatal(err)
	}
	if ok, err := ta.box.Hold(p); !ok || err != nil {
		ta.t.Fatalf("hold: %v, %v", ok, err)
	}
	return id
}

// queueSubject queues a message to alice with the subject given.
func (ta *testAgent) queueSubject(subject string) string {
	ta.t.Helper()
	env := &outbox.Envelope{Sender: "bob@example.com", Arrival: ta.now(), Rcpts: []outbox.Recipient{{Addr: "alice", Parent: -1}}}
	dr, err := ta.box.Create(env, "box")
	if err != nil {
		ta.t.Fatal(err)
	}
	dr.WriteString("From: bob@example.com\nSubject: " + subject + "\n\nbody\n")
	if err := dr.Commit(); err != nil {
		ta.t.Fatal(err)
	}
	return dr.ID()
}

// copies counts the stored copies per subject.
func (ta *testAgent) copies() map[string]int {
	ta.t.Helper()
	n := map[string]int{}
	for _, c := range ta.stored() {
		_, rest, _ := strings.Cut(c, "\nSubject: ")
		subject, _, _ := strings.Cut(rest, "\n")
		n[subject]++
	}
	return n
}

// A release half done (the message linked into new/, still in cur/, the
// lock held): the agent leaves the name in new/, and claims it as new
// once the release is done.
func TestReleaseHalfDone(t *testing.T) {
	ta := newTestAgent(t, "")
	id := ta.queueHeld("half done")
	cur, err := ta.box.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(filepath.Base(cur), ":")
	m, err := outbox.OpenLocked(cur)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Append(outbox.Record{Kind: 'h', Hold: false}); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(cur, ta.box.Path("new", name)); err != nil {
		t.Fatal(err)
	}
	ta.run()
	if _, err := os.Stat(ta.box.Path("new", name)); err != nil {
		t.Fatalf("the agent dropped the name of a message being released: %v", err)
	}
	if err := os.Remove(cur); err != nil {
		t.Fatal(err)
	}
	m.Close()
	ta.run()
	ta.clock = ta.clock.Add(time.Minute) // the look at cur/ it scheduled
	ta.run()
	ta.empty()
	if n := ta.copies()["half done"]; n != 1 {
		t.Fatalf("%d copies stored, want 1", n)
	}
}

// before is a courier that runs f before the one it wraps.
type before struct {
	courier.Courier
	f func()
}

func (b before) Deliver(ctx context.Context, copies []*courier.Copy) []courier.Result {
	b.f()
	return b.Courier.Deliver(ctx, copies)
}

// A message the agent claimed (its name still in new/ until the batch's
// claims are durable) that is held and released before then: the agent
// must not drop the name in new/ that the release left as the message's
// only one.
func TestReleaseDuringClaim(t *testing.T) {
	ta := newTestAgent(t, "")
	idA := ta.queueSubject("A")
	idB := ta.queueSubject("B")
	var jobs []*job
	var curB string
	for _, id := range []string{idA, idB} {
		p, _ := ta.box.Find(id)
		n := filepath.Base(p)
		cur, err := ta.box.Take(n)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, &job{name: filepath.Base(cur), path: cur, taken: n})
		curB = cur
	}
	// Held while the agent has it claimed, before it opens it.
	if ok, err := ta.box.Hold(ta.box.Path("new", jobs[1].taken)); !ok || err != nil {
		t.Fatalf("hold: %v, %v", ok, err)
	}
	released := false
	ta.couriers[forwarder.Maildir] = before{ta.couriers[forwarder.Maildir], func() {
		if !released {
			released = true
			if ok, err := ta.box.Release(curB); !ok || err != nil {
				t.Errorf("release: %v, %v", ok, err)
			}
		}
	}}
	ta.deliver(context.Background(), jobs)
	if !released {
		t.Fatal("the courier was not called")
	}
	if p, err := ta.box.Find(idB); err != nil {
		t.Fatalf("the released message is in no directory: %v", err)
	} else if filepath.Base(filepath.Dir(p)) != "new" {
		t.Fatalf("the released message is at %s, want it in new/", p)
	}
	ta.run()
	ta.empty()
	if c := ta.copies(); c["A"] != 1 || c["B"] != 1 {
		t.Fatalf("copies stored: %v", c)
	}
}

// Releases and holds race a running agent: every message is delivered
// exactly once and nothing is left in the outbox.
func TestReleaseRacesAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("hold and release cycles against a running agent")
	}
	ta := newTestAgent(t, "")
	ta.now = time.Now
	box := ta.box
	const msgs, rounds = 12, 25
	var ids []string
	for i := range msgs {
		ids = append(ids, ta.queueHeld(fmt.Sprint("race ", i)))
	}
	// homepost queue release sends SIGHUP, which makes the agent look
	// at new/ again; SIGUSR1 does too, without rereading a configuration
	// file that this test has not got.
	reqs := make(chan os.Signal, 64)
	ta.reqs = reqs
	wake := func() {
		select {
		case reqs <- syscall.SIGUSR1:
		default:
		}
	}
	ready := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ta.loop(ctx, Options{Ready: func() []any { close(ready); return nil }})
	}()
	<-ready
	for round := range rounds {
		for _, id := range ids {
			p, err := box.Find(id)
			if err != nil {
				continue // delivered
			}
			if _, err := box.Release(p); err != nil {
				t.Errorf("release: %v", err)
			}
			wake()
			if round == rounds-1 {
				continue
			}
			// Held again at once, racing the agent's claim.
			if p, err := box.Find(id); err == nil {
				if _, err := box.Hold(p); err != nil {
					t.Errorf("hold: %v", err)
				}
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := box.Names("new")
		c, _ := box.Names("cur")
		if len(n)+len(c) == 0 && len(ta.stored()) >= msgs {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
		wake()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"new", "cur"} {
		if n, _ := box.Names(sub); len(n) != 0 {
			t.Errorf("outbox/%s still holds %v", sub, n)
		}
	}
	if n, _ := os.ReadDir(filepath.Join(ta.home, "state", "corrupt")); len(n) != 0 {
		t.Errorf("set aside: %v", n)
	}
	c := ta.copies()
	for i := range msgs {
		if s := fmt.Sprint("race ", i); c[s] != 1 {
			t.Errorf("%q: %d copies stored, want 1 (lost: in no directory)", s, c[s])
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", ta.logs.String())
	}
}

// A message taken up from cur/ whose claim left its name in new/ too (a
// crash between the link and the drop, or a drop that found the lock
// busy): delivering it from cur/ drops that name as well, under the
// agent's lock, before the message is retired. Left in new/, it named
// the retired file, by then a spare for the next sendmail to refill: it
// was claimed again and recycled a second time, one file under two
// spare names (two sendmails writing two messages into it), or, once
// refilled, would have delivered the new message under the old name.
func TestLeftoverNameGoesWithDelivery(t *testing.T) {
	ta := newTestAgent(t, "")
	id := ta.queueSubject("leftover")
	p, err := ta.box.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(p)
	if err := os.Link(p, ta.box.Path("cur", name+":2,")); err != nil {
		t.Fatal(err)
	}
	// Taken up from cur/ before any look at new/, as when the look found
	// the lock busy.
	if err := ta.start(); err != nil {
		t.Fatal(err)
	}
	ta.runDue(context.Background())
	if _, err := os.Lstat(ta.box.Path("new", name)); !os.IsNotExist(err) {
		t.Fatalf("the name in new/ of a message delivered from cur/ is still there (%v)", err)
	}
	ta.run()
	ta.empty()
	if n := ta.copies()["leftover"]; n != 1 {
		t.Fatalf("%d copies stored, want 1", n)
	}
	seen := map[uint64]string{}
	ents, _ := os.ReadDir(ta.box.Path("tmp"))
	for _, e := range ents {
		fi, err := os.Stat(ta.box.Path("tmp", e.Name()))
		if err != nil {
			continue
		}
		ino := fi.Sys().(*syscall.Stat_t).Ino
		if other, ok := seen[ino]; ok {
			t.Fatalf("one file under two names in outbox/tmp: %s and %s", other, e.Name())
		}
		seen[ino] = e.Name()
	}
}
