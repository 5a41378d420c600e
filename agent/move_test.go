package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"homepost/config"
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
	if err := submit.RecordFormer(cfg, string(old)); err != nil {
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
