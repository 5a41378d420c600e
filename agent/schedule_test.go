package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"homepost/config"
	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
)

// These tests drive the agent's scheduling on a real outbox and a real
// Maildir in a temporary home, with a clock of their own. Only the
// smarthost is a stand-in (a courier that answers as told); local
// copies go through the real couriers unless a test wraps them.

type testAgent struct {
	*Agent
	t     *testing.T
	home  string
	clock time.Time
	logs  bytes.Buffer
}

func newTestAgent(t *testing.T, extra string) *testAgent {
	t.Helper()
	home := t.TempDir()
	conf := filepath.Join(home, "config.toml")
	text := "hostname = \"box.example.org\"\nlocal_domains = [\"box.example.org\"]\nsystem_aliases = \"\"\nstate_dir = \"~/state\"\n" + extra
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	ta := &testAgent{t: t, home: home, clock: time.Now().Truncate(time.Second)}
	ta.Agent = newAgent(cfg, slog.New(slog.NewTextHandler(&ta.logs, nil)))
	ta.now = func() time.Time { return ta.clock }
	return ta
}

// fake is a courier that answers each copy as answer says and keeps
// every batch it was given.
type fake struct {
	calls  [][]*courier.Copy
	answer func(c *courier.Copy) courier.Result
	before func(call int) // called first, with the call's number from 1
}

func (f *fake) Deliver(_ context.Context, copies []*courier.Copy) []courier.Result {
	f.calls = append(f.calls, copies)
	if f.before != nil {
		f.before(len(f.calls))
	}
	res := make([]courier.Result, len(copies))
	for i, c := range copies {
		res[i] = f.answer(c)
	}
	return res
}

// smarthost makes remote copies go to a fake that answers with res.
func (ta *testAgent) smarthost(answer func(c *courier.Copy) courier.Result) *fake {
	f := &fake{answer: answer}
	ta.couriers[forwarder.Remote] = f
	return f
}

// queue puts a message from sender to rcpts in the outbox, as sendmail
// does, arrived at arrival.
func (ta *testAgent) queue(sender string, arrival time.Time, rcpts ...string) {
	ta.t.Helper()
	env := &outbox.Envelope{Sender: sender, Arrival: arrival}
	for _, r := range rcpts {
		env.Rcpts = append(env.Rcpts, outbox.Recipient{Addr: r, Parent: -1})
	}
	dr, err := ta.box.Create(env, "box")
	if err != nil {
		ta.t.Fatal(err)
	}
	dr.WriteString("From: " + sender + "\nSubject: test\n\nbody\n")
	if err := dr.Commit(); err != nil {
		ta.t.Fatal(err)
	}
}

func (ta *testAgent) run() {
	ta.t.Helper()
	if err := ta.runOnce(context.Background(), false); err != nil {
		ta.t.Fatal(err)
	}
}

// claimed returns the one queue file in cur/ and its envelope.
func (ta *testAgent) claimed() (string, *outbox.Envelope) {
	ta.t.Helper()
	names, _ := ta.box.Names("cur")
	if len(names) != 1 {
		ta.t.Fatalf("cur/ holds %v, want one message", names)
	}
	m, err := outbox.OpenLocked(ta.box.Path("cur", names[0]))
	if err != nil {
		ta.t.Fatal(err)
	}
	defer m.Close()
	return names[0], m.Env
}

// empty checks that the outbox holds nothing and nothing is scheduled.
func (ta *testAgent) empty() {
	ta.t.Helper()
	for _, sub := range []string{"new", "cur"} {
		if names, _ := ta.box.Names(sub); len(names) != 0 {
			ta.t.Fatalf("%s/ still holds %v", sub, names)
		}
	}
	if len(ta.due) != 0 {
		ta.t.Fatalf("still scheduled: %v", ta.due)
	}
}

// stored returns the copies in the user's Maildir (new/).
func (ta *testAgent) stored() []string {
	ta.t.Helper()
	dir := filepath.Join(ta.home, "Maildir", "new")
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			ta.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func within(t *testing.T, what string, got, want time.Time, d time.Duration) {
	t.Helper()
	lo, hi := want.Add(-d/10), want.Add(d/10)
	if got.Before(lo) || got.After(hi) {
		t.Fatalf("%s at %v, want %v ±10%% of %v", what, got, want, d)
	}
}

// A temporary failure is retried on the backoff schedule, each try
// recorded in the journal; the copy of a retry is marked recovered so
// that the courier looks for an earlier copy; success removes the file.
func TestTemporaryFailureIsRetriedOnSchedule(t *testing.T) {
	ta := newTestAgent(t, "")
	answer := courier.Temp("4.4.1", "connection refused")
	relay := ta.smarthost(func(*courier.Copy) courier.Result { return answer })
	arrived := ta.clock
	ta.queue("alice@box.example.org", ta.clock, "bob@example.com")
	ta.run()
	if len(relay.calls) != 1 || relay.calls[0][0].Recovered {
		t.Fatalf("first attempt: %d calls, recovered %v", len(relay.calls), relay.calls[0][0].Recovered)
	}
	name, env := ta.claimed()
	r := env.Rcpts[0]
	if r.Status != outbox.Deferred || r.Attempts != 1 || r.Reason != "4.4.1 connection refused" {
		t.Fatalf("after one attempt: %+v", r)
	}
	within(t, "retry", ta.due[name], ta.clock.Add(time.Minute), time.Minute)
	if d := ta.due[name].Sub(r.Next); d < 0 || d >= time.Second {
		t.Fatalf("scheduled %v, journal says %v", ta.due[name], r.Next)
	}

	// Not yet due: nothing happens.
	ta.clock = ta.due[name].Add(-time.Second)
	ta.runDue(context.Background())
	if len(relay.calls) != 1 {
		t.Fatal("retried before it was due")
	}
	for n := range 9 {
		ta.clock = ta.due[name]
		// The wait doubles with the time in the queue, up to an hour.
		step := min(max(ta.clock.Sub(arrived), time.Minute), time.Hour)
		ta.runDue(context.Background())
		if len(relay.calls) != n+2 || !relay.calls[n+1][0].Recovered {
			t.Fatalf("attempt %d: %d calls", n+2, len(relay.calls))
		}
		_, env = ta.claimed()
		if env.Rcpts[0].Attempts != n+2 {
			t.Fatalf("attempt %d recorded as %d", n+2, env.Rcpts[0].Attempts)
		}
		within(t, fmt.Sprintf("retry after attempt %d", n+2), ta.due[name], ta.clock.Add(step), step)
	}

	answer = courier.OK("250 2.0.0 queued")
	ta.clock = ta.due[name]
	ta.runDue(context.Background())
	ta.empty()
	if got := ta.stored(); len(got) != 0 {
		t.Fatalf("a bounce for a message that was delivered: %q", got)
	}
	if !strings.Contains(ta.logs.String(), "status=sent") {
		t.Fatalf("log:\n%s", ta.logs.String())
	}
}

// A flush tries again at once but does not push the automatic retries
// further out: the wait depends on the time in the queue, not on the
// number of tries (five flushes in a minute made it an hour).
func TestFlushesDoNotPushRetriesOut(t *testing.T) {
	ta := newTestAgent(t, "")
	relay := ta.smarthost(func(*courier.Copy) courier.Result { return courier.Temp("4.3.0", "try again later") })
	ta.queue("alice@box.example.org", ta.clock, "bob@example.com")
	ta.run()
	for range 5 {
		ta.clock = ta.clock.Add(10 * time.Second)
		ta.flushAll()
		ta.runDue(context.Background())
	}
	if len(relay.calls) != 6 {
		t.Fatalf("%d tries, want 6", len(relay.calls))
	}
	name, env := ta.claimed()
	if env.Rcpts[0].Attempts != 6 {
		t.Fatalf("%d attempts recorded", env.Rcpts[0].Attempts)
	}
	within(t, "retry after five flushes", ta.due[name], ta.clock.Add(time.Minute), time.Minute)
}

// A flush retries the deferred recipients of a message released from
// hold too: the release gives it back to new/ with its journal, where
// no agent had claimed it yet when the flush began.
func TestFlushRetriesReleased(t *testing.T) {
	ta := newTestAgent(t, "")
	relay := ta.smarthost(func(*courier.Copy) courier.Result { return courier.Temp("4.3.0", "try again later") })
	ta.queue("alice@box.example.org", ta.clock, "bob@example.com")
	ta.run()
	name, _ := ta.claimed()
	p := ta.box.Path("cur", name)
	if ok, err := ta.box.Hold(p); !ok || err != nil {
		t.Fatalf("hold: %v, %v", ok, err)
	}
	if ok, err := ta.box.Release(p); !ok || err != nil {
		t.Fatalf("release: %v, %v", ok, err)
	}
	ta.clock = ta.clock.Add(10 * time.Second)
	if err := ta.runOnce(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if len(relay.calls) != 2 {
		t.Fatalf("%d tries, want 2: the flush did not retry the released message", len(relay.calls))
	}
}

// What is retried and what is bounced, in one message: each recipient
// on its own; one DSN names the bounced ones only; the sent one is not
// tried again.
func TestRetriedVersusBounced(t *testing.T) {
	ta := newTestAgent(t, "")
	relay := ta.smarthost(func(c *courier.Copy) courier.Result {
		switch c.To {
		case "temp@example.com":
			return courier.Temp("4.2.2", "mailbox full")
		case "perm@example.com":
			return courier.Perm("5.1.1", "no such user")
		}
		return courier.OK("250 ok")
	})
	ta.queue("alice@box.example.org", ta.clock, "ok@example.com", "perm@example.com", "temp@example.com")
	ta.run()
	_, env := ta.claimed()
	want := []outbox.Status{outbox.Sent, outbox.Bounced, outbox.Deferred}
	for i, r := range env.Rcpts {
		if r.Status != want[i] {
			t.Fatalf("%s: %v, want %v", r.Addr, r.Status, want[i])
		}
	}
	dsns := ta.stored()
	if len(dsns) != 1 || !strings.Contains(dsns[0], "perm@example.com") || strings.Contains(dsns[0], "temp@example.com") ||
		!strings.Contains(dsns[0], "5.1.1") || !strings.Contains(dsns[0], "Return-Path: <>") {
		t.Fatalf("DSNs: %q", dsns)
	}
	ta.flushAll()
	ta.runDue(context.Background())
	if len(relay.calls) != 2 || len(relay.calls[1]) != 1 || relay.calls[1][0].To != "temp@example.com" {
		t.Fatalf("retry went to %v", relay.calls[len(relay.calls)-1])
	}
	if len(ta.stored()) != 1 {
		t.Fatal("the bounce was stored again")
	}
}

// At the end of max_queue_lifetime a temporary failure becomes a
// bounce: a DSN that says so, and the message leaves the queue.
func TestExpiryBounces(t *testing.T) {
	ta := newTestAgent(t, "max_queue_lifetime = \"2h\"\n")
	ta.smarthost(func(*courier.Copy) courier.Result { return courier.Temp("4.4.1", "connection refused") })
	ta.queue("alice@box.example.org", ta.clock.Add(-2*time.Hour), "bob@example.com")
	ta.run()
	ta.empty()
	dsns := ta.stored()
	if len(dsns) != 1 || !strings.Contains(dsns[0], "expired after 2h0m0s in the queue") || !strings.Contains(dsns[0], "bob@example.com") {
		t.Fatalf("DSNs: %q", dsns)
	}
	if !strings.Contains(ta.logs.String(), "status=bounced") {
		t.Fatalf("log:\n%s", ta.logs.String())
	}

	// A second less in the queue: deferred, not bounced.
	ta = newTestAgent(t, "max_queue_lifetime = \"2h\"\n")
	ta.smarthost(func(*courier.Copy) courier.Result { return courier.Temp("4.4.1", "connection refused") })
	ta.queue("alice@box.example.org", ta.clock.Add(-2*time.Hour+time.Second), "bob@example.com")
	ta.run()
	if _, env := ta.claimed(); env.Rcpts[0].Status != outbox.Deferred || len(ta.stored()) != 0 {
		t.Fatalf("before expiry: %+v, %d stored", env.Rcpts[0], len(ta.stored()))
	}
}

// No bounce for a bounce: a permanent failure of a message from <>
// leaves the queue without a DSN.
func TestNoBounceForNullSender(t *testing.T) {
	ta := newTestAgent(t, "")
	ta.smarthost(func(*courier.Copy) courier.Result { return courier.Perm("5.1.1", "no such user") })
	ta.queue("", ta.clock, "bob@example.com")
	ta.run()
	ta.empty()
	if got := ta.stored(); len(got) != 0 {
		t.Fatalf("bounce of a bounce: %q", got)
	}
	if !strings.Contains(ta.logs.String(), "no bounce for a bounce") {
		t.Fatalf("log:\n%s", ta.logs.String())
	}
}

// Claimed messages are delivered in batches of at most maxBatch, each
// courier called once per batch for every copy of its kind.
func TestBatches(t *testing.T) {
	ta := newTestAgent(t, "")
	relay := ta.smarthost(func(*courier.Copy) courier.Result { return courier.OK("250 ok") })
	local := &fake{answer: func(*courier.Copy) courier.Result { return courier.OK("stored") }}
	ta.couriers[forwarder.Maildir] = local
	for range maxBatch + 3 {
		ta.queue("alice@box.example.org", ta.clock, "bob@example.com", "alice")
	}
	ta.run()
	ta.empty()
	sizes := func(f *fake) []int {
		var n []int
		for _, c := range f.calls {
			n = append(n, len(c))
		}
		return n
	}
	if got := sizes(relay); !slices.Equal(got, []int{maxBatch, 3}) {
		t.Fatalf("smarthost batches %v", got)
	}
	if got := sizes(local); !slices.Equal(got, []int{maxBatch, 3}) {
		t.Fatalf("maildir batches %v", got)
	}
	// In the order they arrived.
	var ids []string
	for _, c := range local.calls {
		for _, cp := range c {
			ids = append(ids, cp.Name)
		}
	}
	if !slices.IsSorted(ids) {
		t.Fatal("copies out of arrival order")
	}
}

// In a stream of SMTP mail, a batch waits a moment for the message being
// received, so that it shares the batch's syncs: three messages arrive
// while the first is delivered, two more while the agent waits, and the
// second batch takes all five. The first message never waits, and
// without a listener nothing waits. The wait lasts gatherWait while the
// stream goes on, and ends once the stream has ended.
func TestGatherInAStream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		listener  bool
		streaming bool // what Options.Streaming says during the wait
	}{
		{"no listener", false, false},
		{"stream goes on", true, true},
		{"stream ends", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta := newTestAgent(t, "")
			local := &fake{answer: func(*courier.Copy) courier.Result { return courier.OK("stored") }}
			local.before = func(call int) {
				if call == 1 {
					for range 3 {
						ta.queue("alice@box.example.org", ta.clock, "alice")
					}
				}
			}
			ta.couriers[forwarder.Maildir] = local
			asked := 0
			if tc.listener {
				ta.receiving = func() bool {
					asked++
					if asked == 1 {
						for range 2 {
							ta.queue("alice@box.example.org", ta.clock, "alice")
						}
					}
					return asked == 1
				}
				ta.streaming = func() bool { return tc.streaming }
			}
			ta.queue("alice@box.example.org", ta.clock, "alice")
			start := time.Now()
			ta.run()
			took := time.Since(start)
			ta.empty()
			var sizes []int
			for _, c := range local.calls {
				sizes = append(sizes, len(c))
			}
			want := []int{1, 3}
			if tc.listener {
				want = []int{1, 5}
			}
			if !slices.Equal(sizes, want) {
				t.Errorf("batches %v, want %v", sizes, want)
			}
			if tc.listener && tc.streaming && took < gatherWait {
				t.Errorf("the stream's batch did not wait: %v", took)
			}
		})
	}
}

// In a stream that goes on, a batch waits for more only until gatherMin
// messages wait: over eight connections the full wait let a backlog pile
// up that the end of the stream then waited for.
func TestGatherEndsWithEnoughWaiting(t *testing.T) {
	ta := newTestAgent(t, "")
	local := &fake{answer: func(*courier.Copy) courier.Result { return courier.OK("stored") }}
	local.before = func(call int) {
		if call == 1 {
			ta.queue("alice@box.example.org", ta.clock, "alice")
		}
	}
	ta.couriers[forwarder.Maildir] = local
	asked := 0
	ta.receiving = func() bool { return true }
	ta.streaming = func() bool {
		asked++
		if asked == 1 {
			for range gatherMin {
				ta.queue("alice@box.example.org", ta.clock, "alice")
			}
		}
		return true
	}
	ta.queue("alice@box.example.org", ta.clock, "alice")
	ta.run()
	ta.empty()
	var sizes []int
	for _, c := range local.calls {
		sizes = append(sizes, len(c))
	}
	if want := []int{1, gatherMin + 1}; !slices.Equal(sizes, want) {
		t.Errorf("batches %v, want %v", sizes, want)
	}
	// Asked at each gatherStep: the whole wait asks gatherWait/gatherStep
	// times.
	if asked > 1 {
		t.Errorf("the wait asked %d times whether the stream goes on with %d messages waiting after the first, want 1", asked, gatherMin+1)
	}
}

// The wait for more of a stream asks every gatherStep whether the stream
// goes on: it lasts gatherWait while it does, ends at the first answer
// that it has ended, and ends at once when the agent stops.
func TestGatherEndsWithStream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		until int // the stream goes on for this many answers
		asks  int
	}{
		{"stream goes on", 1000, int(gatherWait/gatherStep) - 1},
		{"stream ends", 0, 1},
		{"stream ends later", 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{}
			asked := 0
			a.streaming = func() bool { asked++; return asked <= tc.until }
			start := time.Now()
			if !a.gather(context.Background(), nil) {
				t.Fatal("gather reported the agent stopping")
			}
			if asked != tc.asks {
				t.Errorf("asked %d times whether the stream goes on, want %d", asked, tc.asks)
			}
			if d := time.Since(start); tc.until > tc.asks && d < gatherWait {
				t.Errorf("waited %v, want at least %v", d, gatherWait)
			}
		})
	}
	// Enough messages waiting end the wait while the stream goes on.
	a := &Agent{streaming: func() bool { return true }}
	counted := 0
	start := time.Now()
	if !a.gather(context.Background(), func() bool { counted++; return counted == 2 }) {
		t.Fatal("gather reported the agent stopping")
	}
	if counted != 2 {
		t.Errorf("counted %d times, want 2 (the wait ends at the count that is enough)", counted)
	}
	if d := time.Since(start); d >= gatherWait {
		t.Errorf("waited %v with enough messages waiting, want less than %v", d, gatherWait)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if (&Agent{streaming: func() bool { return true }}).gather(ctx, nil) {
		t.Error("gather went on after the agent stopped")
	}
}

// Two recipients that lead to the same place get one copy; when the
// first copy fails, the second is tried itself.
func TestDuplicateElimination(t *testing.T) {
	ta := newTestAgent(t, "")
	ta.queue("bob@example.com", ta.clock, "root", "postmaster", "alice")
	ta.run()
	ta.empty()
	if got := ta.stored(); len(got) != 1 {
		t.Fatalf("%d copies stored", len(got))
	}
	if n := strings.Count(ta.logs.String(), "reason=\"duplicate of root\""); n != 2 {
		t.Fatalf("log:\n%s", ta.logs.String())
	}

	ta = newTestAgent(t, "")
	real := ta.couriers[forwarder.Maildir]
	failFirst := &fake{}
	failFirst.answer = func(c *courier.Copy) courier.Result {
		if len(failFirst.calls) == 1 {
			return courier.Temp("4.3.0", "disk full")
		}
		return real.Deliver(context.Background(), []*courier.Copy{c})[0]
	}
	ta.couriers[forwarder.Maildir] = failFirst
	ta.queue("bob@example.com", ta.clock, "root", "postmaster", "alice")
	ta.run()
	_, env := ta.claimed()
	if len(failFirst.calls) != 2 || env.Rcpts[0].Status != outbox.Deferred || env.Rcpts[1].Status != outbox.Sent ||
		env.Rcpts[2].Status != outbox.Sent || env.Rcpts[2].Reason != "2.0.0 duplicate of postmaster" {
		t.Fatalf("%d calls, %+v", len(failFirst.calls), env.Rcpts)
	}
	if got := ta.stored(); len(got) != 1 {
		t.Fatalf("%d copies stored", len(got))
	}
	// Tried in the same batch, right after the first failed.
	if c := failFirst.calls[1][0]; c.Recovered || c.Orig != "postmaster" {
		t.Fatalf("second copy: %+v", c)
	}
}

// A copy whose durability is not known (its Maildir could not be
// synced) is not recorded at all: the recipient stays as it was, the
// message is due again in a minute, and that attempt looks for the copy.
func TestUnknownOutcomeIsNotRecorded(t *testing.T) {
	ta := newTestAgent(t, "")
	unsure := &fake{answer: func(*courier.Copy) courier.Result {
		return courier.Unknown("4.3.0", "sync directory: input/output error")
	}}
	ta.couriers[forwarder.Maildir] = unsure
	ta.queue("bob@example.com", ta.clock, "alice", "root")
	ta.run()
	name, env := ta.claimed()
	for _, r := range env.Rcpts {
		if r.Status != outbox.Pending || r.Attempts != 0 {
			t.Fatalf("recorded: %+v", r)
		}
	}
	if !ta.due[name].Equal(ta.clock.Add(time.Minute)) {
		t.Fatalf("due %v, want in a minute", ta.due[name])
	}
	if !strings.Contains(ta.logs.String(), "delivery not durable") {
		t.Fatalf("log:\n%s", ta.logs.String())
	}
	ta.clock = ta.clock.Add(time.Minute)
	ta.runDue(context.Background())
	if len(unsure.calls) != 2 || !unsure.calls[1][0].Recovered {
		t.Fatalf("retry: %d calls", len(unsure.calls))
	}
}

// A flush makes deferred recipients due at once, though their time has
// not come; without it, nothing is tried early.
func TestFlushMakesDeferredDue(t *testing.T) {
	ta := newTestAgent(t, "")
	relay := ta.smarthost(func(*courier.Copy) courier.Result { return courier.Temp("4.4.1", "refused") })
	ta.queue("alice@box.example.org", ta.clock, "bob@example.com")
	ta.run()
	ta.runDue(context.Background())
	if len(relay.calls) != 1 {
		t.Fatalf("%d calls before the flush", len(relay.calls))
	}
	if err := ta.runOnce(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if len(relay.calls) != 2 {
		t.Fatalf("%d calls after the flush", len(relay.calls))
	}
	name, _ := ta.claimed()
	// The message is as old as before: the flush does not lengthen the
	// wait.
	within(t, "retry after the flush", ta.due[name], ta.clock.Add(time.Minute), time.Minute)
}

// nextDue is the earliest due time; a message to look at now makes it
// now; nothing scheduled is the zero time (no timer).
func TestNextDue(t *testing.T) {
	ta := newTestAgent(t, "")
	if !ta.nextDue().IsZero() {
		t.Fatal("nothing scheduled, yet a time")
	}
	ta.due["a"] = ta.clock.Add(time.Hour)
	ta.due["b"] = ta.clock.Add(time.Minute)
	if got := ta.nextDue(); !got.Equal(ta.clock.Add(time.Minute)) {
		t.Fatalf("nextDue %v", got)
	}
	ta.due["c"] = time.Time{}
	if got := ta.nextDue(); !got.Equal(ta.clock) {
		t.Fatalf("nextDue %v, want now", got)
	}
}

// Without a smarthost, remote mail waits in the queue and says why.
func TestNoSmarthostHolds(t *testing.T) {
	ta := newTestAgent(t, "")
	ta.queue("alice@box.example.org", ta.clock, "bob@example.com")
	ta.run()
	_, env := ta.claimed()
	if r := env.Rcpts[0]; r.Status != outbox.Deferred || !strings.HasPrefix(r.Reason, "4.4.0 no smarthost configured") {
		t.Fatalf("%+v", r)
	}
}

// A crash after the copies were stored but before the queue file was
// released: the message is taken up again from cur/, and each store
// finds its copy instead of storing a second one. A message that comes
// through new/ for the first time is not looked for (the hot path).
func TestRecoveryFindsStoredCopies(t *testing.T) {
	for _, store := range []string{"", "store = \"mbox:~/mbox\"\n"} {
		ta := newTestAgent(t, store)
		ta.queue("bob@example.com", ta.clock, "alice", "root")
		names, _ := ta.box.Names("new")
		saved, err := os.ReadFile(ta.box.Path("new", names[0]))
		if err != nil {
			t.Fatal(err)
		}
		ta.run()
		ta.empty()
		// The release is lost: the queue file is back in cur/, with
		// what its journal held then: for an mbox, the mark written
		// before the append (where the copy starts, its length and
		// checksum).
		if err := os.WriteFile(ta.box.Path("cur", names[0]), saved, 0o600); err != nil {
			t.Fatal(err)
		}
		if store != "" {
			b, _ := os.ReadFile(filepath.Join(ta.home, "mbox"))
			m, err := outbox.OpenLocked(ta.box.Path("cur", names[0]))
			if err != nil {
				t.Fatal(err)
			}
			mk := &outbox.Mark{Path: filepath.Join(ta.home, "mbox"), Off: 0, Len: int64(len(b)), Sum: sha256.Sum256(b), Time: ta.clock}
			if err := m.Append(outbox.MarkRecord(0, mk)); err != nil {
				t.Fatal(err)
			}
			m.Close()
		}
		ta.logs.Reset()
		ta.run()
		ta.empty()
		if !strings.Contains(ta.logs.String(), "reason=\"already delivered\"") {
			t.Fatalf("%q: log:\n%s", store, ta.logs.String())
		}
		if store == "" {
			if got := ta.stored(); len(got) != 1 {
				t.Fatalf("%d copies in the Maildir", len(got))
			}
			continue
		}
		b, _ := os.ReadFile(filepath.Join(ta.home, "mbox"))
		if n := strings.Count("\n"+string(b), "\nFrom "); n != 1 {
			t.Fatalf("%d copies in the mbox:\n%s", n, b)
		}
	}
}

// A drain's last batch leaves its Maildir copies' sync of new/, and so
// the finishing and retirement of its messages, to the next batch or to
// settle (retireWait), only when every copy of the batch can be found by
// a retry after a power loss (a Maildir copy by its name): after a copy
// to the smarthost, the drain syncs, finishes and makes the retirement
// durable before it ends, since a retry would send that copy again.
func TestBatchWaitsOnlyWithCopiesFoundAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		rcpt string
		wait bool
	}{
		{"maildir", "alice", true},
		{"smarthost", "carol@example.com", false},
		{"both", "alice carol@example.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta := newTestAgent(t, "")
			remote := ta.smarthost(func(*courier.Copy) courier.Result { return courier.OK("250 ok") })
			ta.queue("alice@box.example.org", ta.clock, strings.Fields(tc.rcpt)...)
			ta.drain(context.Background())
			spares := func() int {
				n := 0
				names, _ := ta.box.Names("tmp")
				for _, f := range names {
					if strings.HasPrefix(f, "spare.") {
						n++
					}
				}
				return n
			}
			cur, _ := ta.box.Names("cur")
			waiting := ta.published != nil || len(ta.retired) > 0
			if waiting != tc.wait || (len(cur) == 1) != tc.wait || (spares() == 0) != tc.wait {
				t.Errorf("after the drain: waiting %v, cur/ %v, %d spares; want waiting %v", waiting, cur, spares(), tc.wait)
			}
			ta.settle()
			ta.empty()
			if spares() != 1 || ta.published != nil || len(ta.retired) != 0 {
				t.Errorf("settled: %d spares, published %v, retired %v", spares(), ta.published, ta.retired)
			}
			if got := len(ta.stored()); got != len(strings.Fields(tc.rcpt))-len(remote.calls) {
				t.Errorf("%d copies in the Maildir, %d batches to the smarthost", got, len(remote.calls))
			}
		})
	}
}
