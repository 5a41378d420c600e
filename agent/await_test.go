package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"homepost/config"
)

// The status file carries the pid, the start of the last pass asked for
// and why delivery is held; readStatus reads back what writeStatus wrote.
func TestStatusFile(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	cfg.StateDir = filepath.Join(dir, "state")
	os.MkdirAll(cfg.StateDir, 0o700)
	a := &Agent{cfg: cfg}
	a.passAt = 12345
	a.held = errors.New("/x/config.toml:3: bogus: unknown key\nsecond line")
	a.writeStatus()
	s, ok := readStatus(cfg)
	if !ok || s.Pid != os.Getpid() || s.pass != 12345 || !s.answers || s.Held != "/x/config.toml:3: bogus: unknown key second line" {
		t.Fatalf("%+v %v", s, ok)
	}
	a.held = nil
	a.passDone(99999)
	if s, _ := readStatus(cfg); s.Held != "" || s.pass != 99999 || a.passWanted {
		t.Errorf("after the pass: %+v", s)
	}
	// No agent holds the lock: nobody to wait for, whatever the file says.
	if _, running := RunningStatus(cfg); running {
		t.Error("running without a lock holder")
	}
	if err := AwaitPass(context.Background(), cfg); !errors.Is(err, ErrNotRunning) {
		t.Errorf("AwaitPass without an agent: %v", err)
	}
}

// The monotonic clock is the same in every process and never goes back.
func TestMonotonic(t *testing.T) {
	a := monotonic()
	b := monotonic()
	if a <= 0 || b < a {
		t.Errorf("%d then %d", a, b)
	}
}

// A pass whose local deliveries end while smarthost batches are out is
// written down as such at once, and as ended only when those batches
// are back; a batch sent later is not waited for. A status file of two
// fields (an older agent) reads as both.
func TestPassAnsweredAfterSmarthost(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	cfg.StateDir = filepath.Join(dir, "state")
	os.MkdirAll(cfg.StateDir, 0o700)
	a := newAgent(cfg, slog.New(slog.DiscardHandler))
	b1 := &remoteBatch{}
	a.out[b1], a.remoteOut = true, 1
	a.passWanted = true
	a.passEnded(100)
	if s, _ := readStatus(cfg); s.pass != 0 || s.local != 100 || a.passWanted {
		t.Fatalf("with a batch out: %+v", s)
	}
	b2 := &remoteBatch{}
	a.out[b2], a.remoteOut = true, 2
	a.remoteFinished(b1)
	if s, _ := readStatus(cfg); s.pass != 100 || s.local != 100 {
		t.Errorf("its batch back: %+v", s)
	}
	a.passEnded(200)
	a.remoteFinished(b2)
	if s, _ := readStatus(cfg); s.pass != 200 || s.local != 200 || a.answering != nil {
		t.Errorf("second pass: %+v", s)
	}
	a.passEnded(300)
	if s, _ := readStatus(cfg); s.pass != 300 || s.local != 300 {
		t.Errorf("nothing out: %+v", s)
	}
	os.WriteFile(statusPath(cfg), []byte("42 500\n"), 0o600)
	if s, _ := readStatus(cfg); s.pass != 500 || s.local != 500 {
		t.Errorf("two fields: %+v", s)
	}
}

// Flush sends SIGUSR2 (the request for a pass) only once the agent's
// status says that it took the flush (SIGUSR1) up: a process is not
// told two signals in the order they were sent, and a pass asked for
// before the flush was taken up tried only what was due anyway. The
// test process is the agent here: it holds the lock and takes both
// signals.
func TestFlushWaitsForFlushTaken(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	cfg.StateDir = filepath.Join(dir, "state")
	os.MkdirAll(cfg.StateDir, 0o700)
	usr1 := make(chan os.Signal, 1)
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	signal.Notify(usr2, syscall.SIGUSR2)
	defer signal.Stop(usr1)
	defer signal.Stop(usr2)
	lock, err := TryLock(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	a := &Agent{cfg: cfg}
	a.writeStatus()
	done := make(chan error, 1)
	go func() { done <- Flush(context.Background(), cfg) }()
	select {
	case <-usr1:
	case <-time.After(10 * time.Second):
		t.Fatal("no SIGUSR1")
	}
	select {
	case <-usr2:
		t.Fatal("SIGUSR2 sent before the flush was taken up")
	case <-time.After(300 * time.Millisecond):
	}
	a.flushTaken()
	var start int64
	select {
	case <-usr2:
		start = monotonic()
	case <-time.After(10 * time.Second):
		t.Fatal("no SIGUSR2 once the flush was taken up")
	}
	select {
	case err := <-done:
		t.Fatalf("Flush returned before the pass: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	a.passDone(start)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Flush: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Flush did not return after the pass")
	}
	// An agent whose status says nothing of flushes (an older one) is
	// asked for the pass at once.
	os.WriteFile(statusPath(cfg), []byte(strconv.Itoa(os.Getpid())+" 0 0\n"), 0o600)
	go func() { done <- Flush(context.Background(), cfg) }()
	<-usr1
	select {
	case <-usr2:
	case <-time.After(10 * time.Second):
		t.Fatal("an older agent is not asked for the pass")
	}
	a.passDone(monotonic())
	if err := <-done; err != nil {
		t.Errorf("Flush of an older agent: %v", err)
	}
}
