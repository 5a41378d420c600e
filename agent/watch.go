package agent

// The daemon watches config.toml and the files that steer forwarding
// (aliases, :include: files, .forward) and takes a change up without a
// restart. A file is not written in one instant: a shell's "> f" then
// ">> f", an editor that truncates and then writes, a script that writes
// line by line all leave it half written for a moment, and an empty
// config.toml is a valid configuration of defaults (mail to ~/Maildir,
// no smarthost). So a change is read only once the files have settled:
// no event for settleConfig. Until then the agent starts no delivery (a
// batch under way finishes with the configuration it began with), and
// mail that comes meanwhile waits in the queue. A file that was
// non-empty at the last reading and is now empty or gone is waited for
// up to settleMax from the first change, since it is most likely being
// rewritten (truncated, or moved away to be replaced); past that it is
// read as it is, and the log says so. A file that keeps changing is read
// settleMax after its first change all the same.
//
// The directories are watched, not the files: editors (vim, emacs,
// sed -i) save by writing a new file and renaming it over the old one,
// whose inode a watch on the file would keep following. A directory that
// does not exist yet is watched through its nearest existing ancestor,
// so that a file created later (mkdir -p ~/.config/homepost) is seen.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"homepost/config"
	"homepost/forwarder"
)

// settleConfig is how long the watched files must be quiet before a
// change is read, and settleMax bounds the wait from the first change
// (see above). Measured with inotify on the development machine, one
// save takes well under settleConfig from its first event to its last:
// a shell's "> f" then ">> f" 0.7 ms, sed -i 0.5 ms, vim 1.6 ms (2.8 ms
// with backupcopy=yes, which truncates and writes in place). 500 ms
// leaves room for a loaded machine, a slow disk or a script that pauses
// between its writes, and delays mail that comes during an edit by no
// more than that. A file emptied or removed is waited for up to
// settleMax: a truncation followed by a write a second or two later (a
// program that builds the text meanwhile) is read whole.
const (
	settleConfig = 500 * time.Millisecond
	settleMax    = 5 * time.Second
)

// watch is what the daemon watches besides the outbox, and the change
// seen but not yet read.
type watch struct {
	// files are the watched files; full is set for those that held
	// something at the last reading.
	files map[string]bool
	full  map[string]bool
	// dirs are the directories added to the watcher; up are missing
	// directories on the way to a watched file, whose ancestor is
	// watched instead.
	dirs map[string]bool
	up   map[string]bool
	// changed are the files changed since the last reading; first and
	// last are when the first and the last change were seen.
	changed     map[string]bool
	first, last time.Time
}

// pending reports whether a change waits to be read.
func (c *watch) pending() bool { return !c.first.IsZero() }

// watchFiles (re)makes the list of watched files from the
// configuration, and the watches on their directories.
func (a *Agent) watchFiles(w *fsnotify.Watcher) {
	old := a.watch
	c := watch{files: map[string]bool{}, full: map[string]bool{}, dirs: map[string]bool{}, up: map[string]bool{},
		changed: old.changed, first: old.first, last: old.last}
	for _, p := range append(forwarder.WatchPaths(a.cfg), config.DefaultPath(a.cfg.Home)) {
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		c.files[p] = true
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			c.full[p] = true
		}
		for d := filepath.Dir(p); !c.dirs[d]; {
			err := w.Add(d)
			if err == nil {
				c.dirs[d] = true
				break
			}
			parent := filepath.Dir(d)
			if !errors.Is(err, fs.ErrNotExist) || parent == d {
				a.log.Warn("watch for configuration changes", "dir", d, "reason", err)
				break
			}
			c.up[d] = true
			d = parent
		}
	}
	for d := range old.dirs {
		if !c.dirs[d] && d != a.box.Path("new") {
			w.Remove(d)
		}
	}
	a.watch = c
}

// event takes one event of the watcher: mail in new/, or a change of a
// watched file (or of a directory on the way to one that did not exist).
func (a *Agent) event(w *fsnotify.Watcher, ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	if filepath.Dir(name) == a.box.Path("new") {
		a.look = a.look || ev.Op&fsnotify.Create != 0
		return
	}
	if a.watchesFormer(filepath.Dir(name)) {
		// Queued by a sendmail that read the configuration before
		// the outbox moved: moved into the outbox (move.go).
		a.mv.look = a.mv.look || ev.Op&fsnotify.Create != 0
		return
	}
	c := &a.watch
	switch {
	case c.files[name]:
		c.mark(name)
	case c.up[name]:
		// A missing directory appeared (or went): watch what exists
		// now. A file made in it before its watch was added was not
		// seen: it is a change of its own.
		a.watchFiles(w)
		c = &a.watch
		for f := range c.files {
			if strings.HasPrefix(f, name+"/") {
				if _, err := os.Lstat(f); err == nil {
					c.mark(f)
				}
			}
		}
	}
}

// mark records a change of file f.
func (c *watch) mark(f string) {
	now := time.Now()
	if c.first.IsZero() {
		c.first = now
		c.changed = map[string]bool{}
	}
	c.last = now
	c.changed[f] = true
}

// takeEvents takes the events already waiting: those of a batch's time
// hold the next batch when they are a change of the configuration, and
// one listing of new/ takes up every message they announce.
func (a *Agent) takeEvents(w *fsnotify.Watcher) {
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			a.event(w, ev)
		default:
			return
		}
	}
}

// settleChanges reads the changed files once they have settled. It
// returns when to look again, or the zero time when no change waits.
func (a *Agent) settleChanges(w *fsnotify.Watcher, now time.Time) time.Time {
	c := &a.watch
	if !c.pending() {
		return time.Time{}
	}
	limit := c.first.Add(settleMax)
	quiet := c.last.Add(settleConfig)
	names := slices.Sorted(func(yield func(string) bool) {
		for f := range c.changed {
			if !yield(f) {
				return
			}
		}
	})
	if now.Before(quiet) {
		if now.Before(limit) {
			if quiet.After(limit) {
				return limit
			}
			return quiet
		}
		a.log.Warn("configuration files keep changing: read as they are now", "files", strings.Join(names, ","), "waited", settleMax)
	} else if f := c.unwritten(); f != "" {
		if now.Before(limit) {
			return limit
		}
		a.log.Warn("a watched file is still empty or missing after the wait for it to be rewritten: read as it is", "file", f, "waited", settleMax)
	}
	cfgFile := filepath.Clean(config.DefaultPath(a.cfg.Home))
	local := false
	for _, f := range names {
		local = local || f != cfgFile
	}
	a.watch.first, a.watch.changed = time.Time{}, nil
	a.reload("file changed: "+strings.Join(names, ","), local)
	a.watchFiles(w)
	a.look = true // mail that came meanwhile
	return time.Time{}
}

// unwritten returns a changed file that held something at the last
// reading and is now empty or gone: most likely being rewritten.
func (c *watch) unwritten() string {
	for f := range c.changed {
		if !c.full[f] {
			continue
		}
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			return f
		}
	}
	return ""
}
