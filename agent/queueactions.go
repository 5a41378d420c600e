package agent

// What homepost queue did, in the agent's log.
//
// The agent's log (its standard error: the journal under systemd,
// agent.log for a background delivery, wherever a user sent it) is the
// only history of a message; "what became of 661B...?" must find an
// answer there when the user held, released or deleted it, as Postfix's
// postsuper logs "removed", "placed on hold" and "released from hold".
// Only the agent knows where its log goes, so homepost queue writes what
// it did to a file in the state directory, fsynced before it answers,
// and asks the running agent for a pass (SIGUSR2, as agent --once does:
// no configuration reload, and none logged); the agent logs the lines
// and removes the file at that pass, or at its next start when none
// runs. A crash between the logging and the removal logs a line twice;
// nothing is lost.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"homepost/config"
	"homepost/outbox"
	"homepost/safeio"
)

// QueueAction is one message acted on by homepost queue.
type QueueAction struct {
	ID     string
	Status string // "deleted", "held" or "released"
	// Note says more, for the log's reason= ("a copy being sent to
	// HOST may still arrive"); empty for none.
	Note string
}

// actionsPath is the file of queue actions not yet logged.
func actionsPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "queue.actions") }

// NoteQueueActions records acts durably for the agent to log, and asks
// a running agent that takes requests to log them now. Where no agent
// runs, the next one logs them when it starts.
func NoteQueueActions(cfg *config.Config, acts []QueueAction, now time.Time) error {
	if len(acts) == 0 {
		return nil
	}
	var b bytes.Buffer
	for _, a := range acts {
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s\n", now.Unix(), oneField(a.ID), oneField(a.Status), oneField(a.Note))
	}
	p := actionsPath(cfg)
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("note queue actions for the agent's log: %w", err)
	}
	for range 10 {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
		if err != nil {
			return fmt.Errorf("note queue actions for the agent's log: %w", err)
		}
		// Under the lock the agent takes to rename the file away: a
		// file renamed meanwhile is no longer the one at p.
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return fmt.Errorf("note queue actions for the agent's log: lock %s: %w", p, err)
		}
		if !samePath(f, p) {
			f.Close()
			continue
		}
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			f.Close()
			return fmt.Errorf("note queue actions for the agent's log: %s is not a regular file", p)
		}
		_, err = f.Write(b.Bytes())
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = safeio.SyncDir(cfg.StateDir)
		}
		if err != nil {
			return fmt.Errorf("note queue actions for the agent's log: %s: %w", p, err)
		}
		nudge(cfg)
		return nil
	}
	return fmt.Errorf("note queue actions for the agent's log: %s keeps being replaced", p)
}

// nudge asks the running agent for a pass, without waiting for it;
// only an agent that takes requests (its status file says so: SIGUSR2
// would end an older one) is asked.
func nudge(cfg *config.Config) {
	if s, ok := RunningStatus(cfg); ok && s.answers && s.Pid > 0 {
		syscall.Kill(s.Pid, syscall.SIGUSR2)
	}
}

// samePath reports whether f is still the file at p.
func samePath(f *os.File, p string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(p)
	return err == nil && os.SameFile(a, b)
}

// oneField keeps a value on its line and in its field: tabs and control
// characters become spaces.
func oneField(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// logQueueActions logs what homepost queue did since the last time and
// removes the file that said so. A file left being taken by a crash is
// logged first.
func (a *Agent) logQueueActions() {
	p := actionsPath(a.cfg)
	taking := p + ".taking"
	if _, err := os.Lstat(taking); err == nil {
		a.logActionsFile(taking)
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("read queue actions", "file", p, "reason", err)
		}
		return
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	if err == nil {
		err = os.Rename(p, taking)
	}
	f.Close()
	if err != nil {
		a.log.Warn("read queue actions", "file", p, "reason", err)
		return
	}
	a.logActionsFile(taking)
}

// logActionsFile logs the lines of one file of queue actions, then
// removes it.
func (a *Agent) logActionsFile(p string) {
	b, err := safeio.ReadRegular(p, 1<<20)
	if err != nil {
		a.log.Warn("read queue actions", "file", p, "reason", err)
		os.Remove(p)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 {
			continue
		}
		args := []any{"id", f[1], "status", f[2], "by", "homepost queue"}
		if sec, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			// Logged later than done (no agent ran): say when.
			if t := time.Unix(sec, 0); a.now().Sub(t) > 5*time.Second {
				args = append(args, "at", t.Format(time.RFC3339))
			}
		}
		if len(f) > 3 && f[3] != "" {
			args = append(args, "reason", f[3])
		}
		a.log.Info("queue", args...)
	}
	os.Remove(p)
}

// dropStaleHolds removes the requests for a hold (outbox.Dir.AskHold)
// whose message is no longer in the queue: delivered by the delivery
// that had it, as a crash cut its end short, or deleted.
func (a *Agent) dropStaleHolds() {
	asked := a.box.AskedHolds()
	if len(asked) == 0 {
		return
	}
	queued := map[string]bool{}
	for _, sub := range []string{"new", "cur"} {
		names, err := a.box.Names(sub)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return // not known: kept
		}
		for _, n := range names {
			queued[outbox.ID(n)] = true
		}
	}
	for id := range asked {
		if !queued[id] {
			a.box.DropAskedHold(id)
		}
	}
}
