package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"homepost/agentlock"
	"homepost/test/testenv"
)

// TestMoveSweep kills "homepost agent" at every call of every swept
// system call of a move of the outbox that it follows (agent/move.go):
// config.toml comes to name another outbox while the agent runs, and
// the old one holds an unclaimed message in new/, one claimed in cur/,
// and one claimed whose name a crash left in new/ too. The kills
// begin once the file is changed (the killer counts from then on), and
// every call is a crash point until the agent has moved the mail,
// delivered it from the new outbox and been stopped with SIGTERM.
//
// After a kill the agent is started again with the new configuration,
// as its service manager would (or, for the change of state_dir, as
// "agent --once"): a move recorded in
// state_dir/outbox.former is finished (the old outbox emptied into the
// new one) and every message delivered, with no word of mail left
// behind; a kill before the move was recorded (the agent was still
// reading the file, or making the new outbox) leaves the mail where it
// was, which the agent must then report with what to do, and the mail
// is moved as that report says. Either way every message must then be
// in the Maildir exactly once and whole, both outboxes empty, and
// mailq quiet. It is swept twice: config.toml changes outbox, then
// state_dir (which moves the lock, and the outbox with it).
func TestMoveSweep(t *testing.T) {
	needKiller(t)
	needPython(t)
	for _, key := range []string{"outbox", "state_dir"} {
		t.Run(key, func(t *testing.T) {
			mv := newMove(t, "mv", key == "state_dir")
			sc := mv.sc
			sc.run, sc.recover = mv.run, mv.recover
			sweepEach(t, sc.name, func(t *testing.T, sys string) int { return sweepCall(t, sc, sys) })
		})
	}
}

// newMove prepares the messages of a move: their queue files are put
// into the old outbox once the agent runs (move.run), and newWorld
// leaves it empty.
func newMove(t *testing.T, prefix string, stateDir bool) *move {
	sc := &scenario{
		name:   "move",
		stores: func(h string) []store { return []store{{"maildir", filepath.Join(h, "Maildir")}} },
		msgs:   msgs(prefix, 3, []string{testenv.Login(t)}, nil),
		// The Maildir exists: its making is swept by the maildir
		// scenario, and would only add crash points here.
		setup: func(h string) {
			for _, sub := range []string{"tmp", "new", "cur"} {
				os.MkdirAll(filepath.Join(h, "Maildir", sub), 0o700)
			}
		},
	}
	if stateDir {
		sc.name = "move of state_dir"
	}
	sc.prepare(t)
	mv := &move{sc: sc, files: sc.queue, stateDir: stateDir}
	sc.queue = nil
	return mv
}

// move is the move scenario: what it queues, and how.
type move struct {
	sc    *scenario
	files map[string][]byte // queue file name → its bytes
	// stateDir: config.toml changes state_dir, not outbox: the lock
	// moves too, and the outbox with it.
	stateDir bool
}

// The outbox moves from the default place to ~/newbox, or, when
// state_dir changes, with it to ~/state2/outbox.
func (mv *move) oldBox(w *world) string { return w.e.Outbox("") }
func (mv *move) newBox(w *world) string {
	if mv.stateDir {
		return w.e.Path("state2", "outbox")
	}
	return w.e.Path("newbox")
}

// oldState is the state_dir the agent starts with, newState the one
// that lists the former outbox (outbox.former).
func (mv *move) oldState(w *world) string { return w.e.Path(".local", "state", "homepost") }
func (mv *move) newState(w *world) string {
	if mv.stateDir {
		return w.e.Path("state2")
	}
	return mv.oldState(w)
}

// run starts the agent under the killer, not yet counting; once it
// holds the lock and has made a pass, it arms the killer, changes
// config.toml to name the new outbox and queues the messages in the old
// one (within the half second the agent lets a changed file settle
// before it reads it and delivers anything: a sendmail that read the
// file before the change queues there so). Unless the agent is killed,
// it is stopped with SIGTERM once both outboxes are empty.
func (mv *move) run(w *world, sys string, n int) outcome {
	arm := filepath.Join(w.e.Home, ".armed")
	vars := w.e.Vars
	w.e.Vars = append(slices.Clip(vars), armEnv+"="+arm)
	term, wait := w.startKill(nil, sys, n, "homepost", "agent")
	w.e.Vars = vars
	exited := make(chan outcome, 1)
	go func() { exited <- wait() }()
	stop := func(why error) outcome {
		term()
		o := <-exited
		if o.err == nil && !o.killed {
			o.err = fmt.Errorf("%v: %s", why, o.stderr)
		}
		return o
	}
	lock := filepath.Join(mv.oldState(w), "agent.lock")
	for deadline := time.Now().Add(daemonDeadline); ; {
		if _, ok := agentlock.Running(lock); ok {
			break
		}
		select {
		case o := <-exited:
			if o.err == nil {
				o.err = fmt.Errorf("the agent exited before it took the lock: %s", o.stderr)
			}
			return o
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return stop(errors.New("the agent never took the lock"))
		}
	}
	// A pass asked for and answered: the agent is idle, watching.
	if out, err := w.e.Cmd(nil, "homepost", "agent", "--once").CombinedOutput(); err != nil {
		return stop(fmt.Errorf("agent --once beside the agent: %v: %s", err, out))
	}
	if err := os.WriteFile(arm, nil, 0o600); err != nil {
		return stop(err)
	}
	if err := mv.changeOutbox(w); err != nil {
		return stop(err)
	}
	if err := mv.queue(w); err != nil {
		return stop(err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(daemonDeadline)
	for {
		select {
		case o := <-exited:
			if o.err == nil && !o.killed {
				o.err = fmt.Errorf("the agent exited before it was stopped: %s", o.stderr)
			}
			return o
		case <-tick.C:
			if !mv.empty(mv.oldBox(w)) || !mv.empty(mv.newBox(w)) || !onlySpares(filepath.Join(mv.newBox(w), "tmp")) {
				continue
			}
			term()
			o := <-exited
			if !o.killed && o.err == nil {
				if bad := mv.check(w, ""); len(bad) > 0 {
					o.err = fmt.Errorf("%s\nagent log:\n%s", strings.Join(bad, "\n\t"), o.stderr)
				}
			}
			return o
		case <-deadline:
			return stop(fmt.Errorf("the outboxes were not empty after %v", daemonDeadline))
		}
	}
}

// changeOutbox makes config.toml name the new outbox, as an editor
// saves it: a new file renamed over the old.
func (mv *move) changeOutbox(w *world) error {
	conf := w.e.Path(".config", "homepost", "config.toml")
	b, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	if mv.stateDir {
		b = append(b, "state_dir = \"~/state2\"\n"...)
	} else {
		b = append(b, "outbox = \"~/newbox\"\n"...)
	}
	if err := os.WriteFile(conf+".new", b, 0o600); err != nil {
		return err
	}
	return os.Rename(conf+".new", conf)
}

// queue puts the messages into the old outbox, each whole by a rename
// from its tmp/: the 2nd claimed with its name in new/ too (a claim
// that a crash cut short), the 3rd claimed, then the 1st in new/.
func (mv *move) queue(w *world) error {
	old := mv.oldBox(w)
	order := []int{1, 2, 0}
	for _, i := range order {
		name := mv.sc.names[mv.sc.msgs[i].id]
		tmp := filepath.Join(old, "tmp", name)
		if err := os.WriteFile(tmp, mv.files[name], 0o600); err != nil {
			return err
		}
		var err error
		switch i {
		case 1:
			if err = os.Link(tmp, filepath.Join(old, "cur", name+":2,")); err == nil {
				err = os.Rename(tmp, filepath.Join(old, "new", name))
			}
		case 2:
			err = os.Rename(tmp, filepath.Join(old, "cur", name+":2,"))
		default:
			err = os.Rename(tmp, filepath.Join(old, "new", name))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// empty reports whether an outbox holds nothing in new/ and cur/.
func (mv *move) empty(box string) bool {
	return len(testenv.Files(filepath.Join(box, "new"))) == 0 && len(testenv.Files(filepath.Join(box, "cur"))) == 0
}

// recorded reports whether state_dir/outbox.former lists the old outbox.
func (mv *move) recorded(w *world) bool {
	b, _ := os.ReadFile(filepath.Join(mv.newState(w), "outbox.former"))
	for _, l := range strings.Split(string(b), "\n") {
		if box, _, _ := strings.Cut(l, "\t"); box == mv.oldBox(w) { // OUTBOX\tSTATE_DIR
			return true
		}
	}
	return false
}

// stranded is the start of the agent's report of mail left in an outbox
// that is no longer the configured one, and moved by nothing.
const stranded = "mail waits in an outbox that is no longer the configured one"

// recover starts the agent again after a kill, with the new
// configuration: the daemon, which makes a pass and is stopped, after a
// change of outbox; "agent --once" after a change of state_dir, so that
// both take up a move that a kill cut short. A move that was not
// recorded yet must be reported; the mail is then moved as the report
// says (each file by way of the new outbox's tmp/, the agent stopped)
// and delivered by "agent --once".
func (mv *move) recover(w *world) (string, []string) {
	recorded := mv.recorded(w)
	bad := mv.twice(w)
	restart := mv.restart
	if mv.stateDir {
		restart = (*world).once
	}
	log, err := restart(w)
	if err != nil {
		bad = append(bad, "recovery: "+err.Error())
	}
	if recorded {
		return log, append(bad, mv.check(w, log)...)
	}
	if !strings.Contains(log, stranded) || !strings.Contains(log, mv.oldBox(w)) {
		bad = append(bad, "the mail of the old outbox, whose move was not recorded, is not reported")
	}
	if err := mv.byHand(w); err != nil {
		bad = append(bad, "the move by hand: "+err.Error())
	}
	more, err := w.once()
	if err != nil {
		bad = append(bad, "delivery after the move by hand: "+err.Error())
	}
	log += "(the move made by hand)\n" + more
	return log, append(bad, mv.check(w, more)...)
}

// twice lists the queue files that a kill left named in both outboxes:
// delivered and recycled as a spare through one name, such a file would
// be delivered again, or another message written over it, through the
// other (agent/move.go settles a name in both new/ and cur/ before it
// moves either).
func (mv *move) twice(w *world) []string {
	names := map[uint64]string{}
	var bad []string
	for i, box := range []string{mv.oldBox(w), mv.newBox(w)} {
		for _, sub := range []string{"new", "cur"} {
			for _, n := range testenv.Files(filepath.Join(box, sub)) {
				p := filepath.Join(box, sub, n)
				var st syscall.Stat_t
				if err := syscall.Lstat(p, &st); err != nil {
					continue
				}
				rel := strings.ReplaceAll(p, w.e.Home, "~")
				if i == 0 {
					names[st.Ino] = rel
				} else if other, ok := names[st.Ino]; ok {
					bad = append(bad, fmt.Sprintf("one queue file named in both outboxes after the kill: %s and %s", other, rel))
				}
			}
		}
	}
	return bad
}

// restart runs "homepost agent" until a pass asked for after its start
// has ended, then stops it with SIGTERM. It returns the agent's log.
func (mv *move) restart(w *world) (string, error) {
	c := w.e.Cmd(nil, "homepost", "agent")
	var logb testenv.LockedBuffer
	c.Stderr = &logb
	if err := c.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	var err error
	for deadline := time.Now().Add(daemonDeadline); !strings.Contains(logb.String(), "agent started"); {
		if time.Now().After(deadline) {
			err = errors.New("the agent did not start")
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil {
		// A pass asked for now comes after the start's look at the
		// outboxes that a move left.
		var out []byte
		if out, err = w.e.Cmd(nil, "homepost", "agent", "--once").CombinedOutput(); err != nil {
			err = fmt.Errorf("agent --once beside the agent: %v: %s", err, out)
		}
	}
	c.Process.Signal(syscall.SIGTERM)
	select {
	case werr := <-exited:
		if werr != nil && err == nil {
			err = fmt.Errorf("the agent: %v", werr)
		}
	case <-time.After(daemonDeadline):
		c.Process.Kill()
		<-exited
		err = errors.New("the agent did not stop on SIGTERM")
	}
	return logb.String(), err
}

// byHand moves what the old outbox holds into the new one as the
// agent's report says: each file into the new outbox's tmp/, then into
// cur/ or new/, where it was.
func (mv *move) byHand(w *world) error {
	old, dst := mv.oldBox(w), mv.newBox(w)
	for _, sub := range []string{"cur", "new"} {
		for _, n := range testenv.Files(filepath.Join(old, sub)) {
			tmp := filepath.Join(dst, "tmp", n)
			if err := os.Rename(filepath.Join(old, sub, n), tmp); err != nil {
				return err
			}
			if err := os.Rename(tmp, filepath.Join(dst, sub, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// check lists what is wrong once the mail should be delivered: mail
// left in either outbox, a log that speaks of mail left behind, mailq
// warning of any.
func (mv *move) check(w *world, log string) []string {
	var bad []string
	for _, box := range []string{mv.oldBox(w), mv.newBox(w)} {
		for _, sub := range []string{"new", "cur"} {
			if l := testenv.Files(filepath.Join(box, sub)); len(l) > 0 {
				bad = append(bad, fmt.Sprintf("%s/%s still holds %v", strings.ReplaceAll(box, w.e.Home, "~"), sub, l))
			}
		}
	}
	if strings.Contains(log, "mail waits in") {
		bad = append(bad, "the agent reports mail left behind")
	}
	c := w.e.Cmd(nil, "homepost", "mailq")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			bad = append(bad, "mailq: "+err.Error())
		} else {
			bad = append(bad, fmt.Sprintf("mailq: exit %d: %s", ee.ExitCode(), errb.String()))
		}
	} else if errb.Len() > 0 {
		bad = append(bad, "mailq warns: "+errb.String())
	}
	return bad
}

// TestMovePowerLossOrder records "homepost agent" with strace while it
// follows the same moves as TestMoveSweep, and checks the order of its
// system calls against the fsync model with the new outbox as the
// outbox and the old one as a former one: the move itself (R9: every
// file durable under its new name before its old directory is synced,
// both durable at exit) and the delivery from the new outbox that
// follows (R1–R8).
func TestMovePowerLossOrder(t *testing.T) {
	needStrace(t)
	for _, key := range []string{"outbox", "state_dir"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			tracedMove(t, newMove(t, "mp", key == "state_dir"))
		})
	}
}

func tracedMove(t *testing.T, mv *move) {
	sc := mv.sc
	w := sc.newWorld(t)
	m := w.model()
	m.outbox, m.former = mv.newBox(w), []string{mv.oldBox(w)}
	trace := filepath.Join(t.TempDir(), "trace")
	agent := w.traceAgent(t, trace)
	w.e.WaitFor(func() bool { return strings.Contains(agent.log.String(), "agent started") }, "agent start")
	// A pass asked for and answered: the agent is idle, and reads the
	// change before the mail queued after it (see move.run).
	if out, err := w.e.Cmd(nil, "homepost", "agent", "--once").CombinedOutput(); err != nil {
		t.Fatalf("agent --once beside the agent: %v: %s", err, out)
	}
	if err := mv.changeOutbox(w); err != nil {
		t.Fatal(err)
	}
	if err := mv.queue(w); err != nil {
		t.Fatal(err)
	}
	w.e.WaitFor(func() bool {
		return mv.empty(mv.oldBox(w)) && mv.empty(mv.newBox(w)) && onlySpares(filepath.Join(mv.newBox(w), "tmp"))
	}, "both outboxes empty")
	agent.stop()
	calls := w.checkTrace(t, m, trace)
	moved := 0
	for _, c := range calls {
		if (c.name == "renameat2" || c.name == "renameat" || c.name == "linkat") && c.ok() && len(c.args) >= 4 &&
			m.fromFormer(atPath(c.args[0], c.args[1])) && strings.HasPrefix(atPath(c.args[2], c.args[3]), m.outbox+"/") {
			moved++
		}
	}
	// Three files: the one in new/ and the two claimed ones from
	// cur/; the name in new/ of one of these is dropped, not moved.
	if moved != 3 {
		t.Errorf("the trace moves %d queue files from the old outbox into the new one, want 3:\n%s", moved, agent.log.String())
	}
	if n := len(testenv.Files(w.e.Path("Maildir", "new"))); n != len(sc.msgs) {
		t.Errorf("%d copies in ~/Maildir/new, want %d", n, len(sc.msgs))
	}
}

// The move rule of the fsync model (R9) itself: a move whose new
// directories are synced before the old ones passes, one that syncs
// the old directory first does not, and neither does a link unlinked
// before it is durable.
func TestFsyncModelMoveRule(t *testing.T) {
	dirs := map[string]bool{"/h/o/cur": true, "/h/o/new": true, "/h/n/cur": true, "/h/n/new": true}
	m := &fsyncModel{outbox: "/h/n", former: []string{"/h/o"}, home: "/h", existed: map[string]bool{},
		isDir: func(p string) bool { return dirs[p] }}
	run := func(trace string) string {
		calls, _, err := parseTrace(strings.NewReader(strings.TrimSpace(trace) + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		var rules []string
		for _, v := range m.check(calls) {
			rules = append(rules, v.rule)
		}
		return strings.Join(rules, ",")
	}
	const (
		moveNew = `1 renameat2(AT_FDCWD</>, "/h/o/new/q1", AT_FDCWD</>, "/h/n/new/q1", RENAME_NOREPLACE) = 0` + "\n"
		moveCur = `1 renameat2(AT_FDCWD</>, "/h/o/cur/q2:2,", AT_FDCWD</>, "/h/n/cur/q2:2,", RENAME_NOREPLACE) = 0` + "\n"
		syncNew = `1 openat(AT_FDCWD</>, "/h/n/new", O_RDONLY|O_CLOEXEC) = 7</h/n/new>` + "\n" + `1 fsync(7</h/n/new>) = 0` + "\n" +
			`1 openat(AT_FDCWD</>, "/h/n/cur", O_RDONLY|O_CLOEXEC) = 8</h/n/cur>` + "\n" + `1 fsync(8</h/n/cur>) = 0` + "\n"
		syncOld = `1 openat(AT_FDCWD</>, "/h/o/new", O_RDONLY|O_CLOEXEC) = 9</h/o/new>` + "\n" + `1 fsync(9</h/o/new>) = 0` + "\n" +
			`1 openat(AT_FDCWD</>, "/h/o/cur", O_RDONLY|O_CLOEXEC) = 10</h/o/cur>` + "\n" + `1 fsync(10</h/o/cur>) = 0` + "\n"
	)
	if got := run(moveNew + moveCur + syncNew + syncOld); got != "" {
		t.Errorf("renames, the new directories synced, then the old: %s", got)
	}
	if got := run(moveNew + moveCur + syncOld + syncNew); got != "R9,R9" {
		t.Errorf("the old directories synced first: got %q, want R9,R9", got)
	}
	if got := run(moveNew + moveCur + syncNew); got != "R5,R5" {
		t.Errorf("the old directories never synced: got %q, want R5,R5", got)
	}
	link := `1 linkat(AT_FDCWD</>, "/h/o/new/q1", AT_FDCWD</>, "/h/n/new/q1", 0) = 0` + "\n"
	unlink := `1 unlinkat(AT_FDCWD</>, "/h/o/new/q1", 0) = 0` + "\n"
	if got := run(link + syncNew + unlink + syncOld); got != "" {
		t.Errorf("a link, the new directory synced, then the unlink: %s", got)
	}
	if got := run(link + unlink + syncNew + syncOld); got != "R9" {
		t.Errorf("a link unlinked before it is durable: got %q, want R9", got)
	}
}
