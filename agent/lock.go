package agent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"homepost/agentlock"
	"homepost/config"
	"homepost/safeio"
)

// ErrNotRunning means no agent holds the lock.
var ErrNotRunning = errors.New("no agent is running")

// Lock is the agent's exclusive lock: one agent per user (per outbox).
// The lock file holds the agent's pid, for signals (flush, reload).
type Lock struct{ f *os.File }

// TryLock takes the agent lock without waiting. It returns a
// *LockedError, with the holder's pid, when another agent holds it. A
// one-shot delivery (once) says so in the lock file, so that a starting
// daemon knows to wait for it rather than leave.
func TryLock(cfg *config.Config, once bool) (*Lock, error) {
	if err := safeio.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(cfg.LockPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	// A sendmail that checks whether an agent runs (Running) holds the
	// lock shared for an instant; so does a holder that has not written
	// its pid yet. Only a live process named in the lock file is
	// another agent: otherwise look again, for a few seconds.
	for deadline := time.Now().Add(5 * time.Second); ; {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		pid, holderOnce := readPid(cfg)
		if (pid > 0 && alive(pid)) || time.Now().After(deadline) {
			f.Close()
			return nil, &LockedError{Pid: pid, Once: holderOnce}
		}
		time.Sleep(10 * time.Millisecond)
	}
	line := strconv.Itoa(os.Getpid())
	if once {
		line += " once"
	}
	f.Truncate(0)
	f.WriteAt([]byte(line+"\n"), 0)
	return &Lock{f: f}, nil
}

// LockedError says another agent holds the lock.
type LockedError struct {
	Pid  int
	Once bool // the holder is a one-shot delivery
}

func (e *LockedError) Error() string {
	if e.Pid > 0 {
		return fmt.Sprintf("another agent is running (pid %d)", e.Pid)
	}
	return "another agent is running"
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	l.f.Close()
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}

// readPid reads the lock file: the holder's pid, and whether it is a
// one-shot delivery.
func readPid(cfg *config.Config) (int, bool) { return agentlock.ReadPid(cfg.LockPath()) }

// Running reports the pid of the running agent, if one holds the lock.
// It costs an open and a flock (agentlock.Running, which sendmail calls
// after every message without linking the agent).
func Running(cfg *config.Config) (int, bool) { return agentlock.Running(cfg.LockPath()) }

// Signal sends sig to the running agent: SIGHUP reloads the config and
// the alias files, SIGUSR1 retries every deferred message now.
func Signal(cfg *config.Config, sig syscall.Signal) error {
	pid, ok := Running(cfg)
	if !ok || pid <= 0 {
		return ErrNotRunning
	}
	return syscall.Kill(pid, sig)
}
