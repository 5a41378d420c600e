package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
		pid, word := agentlock.ReadState(cfg.LockPath())
		if (pid > 0 && alive(pid)) || time.Now().After(deadline) {
			f.Close()
			return nil, &LockedError{Pid: pid, Once: word == "once", Stopping: word == "stopping"}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if once {
		// A daemon waits for the lock (WaitTurn): give it way at once,
		// rather than take a turn that it would have to ask back. Were
		// one-shot deliveries let in, a command that starts one
		// whenever mail waits and no agent holds the lock (sendmail,
		// mailq, check, run in a loop) could keep the daemon out for
		// good.
		if pid, waits := daemonWaits(cfg); waits {
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
			return nil, &LockedError{Pid: pid, Next: true}
		}
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
	// Stopping: the holder has begun to stop (MarkStopping).
	Stopping bool
	// Next: no one holds the lock, but a daemon waits for it
	// (WaitTurn), and Pid is the daemon's.
	Next bool
}

// nextPath is the file that a daemon holds locked while it waits for a
// one-shot delivery to give way.
func nextPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "agent.next") }

// Turn is a daemon's place at the head of the line for the agent lock.
type Turn struct{ f *os.File }

// WaitTurn marks that a daemon waits for the agent lock, which a
// one-shot delivery holds: until Done, TryLock turns one-shot
// deliveries away (a *LockedError with Next set). A nil Turn: another
// daemon waits already, or the mark could not be made; Done on it does
// nothing.
func WaitTurn(cfg *config.Config) *Turn {
	f, err := os.OpenFile(nextPath(cfg), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil
	}
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		f.Close()
		return nil
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Turn{f: f}
}

// Done gives up the mark: the daemon holds the agent lock now, or left.
func (t *Turn) Done() {
	if t == nil {
		return
	}
	unix.Flock(int(t.f.Fd()), unix.LOCK_UN)
	t.f.Close()
}

// daemonWaits reports whether a daemon waits for the agent lock
// (WaitTurn), and its pid. The mark is a lock, so a daemon that died
// leaves none.
func daemonWaits(cfg *config.Config) (int, bool) {
	f, err := os.Open(nextPath(cfg))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0, false
	}
	var b [32]byte
	n, _ := f.ReadAt(b[:], 0)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	return pid, true
}

func (e *LockedError) Error() string {
	if e.Pid > 0 {
		return fmt.Sprintf("another agent is running (pid %d)", e.Pid)
	}
	return "another agent is running"
}

// MarkStopping writes in the lock file that its holder has begun to
// stop: a daemon that starts meanwhile waits for the lock instead of
// leaving (README's restart, "kill PID; homepost agent", while the old
// agent ends its SMTP sessions and its delivery in progress).
func (l *Lock) MarkStopping() {
	line := []byte(strconv.Itoa(os.Getpid()) + " stopping\n")
	l.f.WriteAt(line, 0)
	l.f.Truncate(int64(len(line)))
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
