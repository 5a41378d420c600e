package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/config"
	"homepost/courier"
	"homepost/forwarder"
	"homepost/outbox"
	"homepost/submit"
)

// A reload that moves the outbox moves what waits in the old one into
// the new one: an unclaimed message, a held one (still held), and one
// whose claim a crash left named in both new/ and cur/, which must be
// moved as one message, not two, and be delivered once.
func TestFollowMovesOutbox(t *testing.T) {
	ta := newTestAgent(t, "")
	old := ta.box
	ta.queueSubject("unclaimed")
	ta.queueHeld("held")
	id := ta.queueSubject("claimed twice named")
	p, err := old.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Take(filepath.Base(p)); err != nil { // no Drop: a crash
		t.Fatal(err)
	}

	conf := filepath.Join(ta.home, "config.toml")
	b, _ := os.ReadFile(conf)
	if err := os.WriteFile(conf, append(b, "outbox = \"~/newq\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", ta.home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	ta.follow(cfg)
	ta.configure(cfg)
	ta.followed()
	ta.moveOn()
	if ta.box != outbox.Dir(filepath.Join(ta.home, "newq")) {
		t.Fatalf("delivering %s after the move", ta.box)
	}
	count := func(d outbox.Dir, sub string) int { n, _ := d.Names(sub); return len(n) }
	if n, c := count(old, "new"), count(old, "cur"); n+c != 0 {
		t.Fatalf("the old outbox still holds %d in new/, %d in cur/", n, c)
	}
	if n, c := count(ta.box, "new"), count(ta.box, "cur"); n != 1 || c != 2 {
		t.Fatalf("the new outbox holds %d in new/, %d in cur/; want the unclaimed message in new/, the two others in cur/", n, c)
	}
	ta.run()
	ta.run()
	got := ta.copies()
	if got["unclaimed"] != 1 || got["claimed twice named"] != 1 || got["held"] != 0 {
		t.Fatalf("copies stored: %v", got)
	}
	if !strings.Contains(ta.logs.String(), "moved the mail of the former outbox") {
		t.Errorf("log:\n%s", ta.logs.String())
	}
	if _, err := ta.box.Find(id); err == nil {
		t.Errorf("the message named twice is still queued")
	}
}

// A state_dir that moves takes the lock with it: the agent holds the new
// lock too, so that a second agent sees it there, and writes its status
// in both directories.
func TestFollowTakesMovedLock(t *testing.T) {
	ta := newTestAgent(t, "")
	lock, err := TryLock(ta.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	conf := filepath.Join(ta.home, "config.toml")
	b, _ := os.ReadFile(conf)
	b = []byte(strings.Replace(string(b), "state_dir = \"~/state\"", "state_dir = \"~/state2\"", 1))
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", ta.home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	oldCfg := ta.cfg
	ta.follow(cfg)
	ta.configure(cfg)
	ta.followed()
	ta.moveOn()
	defer ta.unlockMoved()
	for _, c := range []*config.Config{oldCfg, cfg} {
		if pid, ok := Running(c); !ok || pid != os.Getpid() {
			t.Errorf("lock %s: held %v by %d", c.LockPath(), ok, pid)
		}
	}
	ta.writeStatus()
	for _, c := range []*config.Config{oldCfg, cfg} {
		if st, ok := readStatus(c); !ok || st.Pid != os.Getpid() {
			t.Errorf("status in %s: %v %v", c.StateDir, st, ok)
		}
	}
	if _, err := TryLock(cfg, false); !isLocked(err) {
		t.Errorf("a second agent takes the moved lock: %v", err)
	}
}

// An agent killed in the middle of a move leaves it listed in
// state_dir/outbox.former, the mail in the old outbox; the next agent
// finishes it. "agent --once" does too, as the daemon does at its
// start, and delivers that mail once, the claim named in both new/ and
// cur/ included: it used to leave the mail where it was, without a word
// in its log, for a daemon or a background delivery to move.
func TestOnceFinishesRecordedMove(t *testing.T) {
	ta := newTestAgent(t, "")
	old := ta.box
	ta.queueSubject("unclaimed")
	id := ta.queueSubject("claimed twice named")
	p, err := old.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Take(filepath.Base(p)); err != nil { // no Drop: a crash
		t.Fatal(err)
	}
	conf := filepath.Join(ta.home, "config.toml")
	b, _ := os.ReadFile(conf)
	if err := os.WriteFile(conf, append(b, "outbox = \"~/newq\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", ta.home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	if err := submit.RecordFormer(cfg, string(old), cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	next := &testAgent{t: t, home: ta.home, clock: ta.clock}
	next.Agent = newAgent(cfg, slog.New(slog.NewTextHandler(&next.logs, nil)))
	next.now = func() time.Time { return next.clock }
	next.run()
	count := func(d outbox.Dir, sub string) int { n, _ := d.Names(sub); return len(n) }
	if n, c := count(old, "new"), count(old, "cur"); n+c != 0 {
		t.Errorf("the old outbox still holds %d in new/, %d in cur/:\n%s", n, c, next.logs.String())
	}
	if got := next.copies(); got["unclaimed"] != 1 || got["claimed twice named"] != 1 {
		t.Errorf("copies stored: %v\n%s", got, next.logs.String())
	}
	next.empty()
}

// tearing is an mbox courier that appends as the real one does, marks
// included, then cuts the copy in half: with the result that follows
// the mark in the journal taken away, this is what a kill in the middle
// of the append leaves, the mark last in the journal and the first part
// of the copy at the end of the mbox.
type tearing struct {
	courier.Courier
	mbox string
}

func (c tearing) Deliver(ctx context.Context, copies []*courier.Copy) []courier.Result {
	st, _ := os.Stat(c.mbox)
	var before int64
	if st != nil {
		before = st.Size()
	}
	res := c.Courier.Deliver(ctx, copies)
	if st, err := os.Stat(c.mbox); err == nil {
		os.Truncate(c.mbox, before+(st.Size()-before)/2)
	}
	for i := range res {
		res[i] = courier.Temp("4.3.0", "killed in the middle of the append")
	}
	return res
}

// A move that a kill cut short is finished by the next agent. A message
// of the old outbox whose mbox copy a kill cut off (its mark in the
// journal, the first part of the copy at the end of the mbox) is cut
// back before anything else is appended to that mbox, as start does for
// the outbox's own cur/: moved after start, it was not, and the next
// message appended buried the cut-off copy, which then stayed in the
// mbox beside the whole one appended later.
func TestResumedMoveCutsTornMbox(t *testing.T) {
	ta := newTestAgent(t, "store = \"mbox:~/inbox\"\n")
	mbox := filepath.Join(ta.home, "inbox")
	ta.couriers[forwarder.Mbox] = tearing{ta.couriers[forwarder.Mbox], mbox}
	old := ta.box
	ta.queueSubject("torn")
	ta.run()
	names, _ := old.Names("cur")
	if len(names) != 1 {
		t.Fatalf("cur/ holds %v, want the message whose copy was cut off", names)
	}
	// The kill came before the result: the journal ends with the mark.
	q := old.Path("cur", names[0])
	b, err := os.ReadFile(q)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(string(b), "\nm 0 ")
	j := strings.IndexByte(string(b[i+1:]), '\n')
	if i < 0 || j < 0 {
		t.Fatalf("no mark in the journal: %q", b)
	}
	if err := os.Truncate(q, int64(i+1+j+1)); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(ta.home, "config.toml")
	b, _ = os.ReadFile(conf)
	if err := os.WriteFile(conf, append(b, "outbox = \"~/newq\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", ta.home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	if err := submit.RecordFormer(cfg, string(old), cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	next := &testAgent{t: t, home: ta.home, clock: ta.clock}
	next.Agent = newAgent(cfg, slog.New(slog.NewTextHandler(&next.logs, nil)))
	next.now = func() time.Time { return next.clock }
	if err := next.box.Init(); err != nil {
		t.Fatal(err)
	}
	next.queueSubject("queued in the new outbox, a longer message than the one cut off, so that it reaches past the end of that copy")
	next.run()
	next.clock = next.clock.Add(2 * time.Hour) // the cut-off message's retry
	next.run()
	data, err := os.ReadFile(mbox)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "Subject: torn\n"); n != 1 {
		t.Errorf("the mbox holds the message %d times, want once:\n%s\nlog:\n%s", n, data, next.logs.String())
	}
	if n := strings.Count(string(data), "\nFrom "); n != 1 || !strings.HasPrefix(string(data), "From ") {
		t.Errorf("the mbox does not hold exactly two messages:\n%s", data)
	}
	next.empty()
}

// A state_dir moved while deliveries to the smarthost are out: the files
// that tell mailq what is being sent (agent.sending) and what waits
// behind it (agent.queued) are removed from the state_dir they were
// written in. The worker read the configuration at its end, as a reload
// replaced it (a data race), and removed the file from the new
// state_dir: the old one kept it, naming the live agent as sending
// messages long delivered, for as long as the agent held that lock.
func TestSendingAfterMove(t *testing.T) {
	ta := newTestAgent(t, "")
	lock, err := TryLock(ta.cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	ta.async = true
	gate := make(chan struct{})
	f := ta.smarthost(func(c *courier.Copy) courier.Result { return courier.Result{Status: outbox.Sent} })
	f.before = func(int) { <-gate }
	ta.queue("alice@box.example.org", ta.clock, "bob@remote.example")
	ta.run()
	ta.queue("alice@box.example.org", ta.clock, "carol@remote.example")
	ta.run()
	oldCfg := ta.cfg
	waitFor(t, "agent.sending", func() bool { _, err := os.Stat(sendingPath(oldCfg)); return err == nil })
	if _, err := os.Stat(queuedPath(oldCfg)); err != nil {
		t.Fatalf("no list of the deliveries out: %v", err)
	}

	conf := filepath.Join(ta.home, "config.toml")
	b, _ := os.ReadFile(conf)
	b = []byte(strings.Replace(string(b), "state_dir = \"~/state\"", "state_dir = \"~/state2\"", 1))
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", ta.home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	ta.follow(cfg)
	defer ta.unlockMoved()
	remote := ta.couriers[forwarder.Remote]
	ta.configure(cfg) // as reload does, while the worker runs
	ta.couriers[forwarder.Remote] = remote
	ta.followed()
	for range 2 {
		gate <- struct{}{}
		ta.remoteFinished(ta.answer())
	}
	ta.remoteMu.Lock() // the worker has ended
	ta.remoteMu.Unlock()
	for _, p := range []string{sendingPath(oldCfg), queuedPath(oldCfg), sendingPath(cfg), queuedPath(cfg)} {
		if _, err := os.Stat(p); err == nil {
			b, _ := os.ReadFile(p)
			t.Errorf("%s left behind: %q", p, b)
		}
	}
}

// A background delivery that followed a move of state_dir and runs
// again for mail that came as it ended gives up the old state_dir's
// lock between its rounds: another delivery may then take it and claim
// mail queued there by a sendmail of the old configuration. The next
// round must not move that mail (a rename ignores the other's lock: its
// copies for a command or the smarthost would go out twice); it takes
// the old outbox up again as at a start, under that lock. It kept the
// former outboxes, and moved their mail whenever a.mv.look was set (by
// migrate when a release was in progress, or by an event).
func TestRoundReleasesFormer(t *testing.T) {
	ta := newTestAgent(t, "")
	ta.background = true
	lock, err := TryLock(ta.cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	oldCfg, old := ta.cfg, ta.box
	conf := filepath.Join(ta.home, "config.toml")
	b, _ := os.ReadFile(conf)
	b = []byte(strings.Replace(string(b), "state_dir = \"~/state\"", "state_dir = \"~/state2\"", 1))
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", ta.home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	ta.follow(cfg)
	ta.configure(cfg)
	ta.followed()
	ta.run()
	// The round ends, as Run ends it.
	lock.Unlock()
	ta.unlockMoved()

	other, err := TryLock(oldCfg, true) // another delivery, on the old state_dir
	if err != nil {
		t.Fatal(err)
	}
	defer other.Unlock()
	box := ta.box
	ta.box = old
	id := ta.queueSubject("claimed by the other delivery")
	ta.box = box
	p, err := old.Find(id)
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := old.Take(filepath.Base(p))
	if err != nil {
		t.Fatal(err)
	}
	m, err := outbox.OpenLocked(claimed)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	lock, err = TryLock(ta.cfg, true) // the next round
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	ta.mv.look = true
	ta.run()
	defer ta.unlockMoved()
	if _, err := os.Stat(claimed); err != nil {
		t.Errorf("the other delivery's claimed message was moved: %v\n%s", err, ta.logs.String())
	}
}

// While a switch of outbox waits for the delivery to the smarthost out,
// no new delivery to it starts from the old outbox: its smarthost copies
// wait, and go out from the new outbox once the switch is made. The
// loop went on starting them (mail that a sendmail of the old
// configuration queued there, deferred mail coming due), each kept the
// smarthost busy, and local mail queued in the new outbox waited through
// delivery after delivery.
func TestSwitchNotStarved(t *testing.T) {
	ta := newTestAgent(t, "")
	ta.async = true
	gate := make(chan struct{})
	defer close(gate)
	f := ta.smarthost(func(c *courier.Copy) courier.Result { return courier.Result{Status: outbox.Sent} })
	f.before = func(int) { <-gate }
	ta.queue("alice@box.example.org", ta.clock, "bob@remote.example")
	ta.run() // out to the smarthost
	old := ta.box

	conf := filepath.Join(ta.home, "config.toml")
	b, _ := os.ReadFile(conf)
	if err := os.WriteFile(conf, append(b, "outbox = \"~/newq\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadFile(conf, config.NewIdentity("alice", ta.home, "Alice", os.Getuid()))
	if err != nil {
		t.Fatal(err)
	}
	ta.follow(cfg)
	remote := ta.couriers[forwarder.Remote]
	ta.configure(cfg)
	ta.couriers[forwarder.Remote] = remote
	ta.followed()
	newq := outbox.Dir(filepath.Join(ta.home, "newq"))
	ta.box = newq // a sendmail that read the new file
	ta.queueSubject("local, new outbox")
	ta.box = old
	// A sendmail of the old configuration queues remote mail in the old
	// outbox, and one local message too, which is delivered meanwhile.
	ta.queue("alice@box.example.org", ta.clock, "carol@remote.example")
	ta.queueSubject("local, old outbox")
	ta.run()
	if ta.remoteOut != 1 {
		t.Errorf("%d deliveries to the smarthost out while the switch waits, want the one in flight", ta.remoteOut)
	}
	if n := ta.copies()["local, old outbox"]; n != 1 {
		t.Errorf("the local message of the old outbox stored %d times while the switch waits, want 1", n)
	}
	gate <- struct{}{}
	ta.remoteFinished(ta.answer())
	ta.run() // the switch, then the new outbox's mail and the smarthost copy that waited
	if ta.box != newq {
		t.Fatalf("delivering %s once the delivery in flight ended, want %s", ta.box, newq)
	}
	if n := ta.copies()["local, new outbox"]; n != 1 {
		t.Errorf("the local message of the new outbox stored %d times after the switch, want 1", n)
	}
	if ta.remoteOut != 1 {
		t.Fatalf("%d deliveries to the smarthost out after the switch, want the copy that waited", ta.remoteOut)
	}
	gate <- struct{}{}
	ta.remoteFinished(ta.answer())
	ta.run()
	if len(f.calls) != 2 {
		t.Errorf("%d deliveries to the smarthost, want 2", len(f.calls))
	}
	ta.empty()
	for _, sub := range []string{"new", "cur"} {
		if names, _ := old.Names(sub); len(names) > 0 {
			t.Errorf("the old outbox's %s/ holds %v", sub, names)
		}
	}
}
