package agent

// Waiting for the running agent.
//
// "sendmail ...; homepost agent --once; read the mailbox" must work in a
// script whether or not an agent already runs: a second agent cannot
// deliver (the lock), so it asks the one that runs to make a pass over
// what is due and waits until that pass has ended. homepost flush waits
// the same way after asking for every deferred message to be retried.
//
// The protocol: the waiter notes the time on the system-wide monotonic
// clock and sends SIGUSR2 to the pid in the lock file; the agent, having
// received it, starts its next pass (a drain of new/ and every due
// message), and when that pass ends it writes the time the pass began
// into agent.status. A pass that began after the waiter's note has seen
// everything that was due when the waiter asked. The status file is
// written at start too, before anyone can read the agent's pid from the
// lock file: a pid found in it is an agent that answers SIGUSR2, so an
// agent of an older homepost (for which SIGUSR2 is fatal) is never sent
// one. The same file says whether the agent holds the queue for a broken
// configuration, for mailq and homepost check.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"homepost/config"
)

// ErrNoAnswer means the agent that holds the lock does not answer a
// request to deliver (it is of an older homepost).
var ErrNoAnswer = errors.New("the running agent does not answer requests to deliver")

// statusPath is the agent's status file.
func statusPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "agent.status") }

// Status is what the running agent says of itself.
type Status struct {
	Pid int
	// Held is why the agent delivers nothing: its configuration does
	// not load (file:line). Empty while it delivers.
	Held string
	// pass is when (monotonic clock, ns) the last pass that was asked
	// for began.
	pass int64
	// answers: the agent wrote this status, so it takes requests.
	answers bool
}

// monotonic is the system-wide monotonic clock in nanoseconds: the same
// in every process, and never stepped as the wall clock may be.
func monotonic() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return time.Now().UnixNano()
	}
	return ts.Nano()
}

// readStatus reads the status file.
func readStatus(cfg *config.Config) (Status, bool) {
	b, err := os.ReadFile(statusPath(cfg))
	if err != nil {
		return Status{}, false
	}
	first, rest, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(first)
	if len(f) < 2 {
		return Status{}, false
	}
	var s Status
	s.Pid, _ = strconv.Atoi(f[0])
	s.pass, _ = strconv.ParseInt(f[1], 10, 64)
	s.answers = true
	if r, ok := strings.CutPrefix(rest, "held: "); ok {
		s.Held = strings.TrimSpace(r)
	}
	return s, s.Pid > 0
}

// writeStatus replaces the status file: pid, the start of the last pass
// asked for, and why delivery is held, if it is.
func (a *Agent) writeStatus() {
	text := fmt.Sprintf("%d %d\n", os.Getpid(), a.passAt)
	if a.held != nil {
		text += "held: " + strings.ReplaceAll(a.held.Error(), "\n", " ") + "\n"
	}
	p := statusPath(a.cfg)
	tmp := p + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(text), 0o600); err == nil {
		if os.Rename(tmp, p) != nil {
			os.Remove(tmp)
		}
	}
}

// passDone records that a pass asked for, begun at start, has ended.
func (a *Agent) passDone(start int64) {
	a.passWanted = false
	a.passAt = start
	a.writeStatus()
}

// RunningStatus reports the running agent's status: whether an agent
// holds the lock, and what it says of itself (a zero Status with the
// lock's pid when it says nothing).
func RunningStatus(cfg *config.Config) (Status, bool) {
	pid, ok := Running(cfg)
	if !ok {
		return Status{}, false
	}
	s, ok := readStatus(cfg)
	if !ok || s.Pid != pid {
		return Status{Pid: pid}, true
	}
	return s, true
}

// AwaitPass asks the running agent to deliver what is due now and waits
// until it has: until a pass that began after the request has ended.
// It returns ErrNotRunning when no agent holds the lock, or when the one
// asked went away before it answered (the caller may then take the lock
// itself), and ErrNoAnswer for an agent that does not take requests.
func AwaitPass(ctx context.Context, cfg *config.Config) error {
	s, running := RunningStatus(cfg)
	// An agent writes its status right after it takes the lock: give
	// one that has just started a moment to, before calling it one of
	// an older homepost.
	for deadline := time.Now().Add(2 * time.Second); running && s.Pid > 0 && !s.answers && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		s, running = RunningStatus(cfg)
	}
	switch {
	case !running || s.Pid <= 0:
		return ErrNotRunning
	case !s.answers:
		return ErrNoAnswer
	}
	asked := monotonic()
	if err := syscall.Kill(s.Pid, syscall.SIGUSR2); err != nil {
		return ErrNotRunning
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, ok := readStatus(cfg); ok && st.Pid == s.Pid && st.pass >= asked {
			return nil
		}
		if pid, ok := Running(cfg); !ok || pid != s.Pid {
			if st, ok := readStatus(cfg); ok && st.Pid == s.Pid && st.pass >= asked {
				return nil // it answered, then ended
			}
			return ErrNotRunning
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// isLocked reports whether err says another agent holds the lock.
func isLocked(err error) bool {
	var le *LockedError
	return errors.As(err, &le)
}

// lockPid is the pid in a *LockedError.
func lockPid(err error) int {
	var le *LockedError
	if errors.As(err, &le) {
		return le.Pid
	}
	return 0
}
