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
//
// homepost flush and agent --once, where an agent runs, send SIGUSR1
// (retry every deferred message) before SIGUSR2, and SIGUSR2 only once
// the status file says the flush was taken up (its fourth field, the
// time it was, on the same clock): two signals are not told to a
// process in the order they were sent (Flush).
//
// The smarthost's copies go out from a worker (remote.go), and the loop
// does not wait for them, or local mail would wait behind a smarthost
// that hangs: a pass whose local deliveries have ended is written down
// at once as such (the third field), and as ended (the second) once the
// smarthost deliveries out at that moment have answered. The waiter
// waits for the second for up to remoteWait after the first, then
// leaves with ErrSmarthostBusy: the agent carries on with that delivery
// and records its results when the smarthost answers (or times out).

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// ErrSmarthostBusy means the running agent has made the pass asked for,
// but a delivery to the smarthost is still in progress after remoteWait:
// its results are recorded when the smarthost answers.
var ErrSmarthostBusy = errors.New("a delivery to the smarthost is still in progress")

// remoteWait bounds how long a waiter waits for the smarthost's answers
// once the pass's local deliveries have ended.
const remoteWait = 30 * time.Second

// statusPath is the agent's status file.
func statusPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "agent.status") }

// Status is what the running agent says of itself.
type Status struct {
	Pid int
	// Held is why the agent delivers nothing: its configuration does
	// not load (file:line). Empty while it delivers.
	Held string
	// pass is when (monotonic clock, ns) the last pass that was asked
	// for began; local, that of the last whose local deliveries have
	// ended (its smarthost copies perhaps still out).
	pass, local int64
	// flushed is when the agent last took a flush (SIGUSR1) up;
	// flushes, whether it says so at all (an agent of an older
	// homepost does not).
	flushed int64
	flushes bool
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
	s.local = s.pass
	if len(f) > 2 {
		s.local, _ = strconv.ParseInt(f[2], 10, 64)
	}
	if len(f) > 3 {
		s.flushed, _ = strconv.ParseInt(f[3], 10, 64)
		s.flushes = true
	}
	s.answers = true
	if r, ok := strings.CutPrefix(rest, "held: "); ok {
		s.Held = strings.TrimSpace(r)
	}
	return s, s.Pid > 0
}

// writeStatus replaces the status file: pid, the start of the last pass
// asked for that has ended, that of the last whose local deliveries
// have, when the last flush was taken up, and why delivery is held, if
// it is.
func (a *Agent) writeStatus() {
	text := fmt.Sprintf("%d %d %d %d\n", os.Getpid(), a.passAt, max(a.localAt, a.passAt), a.flushedAt)
	if a.held != nil {
		text += "held: " + strings.ReplaceAll(a.held.Error(), "\n", " ") + "\n"
	}
	// The state directories followed from too, whose locks the agent
	// keeps (move.go): a command that read the configuration before
	// the move waits on what it reads there.
	dirs := []string{a.cfg.StateDir}
	for _, d := range a.mv.dirs {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "agent.status")
		writeNote(p, p+".tmp"+strconv.Itoa(os.Getpid()), []byte(text))
	}
}

// flushTaken records that a flush (SIGUSR1) has been taken up: every
// deferred message is due, and a pass asked for from now on tries them
// (Flush).
func (a *Agent) flushTaken() {
	a.flushedAt = monotonic()
	a.writeStatus()
}

// passDone records that a pass asked for, begun at start, has ended.
func (a *Agent) passDone(start int64) {
	a.passWanted = false
	a.passAt = start
	a.writeStatus()
}

// answering is a pass asked for, begun at start, whose local deliveries
// have ended and whose answer waits for the smarthost deliveries that
// were out then, and for the messages then in the backlog (remote.go)
// to be sent and answered.
type answering struct {
	start   int64
	batches map[*remoteBatch]bool
	names   map[string]bool
}

// passEnded records that the local deliveries of a pass asked for, begun
// at start, have ended, and the pass itself once the smarthost
// deliveries out now have answered (remoteFinished): at once if none
// are. A later pass's answer replaces an earlier one's, and covers it:
// it waits for every delivery still out.
func (a *Agent) passEnded(start int64) {
	a.passWanted = false
	a.localAt = start
	if len(a.out) == 0 && len(a.backlog) == 0 {
		a.answering = nil
		a.passAt = start
	} else {
		w := &answering{start: start, batches: maps.Clone(a.out), names: map[string]bool{}}
		for name := range a.backlog {
			w.names[name] = true
		}
		a.answering = w
	}
	a.writeStatus()
}

// answerIfDone answers the pass waiting for the smarthost (answering)
// once the deliveries it waits for have come back and the messages that
// were in the backlog at its end have left it, been sent, and come back
// too: each then is neither in the backlog, nor out, nor due now.
func (a *Agent) answerIfDone() {
	w := a.answering
	if w == nil || len(w.batches) > 0 {
		return
	}
	now := a.now()
	for name := range w.names {
		d, due := a.due[name]
		if _, waits := a.backlog[name]; waits || a.inflight[name] || due && !d.After(now) {
			return
		}
		delete(w.names, name)
	}
	a.answering = nil
	a.passAt = w.start
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
// itself), ErrNoAnswer for an agent that does not take requests, and
// ErrSmarthostBusy when the pass's local deliveries have ended but a
// delivery to the smarthost has not answered within remoteWait.
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
	var local time.Time // when the pass's local deliveries were seen ended
	for {
		st, ok := readStatus(cfg)
		if ok && st.Pid == s.Pid && st.pass >= asked {
			return nil
		}
		if ok && st.Pid == s.Pid && st.local >= asked {
			if local.IsZero() {
				local = time.Now()
			} else if time.Since(local) >= remoteWait {
				return ErrSmarthostBusy
			}
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

// Flush asks the running agent to retry every deferred message now and
// waits until it has: AwaitPass, once the agent has taken the flush up.
// The two requests are two signals, and a process is not told them in
// the order they were sent: a thread that took SIGUSR1 may be
// preempted in its handler while another takes SIGUSR2, and the pass
// that answers would then try only what was due anyway. So SIGUSR2 is
// sent once the status file says that the flush was taken up after it
// was asked for. An agent whose status says nothing of flushes (of an
// older homepost) is asked at once, as before.
func Flush(ctx context.Context, cfg *config.Config) error {
	pid, running := Running(cfg)
	if !running || pid <= 0 {
		return ErrNotRunning
	}
	asked := monotonic()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return ErrNotRunning
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	// An agent writes its status right after it takes the lock; one
	// that has written none after a while is of an older homepost,
	// which AwaitPass tells.
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, ok := readStatus(cfg)
		if ok && st.Pid == pid && (!st.flushes || st.flushed >= asked) {
			break
		}
		if p, ok := Running(cfg); !ok || p != pid {
			return ErrNotRunning
		}
		if (!ok || st.Pid != pid) && time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return AwaitPass(ctx, cfg)
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
