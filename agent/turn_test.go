package agent

import (
	"errors"
	"os"
	"testing"

	"homepost/config"
)

// While a daemon waits for the lock (WaitTurn), a one-shot delivery is
// turned away, naming the daemon, and a daemon is not; once the daemon
// is done waiting, one-shot deliveries take the lock again. Without the
// mark, commands that start a one-shot delivery whenever mail waits and
// no agent holds the lock kept a daemon from ever taking it.
func TestWaitTurnKeepsOneShotsOut(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults(config.NewIdentity("alice", dir, "Alice", os.Getuid()))
	os.MkdirAll(cfg.StateDir, 0o700) // made by the TryLock that failed before WaitTurn
	turn := WaitTurn(cfg)
	if turn == nil {
		t.Fatal("WaitTurn: no turn")
	}
	if again := WaitTurn(cfg); again != nil {
		t.Error("a second daemon got a turn while the first waits")
		again.Done()
	}
	_, err := TryLock(cfg, true)
	var le *LockedError
	if !errors.As(err, &le) || !le.Next || le.Pid != os.Getpid() {
		t.Fatalf("one-shot TryLock while a daemon waits: %v %+v", err, le)
	}
	l, err := TryLock(cfg, false)
	if err != nil {
		t.Fatalf("the daemon's TryLock: %v", err)
	}
	l.Unlock()
	turn.Done()
	l, err = TryLock(cfg, true)
	if err != nil {
		t.Fatalf("one-shot TryLock once no daemon waits: %v", err)
	}
	l.Unlock()
}
