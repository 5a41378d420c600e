package agent

// A reload that changes outbox (or state_dir, under which the default
// outbox and the lock live) is followed: the shims queue into the outbox
// that config.toml names as soon as the file says so, and an agent that
// kept watching the old one left that mail waiting, unseen, until it was
// restarted.
//
// One agent per outbox. The lock lives in state_dir, and the shims and a
// second agent look for a running agent there: when state_dir moves, the
// agent takes the new lock before it touches the new outbox. A one-shot
// or background delivery that holds it (a sendmail that queued there
// before the agent read the change started one) is asked to give way, as
// a starting daemon does; a daemon that holds it delivers the new outbox
// already, and this agent then stays where it was and says so. The
// locks taken are kept until the agent exits, the old ones too, and the
// status file is written in each state_dir whose lock it holds: a
// command that read the old configuration just before the change (a
// sendmail, an agent --once) still sees the running agent, and no
// second agent starts on the old outbox while this one empties it.
//
// The switch waits for a quiet moment: no copy for the smarthost out,
// no claimed file in flight (remote.go), and what the last batch left
// waiting made durable (settle), so that every queue file of the old
// outbox is at rest, its journal complete, when it moves. Then the old
// outbox's cur/ (deferred mail, with its journal; held mail, still held)
// and new/ are renamed into the new one under the same names, the new
// directories fsynced before the old ones (a power loss leaves each file
// in one of the two), and the new outbox is taken up as at a start: what
// a delivery that gave way left in its cur/ is due at once. The old new/
// stays watched: a sendmail that read the configuration before the
// change may still queue there, and what it queues is moved too. A
// switch still waiting when the agent stops is made once the smarthost's
// delivery is answered or cancelled (loop). Before anything is moved,
// the old outbox is listed in the new state_dir (submit.RecordFormer): a
// rename cannot cross file systems, and a kill may cut a move short, and
// mail left so is reported by the agent's log, mailq and check
// (submit.Stranded), with what to do.
//
// In the middle of a move a name in new/ is settled as take does before
// it moves (migrate), so that no queue file is ever named in two
// outboxes: delivered and recycled as a spare through one name, it would
// be delivered again through the other, or another message written over
// it.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"homepost/config"
	"homepost/outbox"
	"homepost/safeio"
	"homepost/submit"
)

// giveWayWait bounds how long a reload waits for a one-shot or
// background delivery that holds the new state_dir's lock to give way.
const giveWayWait = 30 * time.Second

// moves is what the agent keeps of the outboxes and locks it followed.
type moves struct {
	// w is the loop's watcher, nil outside the loop.
	w *fsnotify.Watcher
	// to is the outbox to switch to at the next quiet moment; "" when
	// no switch waits. using is the outbox delivered meanwhile, and
	// usingState the state_dir whose lock guards it.
	to, using  outbox.Dir
	usingState string
	// former are the outboxes followed from: watched, and emptied into
	// the current one. look is set when mail may have come to one.
	former []outbox.Dir
	look   bool
	// locks are the locks taken on a move of state_dir, kept until
	// the agent exits; dirs are the state directories whose lock the
	// agent holds (the status file is written in each).
	locks []*Lock
	dirs  []string
	// waiting are the queue files whose copies for the smarthost wait
	// for the switch (waitForSwitch): due once it is made.
	waiting map[string]bool
	// resumed is set once the moves a killed agent left are taken up
	// (resumeMoves); cleared with the locks (unlockMoved).
	resumed bool
}

// follow takes a reloaded configuration's outbox and state_dir up
// (before configure). When the agent cannot follow (the new outbox
// cannot be made, another daemon holds the new lock), cfg is changed to
// keep the old ones, and the log says why.
func (a *Agent) follow(cfg *config.Config) {
	old := a.cfg
	// Another path to an outbox the agent knows (a symbolic link, a
	// bind mount, the real path of a linked directory) is no move: the
	// spelling in use is kept, which the watch of new/ names its events
	// by. Compared as strings, it was taken for one, and each file's
	// rename onto itself failed.
	for _, d := range []string{old.Outbox, string(a.box), string(a.mv.to)} {
		if d != "" && cfg.Outbox != d && submit.SameDir(cfg.Outbox, d) {
			a.log.Info("the outbox is named by another path to the same directory: it stays where it is",
				"outbox", cfg.Outbox, "delivering", d)
			cfg.Outbox = d
			break
		}
	}
	newBox := cfg.Outbox != old.Outbox
	newLock := cfg.LockPath() != old.LockPath()
	if !newBox && !newLock {
		return
	}
	stay := func(msg string, args ...any) {
		a.log.Error(msg, append(args, "outbox", cfg.Outbox, "delivering", old.Outbox)...)
		cfg.Outbox, cfg.StateDir = old.Outbox, old.StateDir
	}
	if newBox {
		if err := outbox.Dir(cfg.Outbox).Init(); err != nil {
			stay("the configured outbox cannot be made: this agent keeps delivering the one it had", "reason", err)
			return
		}
	}
	if newLock {
		l, err := a.lockMoved(cfg)
		if err != nil {
			stay("this agent cannot follow the move of state_dir: it keeps delivering the outbox it had", "reason", err)
			return
		}
		if !slices.Contains(a.mv.dirs, old.StateDir) {
			a.mv.dirs = append(a.mv.dirs, old.StateDir)
		}
		if l != nil {
			a.mv.locks = append(a.mv.locks, l)
		}
	}
	if !newBox {
		return
	}
	to := outbox.Dir(cfg.Outbox)
	// The outbox in use and one that a switch still waited for (the
	// shims may have queued there already) are emptied into the new
	// one, and listed in its state_dir first, so that what a kill or
	// another file system leaves there is reported (submit.Stranded).
	froms := []outbox.Dir{a.box}
	if a.mv.to != "" {
		froms = append(froms, a.mv.to)
	}
	for _, d := range froms {
		if d == to {
			continue
		}
		// With the state_dir whose lock guards it, which the agent
		// that finishes a move cut short takes: an outbox named in
		// config.toml is not in its state_dir.
		state := old.StateDir
		if d == a.box && a.mv.to != "" {
			state = a.mv.usingState
		}
		if err := submit.RecordFormer(cfg, string(d), state); err != nil {
			a.log.Warn("record the former outbox", "outbox", string(d), "reason", err)
		}
		if d == a.mv.to && !slices.Contains(a.mv.former, d) {
			a.mv.former = append(a.mv.former, d)
		}
	}
	if a.mv.w != nil {
		if err := a.mv.w.Add(to.Path("new")); err != nil {
			a.log.Warn("watch outbox", "outbox", cfg.Outbox, "reason", err)
		}
	}
	if a.mv.to == "" {
		a.mv.using, a.mv.usingState = a.box, old.StateDir
	}
	a.mv.to = to
	if old.StateDir != cfg.StateDir {
		os.Remove(movingPath(old))
	}
	a.showMoving(cfg, froms)
	a.log.Info("the outbox moved: following it", "outbox", cfg.Outbox, "from", old.Outbox)
}

// resumeFormer takes up, at the start, the outboxes that an agent
// followed a move from (state_dir/outbox.former) and that still hold
// mail: an agent killed (-9, OOM, power loss) while its move waited for
// the smarthost had moved nothing. As the live move does, it first takes
// the lock of the old outbox's state_dir (and keeps it until it exits),
// so that nothing else delivers that outbox while its mail is moved:
// the state_dir recorded with it, or, in a list of an older homepost,
// its parent directory. None is needed when that is the agent's own
// state_dir (an outbox named in config.toml changed, state_dir not):
// the agent holds its lock. An outbox whose state_dir is not known (no
// agent.lock there), or whose lock another process holds, is left where
// it is and reported (submit.Stranded). The move itself is made by the loop (migrate), one
// rename each, as at a reload; in the loop its new/ is watched, as the
// live move's is. once says how the lock is taken: as a
// one-shot or background delivery, which a starting daemon asks to give
// way, or as the daemon (see resumeMoves). It returns the outboxes taken
// up.
func (a *Agent) resumeFormer(once bool) []string {
	var took []string
	for _, f := range submit.Formers(a.cfg) {
		d := f.Outbox
		from := outbox.Dir(d)
		if from == a.box || slices.Contains(a.mv.former, from) || from == a.mv.to || submit.SameDir(d, string(a.box)) {
			continue
		}
		k := 0
		for _, sub := range []string{"new", "cur"} {
			names, _ := from.Names(sub)
			k += len(names)
		}
		if k == 0 {
			continue
		}
		sd := f.StateDir
		if sd == "" {
			sd = filepath.Dir(d)
		}
		if sd != a.cfg.StateDir && !slices.Contains(a.mv.dirs, sd) {
			if _, err := os.Lstat(filepath.Join(sd, "agent.lock")); err != nil {
				continue // no state_dir known: whose outbox it is cannot be told
			}
			c := *a.cfg
			c.StateDir = sd
			l, err := TryLock(&c, once)
			if err != nil {
				a.log.Warn("the former outbox's state_dir is locked: its mail is not moved", "stranded", d, "reason", err)
				continue
			}
			a.mv.locks = append(a.mv.locks, l)
			a.mv.dirs = append(a.mv.dirs, sd)
		}
		a.mv.former = append(a.mv.former, from)
		a.mv.look = true
		took = append(took, d)
		if a.mv.w != nil {
			// As the live move keeps it: a sendmail that read the old
			// configuration queues there, finds this agent holding the
			// lock, and starts nobody.
			if err := a.mv.w.Add(from.Path("new")); err != nil {
				a.log.Warn("watch outbox", "outbox", d, "reason", err)
			}
		}
	}
	return took
}

// resumeMoves takes up, once per process, the moves that a killed
// agent left (resumeFormer), and says what waits in an outbox that is no
// longer the configured one: moved now, or left where it is with what to
// do. The loop calls it at its start, and so does a one-shot delivery
// (agent --once), which otherwise delivered none of that mail and said
// nothing of it: the move is then made by moveOn, after start has made
// the outbox. once is true but for the daemon: the loop runs before it
// sets a.async, so that cannot tell, and a daemon that took the old
// state_dir's lock as a one-shot delivery was asked to give way, and
// stopped, by any daemon started later on that state_dir.
func (a *Agent) resumeMoves(once bool) {
	if a.mv.resumed {
		return
	}
	a.mv.resumed = true
	took := a.resumeFormer(once)
	if dir, n := submit.Stranded(a.cfg); n > 0 && slices.Contains(took, dir) {
		a.log.Info("moving the mail of a former outbox into the configured one", "from", dir, "messages", n, "outbox", a.cfg.Outbox)
	} else if n > 0 {
		a.log.Warn("mail waits in an outbox that is no longer the configured one: nothing delivers it; "+submit.StrandedAdvice(dir, a.cfg.Outbox),
			"stranded", dir, "messages", n, "outbox", a.cfg.Outbox)
	}
}

// lockMoved takes the lock of cfg's state_dir. It returns a nil Lock
// when this process holds it already (the agent came back to a state_dir
// it had followed from, or the directory was renamed to the new name).
// A one-shot or background delivery that holds it is asked to give way
// and waited for, up to giveWayWait.
func (a *Agent) lockMoved(cfg *config.Config) (*Lock, error) {
	once := a.background || !a.async
	asked := false
	for deadline := time.Now().Add(giveWayWait); ; {
		l, err := TryLock(cfg, once)
		if err == nil {
			return l, nil
		}
		var le *LockedError
		if !errors.As(err, &le) {
			return nil, err
		}
		if le.Pid == os.Getpid() {
			return nil, nil
		}
		if !le.Once {
			return nil, err // a daemon: it delivers the new outbox
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		if !asked {
			a.log.Info("asking a one-shot delivery to give way", "pid", le.Pid)
			syscall.Kill(le.Pid, syscall.SIGTERM)
			asked = true
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// followed keeps delivering the outbox in use after configure, while a
// switch waits.
func (a *Agent) followed() {
	if a.mv.to != "" {
		a.box = a.mv.using
	}
}

// moveOn switches to the outbox followed once nothing of the old one is
// in flight, and moves what came to a former outbox into the current
// one.
func (a *Agent) moveOn() {
	if a.mv.to != "" && a.remoteOut == 0 && len(a.inflight) == 0 {
		a.settle()
		from := a.box
		a.box = a.mv.to
		a.mv.to = ""
		for n := range a.mv.waiting {
			a.due[n] = time.Time{}
		}
		a.mv.waiting = nil
		a.backlogDue()
		if err := os.Remove(movingPath(a.cfg)); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Debug("remove the note of the move", "reason", err)
		}
		a.mv.former = slices.DeleteFunc(a.mv.former, func(d outbox.Dir) bool { return d == a.box })
		if !slices.Contains(a.mv.former, from) && from != a.box {
			a.mv.former = append(a.mv.former, from)
		}
		a.mv.look = true
		a.migrate()
		if err := a.start(); err != nil {
			a.log.Error("outbox", "outbox", string(a.box), "reason", err)
		}
		a.look = true
		return
	}
	if a.mv.look && a.mv.to == "" {
		a.migrate()
	}
}

// waitForSwitch keeps the jobs whose copies for the smarthost were held
// back while a switch waits (deliverHolding) out of the schedule until
// it is made (moveOn): due meanwhile, they would be planned again at
// every pass, only to be held back again.
func (a *Agent) waitForSwitch(jobs []*job) {
	if a.mv.waiting == nil {
		a.mv.waiting = map[string]bool{}
	}
	for _, j := range jobs {
		if _, ok := a.due[j.name]; !ok {
			continue // retired, or taken up otherwise
		}
		delete(a.due, j.name)
		a.mv.waiting[j.name] = true
	}
	a.log.Info("the delivery to the smarthost waits for the move of the outbox, made once the delivery in progress ends",
		"messages", len(jobs), "outbox", a.cfg.Outbox)
}

// migrate moves the queue files of the former outboxes into the current
// one. A name in new/ whose message is in cur/ too (a claim whose name a
// crash left in new/, a release half done) is first settled as take
// does (outbox.Dir.DropClaimed, under the queue file's lock), so that no
// file is ever named in both outboxes: delivered and recycled through
// one name, it would be delivered again, or another message written
// over it, through the other. Then cur/ and the rest of new/ are renamed
// under the same names, and the new directories fsynced, then the old
// ones: a crash leaves each message whole in one of the two, and the
// next look moves the rest. An mbox copy that a kill cut off, marked in
// a moved file's journal, is cut back then (cutTorn), before the drain
// appends anything else: a move taken up at the start comes after
// start's own cut.
func (a *Agent) migrate() {
	a.mv.look = false
	for _, from := range a.mv.former {
		moved, left := 0, 0
		var why error
		fail := func(err error) {
			left++
			why = err
		}
		// A hold asked for a message of the former outbox (homepost
		// queue hold, as a delivery had it) goes along, asked in the
		// new outbox before it is removed from the old one.
		for id := range from.AskedHolds() {
			if err := a.box.AskHold(id); err != nil {
				a.log.Error("move the hold asked for into the configured outbox", "id", id, "reason", err)
				continue
			}
			from.DropAskedHold(id)
		}
		news, err := from.Names("new")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fail(err)
		}
		var loose []string // names in new/ alone: unclaimed messages
		for _, n := range news {
			if _, err := os.Lstat(from.Path("cur", n+":2,")); err != nil {
				loose = append(loose, n)
				continue
			}
			dropped, err := from.DropClaimed(n)
			switch {
			case errors.Is(err, os.ErrNotExist):
				loose = append(loose, n) // released meanwhile: in new/ alone
			case err != nil:
				fail(err)
			case !dropped:
				// A release in progress holds the lock: look again
				// once it has given the message back.
				a.mv.look = true
			}
		}
		curs, err := from.Names("cur")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fail(err)
		}
		var claimed []string // moved into cur/
		for _, sub := range []string{"cur", "new"} {
			names := curs
			if sub == "new" {
				names = loose
			}
			for _, n := range names {
				err := renameNoReplace(from.Path(sub, n), a.box.Path(sub, n))
				if errors.Is(err, os.ErrNotExist) {
					continue // claimed or deleted meanwhile
				}
				if err != nil {
					fail(err)
					continue
				}
				moved++
				if sub == "cur" {
					claimed = append(claimed, n)
				}
				if _, ok := a.due[n]; sub == "cur" && !ok && !a.inflight[n] {
					a.due[n] = time.Time{} // look at it now
				}
			}
		}
		if moved > 0 {
			dirs := []string{a.box.Path("cur"), a.box.Path("new"), from.Path("cur"), from.Path("new")}
			for _, d := range dirs {
				if err := safeio.SyncDir(d); err != nil {
					a.log.Error("sync outbox", "dir", d, "reason", err)
				}
			}
			a.cutTorn(claimed)
			a.look = true
			a.log.Info("moved the mail of the former outbox into the configured one", "messages", moved, "from", string(from), "outbox", string(a.box))
		}
		if left > 0 {
			a.log.Error("mail waits in a former outbox and cannot be moved into the configured one: "+submit.StrandedAdvice(string(from), string(a.box)),
				"messages", left, "stranded", string(from), "outbox", string(a.box), "reason", why)
		}
	}
}

// renameNoReplace renames old to new unless new exists: a name is
// unique to its message, but a file of the same name in the new outbox
// (a copy made by hand) must not be overwritten.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without RENAME_NOREPLACE: look first.
		if _, serr := os.Lstat(new); serr == nil {
			return &os.LinkError{Op: "rename", Old: old, New: new, Err: os.ErrExist}
		}
		err = os.Rename(old, new)
	}
	if err != nil {
		if _, ok := err.(*os.LinkError); !ok {
			err = &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
		}
	}
	return err
}

// watchesFormer reports whether dir is the new/ of a former outbox.
func (a *Agent) watchesFormer(dir string) bool {
	for _, d := range a.mv.former {
		if dir == d.Path("new") {
			return true
		}
	}
	return false
}

// movingPath is the file that says that the agent has a move of the
// outbox pending: "PID", then the outboxes it moves mail from, a line
// each. mailq and check read it (PendingMove), so that they do not call
// that mail stranded and advise a move by hand of a queue file whose
// delivery is in progress.
func movingPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, "agent.moving") }

// showMoving writes movingPath in cfg's state_dir. Like the smarthost's
// status file it is renamed into place without fsync: after a crash it
// names a process that is gone, and is not read.
func (a *Agent) showMoving(cfg *config.Config, froms []outbox.Dir) {
	var b strings.Builder
	b.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	for _, d := range froms {
		if !strings.Contains(string(d), "\n") {
			b.WriteString(string(d) + "\n")
		}
	}
	p := movingPath(cfg)
	if err := writeNote(p, p+".tmp", []byte(b.String())); err != nil {
		a.log.Debug("write the note of the move", "reason", err)
	}
}

// PendingMove says, when the running agent has a move of the outbox dir
// into cfg's outbox pending (it waits for a delivery to the smarthost in
// progress), who moves its mail and when; false otherwise.
func PendingMove(cfg *config.Config, dir string) (string, bool) {
	pid, ok := Running(cfg)
	if !ok {
		return "", false
	}
	b, err := os.ReadFile(movingPath(cfg))
	if err != nil {
		return "", false
	}
	lines := strings.Split(string(b), "\n")
	if p, err := strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || p != pid {
		return "", false // left by an agent that is gone
	}
	if !slices.Contains(lines[1:], filepath.Clean(dir)) {
		return "", false
	}
	when := "once its delivery to the smarthost in progress ends"
	if s, ok := RunningSending(cfg); ok && s.Where != "" {
		when = fmt.Sprintf("once the delivery to %s in progress since %s ends", s.Where, s.Since.Local().Format("15:04:05"))
	}
	return fmt.Sprintf("the agent (pid %d) moves them into %s %s", pid, cfg.Outbox, when), true
}

// unlockMoved releases the locks taken on moves of state_dir, and
// forgets the former outboxes with them: a background delivery that
// runs again for mail that came as it ended (Run) gives up its locks
// between the rounds, and another delivery may meanwhile take an old
// state_dir's lock and claim mail in its outbox, which a rename out of
// that outbox would take from under it (its copies for a command or the
// smarthost then sent twice). The next round takes those outboxes up
// again as at a start (resumeMoves), under their locks.
func (a *Agent) unlockMoved() {
	for _, l := range a.mv.locks {
		l.Unlock()
	}
	a.mv.locks, a.mv.dirs = nil, nil
	a.mv.former, a.mv.look, a.mv.resumed = nil, false, false
}
