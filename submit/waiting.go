package submit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"homepost/agentlock"
	"homepost/outbox"
	"homepost/safeio"
	"homepost/settings"
)

// Where no systemd runs the agent, deferred mail must not wait for the
// next message to be sent: after a reboot, or once a background
// delivery was killed, nothing would retry it. So every command that
// finds mail waiting and no agent (mailq, homepost check, flush, mail,
// resolve, newaliases, queue release) starts the background delivery
// through WakeWaiting, as sendmail does after each message through Wake.

// WakeWaiting starts the background delivery (Wake) when no agent runs
// and the outbox holds mail that is not on hold. It reports whether it
// asked for one. Like Wake it does nothing when deliver_without_agent is
// off. A command whose configuration does not load does not call it:
// the delivery would only hold the queue, and the command says so.
func WakeWaiting(cfg *settings.Config) bool {
	if !cfg.DeliverWithoutAgent {
		return false
	}
	if _, running := agentlock.Running(cfg.LockPath()); running {
		return false
	}
	if !Waiting(cfg) {
		return false
	}
	return Wake(cfg)
}

// Waiting reports whether the outbox holds a message that is not on
// hold: anything in new/, or a message in cur/ (claimed, deferred, or
// left by a crash) with a recipient still to do.
func Waiting(cfg *settings.Config) bool {
	box := outbox.Dir(cfg.Outbox)
	if names, _ := box.Names("new"); len(names) > 0 {
		return true
	}
	names, _ := box.Names("cur")
	for _, n := range names {
		m, err := outbox.Open(box.Path("cur", n))
		if err != nil {
			continue // delivered meanwhile, or unreadable: not ours to wake for
		}
		waiting := !m.Env.Held && !m.Env.Done()
		m.Close()
		if waiting {
			return true
		}
	}
	return false
}

// Stranded returns an outbox other than the configured one that holds
// queued mail (new/ or cur/), and how many messages: mail queued before
// outbox or state_dir was changed, which no agent delivers any more. It
// looks where the configuration would have put the outbox without those
// keys (settings.Config.OtherOutboxes), and in the outboxes a running
// agent followed a move from (FormerOutboxes): it moves their mail into
// the new outbox, but one it could not move (another file system), or
// whose move a kill cut short, is found there.
//
// An outbox is told from the configured one by the directory's identity,
// not by its path: the configured outbox named anew by another path to
// the same directory (a symbolic link, a bind mount) is the live queue.
func Stranded(cfg *settings.Config) (dir string, n int) {
	dirs := cfg.OtherOutboxes()
	for _, d := range FormerOutboxes(cfg) {
		if !slices.Contains(dirs, d) && filepath.Clean(d) != filepath.Clean(cfg.Outbox) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if SameDir(d, cfg.Outbox) {
			continue
		}
		box := outbox.Dir(d)
		k := 0
		for _, sub := range []string{"new", "cur"} {
			names, _ := box.Names(sub)
			k += len(names)
		}
		if k > 0 {
			return d, k
		}
	}
	return "", 0
}

// SameDir reports whether the paths a and b name one directory (the
// same device and inode): an outbox named through a symbolic link or a
// bind mount is the same outbox. false when either cannot be read.
func SameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino && sa.Mode&syscall.S_IFMT == syscall.S_IFDIR
}

// formerFile lists, in state_dir, the outboxes that an agent followed a
// move from, one a line: "OUTBOX\tSTATE_DIR", STATE_DIR being the
// state_dir whose lock guarded OUTBOX (an agent that finishes the move
// takes it); a line of an older homepost holds OUTBOX alone.
func formerFile(cfg *settings.Config) string { return filepath.Join(cfg.StateDir, "outbox.former") }

// maxFormer bounds the list: the most recent moves are kept.
const maxFormer = 16

// Former is an outbox that an agent followed a move from.
type Former struct {
	Outbox string
	// StateDir is the state_dir whose lock guarded the outbox; "" when
	// not recorded (an older homepost, a path with a tab).
	StateDir string
}

// Formers reads the outboxes that an agent followed a move from.
func Formers(cfg *settings.Config) []Former {
	b, err := os.ReadFile(formerFile(cfg))
	if err != nil {
		return nil
	}
	var out []Former
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		var f Former
		if box, sd, ok := strings.Cut(l, "\t"); ok && filepath.IsAbs(sd) && !strings.Contains(sd, "\t") {
			f = Former{Outbox: box, StateDir: filepath.Clean(sd)}
		} else {
			f.Outbox = l
		}
		if filepath.IsAbs(f.Outbox) {
			f.Outbox = filepath.Clean(f.Outbox)
			out = append(out, f)
		}
	}
	return out
}

// FormerOutboxes reads the outboxes that an agent followed a move from.
func FormerOutboxes(cfg *settings.Config) []string {
	var out []string
	for _, f := range Formers(cfg) {
		out = append(out, f.Outbox)
	}
	return out
}

// RecordFormer adds dir to the outboxes followed from, in cfg's
// state_dir, before the agent moves anything out of it (a kill in the
// middle of the move leaves mail there that Stranded must find, and the
// next agent moves). stateDir is the state_dir whose lock guarded dir.
// The configured outbox itself is dropped from the list: it is
// delivered. The file is replaced atomically and made durable.
func RecordFormer(cfg *settings.Config, dir, stateDir string) error {
	if strings.Contains(dir, "\n") || !filepath.IsAbs(dir) {
		return fmt.Errorf("outbox %q: not a path that can be recorded", dir)
	}
	line := func(f Former) string {
		if f.StateDir == "" || strings.ContainsAny(f.StateDir, "\t\n") || strings.Contains(f.Outbox, "\t") {
			return f.Outbox
		}
		return f.Outbox + "\t" + f.StateDir
	}
	first := Former{Outbox: filepath.Clean(dir)}
	if filepath.IsAbs(stateDir) {
		first.StateDir = filepath.Clean(stateDir)
	}
	list := []string{line(first)}
	seen := []string{filepath.Clean(dir)}
	for _, f := range Formers(cfg) {
		if !slices.Contains(seen, f.Outbox) && !SameDir(f.Outbox, cfg.Outbox) {
			seen = append(seen, f.Outbox)
			list = append(list, line(f))
		}
	}
	list = list[:min(len(list), maxFormer)]
	if err := safeio.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	return safeio.WriteFile(formerFile(cfg), []byte(strings.Join(list, "\n")+"\n"), 0o600)
}

// StrandedAdvice says what to do with mail left in the outbox dir when
// to is the configured one. The agent's log, mailq and check all give
// these words. A running agent (or a background delivery that a
// sendmail starts when none runs) claims a file in new/ as soon as its
// name appears there, and a mv to another file system makes the name
// first and copies into it: the half-written file was taken as torn and
// set aside. So each file goes into to's tmp/ first, then is renamed
// into place, which makes it appear whole; and cur/ files, whose
// journal says which recipients are done, go into cur/, as the agent
// moves them itself (agent/move.go), so that none is delivered twice.
func StrandedAdvice(dir, to string) string {
	return fmt.Sprintf("stop the agent first (systemctl --user stop homepost, or kill the pid that homepost check names), then move each file of %s/cur/ into %s/tmp/ and from there rename it into %s/cur/, and each of %s/new/ likewise by way of %s/tmp/ into %s/new/ (a file must appear in cur/ or new/ whole, by a rename, never be copied there); or set outbox back",
		dir, to, to, dir, to, to)
}

// SetAside returns the directory of queue files that a delivery set
// aside (unreadable, a torn seal, another user's file) and how many it
// holds: each holds mail that was never delivered, which nothing will
// deliver, so mailq and check report them.
func SetAside(cfg *settings.Config) (dir string, n int) {
	dir = filepath.Join(cfg.StateDir, "corrupt")
	ents, _ := os.ReadDir(dir)
	// Anything there counts: the agent sets aside a directory or a
	// FIFO found in the outbox too, and nothing in corrupt/ is deleted.
	return dir, len(ents)
}

// SetAsideAdvice says what to do with the files set aside in dir when
// to is the configured outbox.
func SetAsideAdvice(dir, to string) string {
	return fmt.Sprintf("each holds mail that was never delivered (the agent's log says why it was set aside): a file that is whole now (one caught while it was still being copied) is delivered once moved into %s/tmp/ and from there renamed into %s/new/; read and remove the others", to, to)
}
