package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

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
