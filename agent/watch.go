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
// settleMax after its first change all the same. While the queue is
// held for an error in the files, one removed (rm, not renamed away) is
// read once it has settled, without that wait: going back to the
// defaults is a fix, and nothing that the wait would protect is in
// force.
//
// The directories are watched, not the files: editors (vim, emacs,
// sed -i) save by writing a new file and renaming it over the old one,
// whose inode a watch on the file would keep following. A directory that
// does not exist yet is watched through its nearest existing ancestor,
// so that a file created later (mkdir -p ~/.config/homepost) is seen.
// A file that is a symbolic link (GNU stow, yadm, home-manager keep
// config.toml in a dotfiles tree) is watched where it points too: each
// link on the way and the file it ends at, in their directories, so
// that an edit of the target, in place or by rename, is a change of the
// file; after a reload the links are followed anew. A link to nothing
// is followed to where its target would be, and the target's return is
// seen.
//
// A watch on a directory follows the directory, not its path: moved
// away (mv ~/.config/homepost ~/.config/homepost.bak, then a new one
// made), or reached through a symbolic link made to point elsewhere
// (ln -sfn ~/dotfiles/b ~/.config/homepost, as stow and home-manager
// do), it would go on telling the changes of the old one, and the new
// file would never be read. So the path is followed too: the directory
// that holds each watched file, and each symbolic link on the way to it,
// are watched as names in their own directories; one of them made,
// removed or renamed is a change of the files behind it, which are read
// again once they have settled, and the directory's watch is moved to
// the directory now found at the path.
//
// A change may come between the reading and the setting up of the
// watches (an agent started, or a reload made, while the file is
// written): its event then never comes. So each file's identity, size
// and times are noted before it is read (reading), and compared once
// the watches are set up: a file that differs changed meanwhile, and is
// read again once it has settled. The same comparison is made at every
// SIGHUP, flush and request of a waiter, which thus never answers with a
// reading the file no longer has.

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"homepost/config"
	"homepost/forwarder"
	"homepost/settings"
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
	// something at the last reading. via maps what a watched file's
	// symbolic links point to (each link on the way, and the file at
	// the end) to that file.
	files map[string]bool
	full  map[string]bool
	via   map[string]string
	// dirs are the directories added to the watcher; up are missing
	// directories on the way to a watched file, whose ancestor is
	// watched instead.
	dirs map[string]bool
	up   map[string]bool
	// ids are the directories in dirs (device and inode) when their
	// watch was added: another one found at the path later is watched
	// anew. anchors maps each directory that holds a watched file, and
	// each symbolic link on the way to it, to the watched files behind
	// it (see dirAnchors).
	ids     map[string]dirID
	anchors map[string][]string
	// removed are the files whose last event was a removal (unlink),
	// not a rename away or a truncation.
	removed map[string]bool
	// changed are the files changed since the last reading; first and
	// last are when the first and the last change were seen.
	changed     map[string]bool
	first, last time.Time
	// hup is set when a SIGHUP came while the files were changing: the
	// reading after they settle is the one it asked for.
	hup bool
}

// pending reports whether a change waits to be read.
func (c *watch) pending() bool { return !c.first.IsZero() }

// watchFiles (re)makes the list of watched files from the
// configuration, and the watches on their directories.
func (a *Agent) watchFiles(w *fsnotify.Watcher) {
	old := a.watch
	c := watch{files: map[string]bool{}, full: map[string]bool{}, via: map[string]string{}, dirs: map[string]bool{}, up: map[string]bool{},
		ids: map[string]dirID{}, anchors: map[string][]string{}, removed: old.removed,
		changed: old.changed, first: old.first, last: old.last}
	if c.removed == nil {
		c.removed = map[string]bool{}
	}
	var paths []string
	for _, p := range append(forwarder.WatchPaths(a.cfg), config.DefaultPath(a.cfg.Home)) {
		if p == "" {
			continue
		}
		p = filepath.Clean(p)
		c.files[p] = true
		if old.pending() && old.files[p] {
			// Watched anew while a change waits (a directory on the
			// way appeared, moved or was relinked): what the file
			// held is still that of the last reading, which tells
			// whether it is being rewritten (unwritten).
			c.full[p] = old.full[p]
		} else if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			c.full[p] = true
		}
		paths = append(paths, p)
		for _, t := range linkTargets(p) {
			if !c.files[t] && c.via[t] == "" {
				c.via[t] = p
				paths = append(paths, t)
			}
		}
	}
	add := func(d string) error {
		if c.dirs[d] {
			return nil
		}
		// The identity is taken before the watch is added: a directory
		// replaced in between is then told at the next look, never
		// the other way round.
		id := dirIDOf(d)
		if old.dirs[d] && old.ids[d] != id {
			// Another directory is at the path now: the watch
			// still follows the old one, wherever it went (the
			// watcher has dropped it already if it was moved).
			w.Remove(d)
		}
		if err := w.Add(d); err != nil {
			return err
		}
		c.dirs[d], c.ids[d] = true, id
		return nil
	}
	for _, p := range paths {
		owner := p
		if c.via[p] != "" {
			owner = c.via[p]
		}
		for _, q := range dirAnchors(filepath.Dir(p), a.cfg.Home) {
			if !slices.Contains(c.anchors[q], owner) {
				c.anchors[q] = append(c.anchors[q], owner)
			}
			if err := add(filepath.Dir(q)); err != nil {
				a.log.Warn("watch for configuration changes", "dir", filepath.Dir(q), "reason", err)
			}
		}
		for d := filepath.Dir(p); !c.dirs[d]; {
			err := add(d)
			if err == nil {
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
		if !c.dirs[d] && d != a.box.Path("new") && !a.watchesFormer(d) {
			w.Remove(d)
		}
	}
	a.watch = c
	a.checkReading()
}

// maxLinks bounds the symbolic links followed from a watched file, as
// the kernel's own limit (ELOOP) does.
const maxLinks = 40

// linkTargets lists what a watched file's symbolic links point to: each
// link's target in turn (relative ones taken from the link's directory,
// with that directory's own links resolved), up to the file at the end,
// which may not exist (a link to nothing). nil for a file that is no
// link.
func linkTargets(p string) []string {
	var out []string
	for range maxLinks {
		t, err := os.Readlink(p)
		if err != nil {
			return out
		}
		dir := filepath.Dir(p)
		if d, err := filepath.EvalSymlinks(dir); err == nil {
			dir = d
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(dir, t)
		}
		p = filepath.Clean(t)
		if slices.Contains(out, p) {
			return out // a loop
		}
		out = append(out, p)
	}
	return out
}

// dirAnchors lists the paths whose replacement changes which directory
// d is: each symbolic link met on the way to it (with the links and
// ".." in its target followed in turn), and the directory it ends at,
// or the first name on the way that is missing. Each is a name in a
// directory that exists, which is watched for it: its events carry that
// very path. The walk starts at home for a path under it, so that the
// names are those the other watches use, whatever links lie above home;
// home itself, the directories above it and those at the root are left
// out (their replacement is no edit of a configuration). A name that is
// neither a directory nor a link ends the list there.
func dirAnchors(d, home string) []string {
	home = filepath.Clean(home)
	keep := func(q string) bool {
		return q != "/" && filepath.Dir(q) != "/" && q != home && !strings.HasPrefix(home, q+"/")
	}
	split := func(p string) []string { return strings.Split(p, "/") }
	// from starts the walk of an absolute path: at home for a path
	// under it, at the root otherwise.
	from := func(p string) (string, []string) {
		p = filepath.Clean(p)
		if home != "/" && home != "." && strings.HasPrefix(p, home+"/") {
			return home, split(p[len(home)+1:])
		}
		if p == home {
			return home, nil
		}
		return "/", split(p[1:])
	}
	if !filepath.IsAbs(d) {
		return nil
	}
	var out []string
	cur, rest := from(d)
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		fi, err := os.Lstat(next)
		if err != nil {
			if keep(next) {
				out = append(out, next)
			}
			return out
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if !fi.IsDir() {
				return out
			}
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return out // a loop
		}
		if keep(next) && !slices.Contains(out, next) {
			out = append(out, next)
		}
		t, err := os.Readlink(next)
		if err != nil {
			return out
		}
		if filepath.IsAbs(t) {
			var more []string
			cur, more = from(t)
			rest = append(more, rest...)
		} else {
			rest = append(split(t), rest...)
		}
	}
	if keep(cur) && !slices.Contains(out, cur) {
		out = append(out, cur)
	}
	return out
}

// dirID tells a directory from another one found at its path later;
// the zero value when there is none. Its times and size are left out:
// they change with each entry made in it.
type dirID struct{ dev, ino uint64 }

func dirIDOf(d string) dirID {
	id := idOf(os.Stat(d))
	return dirID{id.dev, id.ino}
}

// stamp is what tells whether a file changed between two looks: the
// identity, size and times of the path itself (a link replaced) and of
// what it resolves to (the link's target edited). The times have
// nanoseconds, and a kernel that coarsens them still gives a change
// after a look its own (multigrain timestamps since Linux 6.13); an
// older one could leave a rewrite of the same size within one clock
// tick unseen, whose size or identity does not differ.
type stamp struct{ link, file fileID }

type fileID struct {
	ok           bool
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func idOf(fi os.FileInfo, err error) fileID {
	if err != nil {
		return fileID{}
	}
	id := fileID{ok: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
		id.ctime = time.Unix(st.Ctim.Unix()).UnixNano()
	}
	return id
}

func stampOf(p string) stamp {
	l, lerr := os.Lstat(p)
	f, ferr := os.Stat(p)
	return stamp{link: idOf(l, lerr), file: idOf(f, ferr)}
}

// changed reports when the file last changed (its or its link's
// ctime), the zero time when it is not there.
func (s stamp) changed() time.Time {
	t := max(s.link.ctime, s.file.ctime)
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(0, t)
}

// Reading is the stamps of the files a configuration is read from,
// taken before they are read: the agent compares them once it watches
// the files (checkReading).
type Reading struct {
	stamps  map[string]stamp
	checked bool
}

// StartReading notes the stamp of the configuration file that
// config.Load is about to read; Options.Reading takes it to the agent.
// nil when the user cannot be told (config.Load then fails too).
func StartReading() *Reading {
	id, err := settings.CurrentUser()
	if err != nil {
		return nil
	}
	r := &Reading{stamps: map[string]stamp{}}
	r.note(config.DefaultPath(id.Home()))
	return r
}

// note adds the stamp of a file about to be read, unless one is noted.
func (r *Reading) note(p string) {
	if p == "" {
		return
	}
	p = filepath.Clean(p)
	if _, ok := r.stamps[p]; !ok {
		r.stamps[p] = stampOf(p)
	}
}

// checkReading marks the watched files that changed since the last
// reading noted them, which no event will tell any more: they are read
// again once they have settled. Once per reading, when the watches are
// set up after it (later changes come as events); recheck does it again
// on request.
func (a *Agent) checkReading() {
	r := a.reading
	if r == nil || r.checked {
		return
	}
	r.checked = true
	a.recheck("changed while it was read")
}

// recheck marks the watched files whose stamp differs from the one noted
// before the last reading, and not marked yet; why goes to the log.
func (a *Agent) recheck(why string) bool {
	r := a.reading
	if r == nil {
		return false
	}
	found := false
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range r.stamps {
			if !yield(p) {
				return
			}
		}
	}) {
		if !a.watch.files[p] || a.watch.changed[p] {
			continue
		}
		if stampOf(p) != r.stamps[p] {
			a.log.Info("configuration file "+why+": read again once it has settled", "file", p)
			a.watch.mark(p)
			found = true
		}
	}
	return found
}

// eventsLost takes an error of the watcher, an overflow of the
// kernel's queue of events above all (a burst of mail while a long
// batch kept the loop from taking them). The events lost may be mail's
// in new/, which the next drain reads itself, and in a former outbox's
// new/, looked at again (migrate); or a change of config.toml, the
// aliases or .forward, which no later event would tell: the files'
// stamps are compared with those of the last reading, as at a SIGHUP,
// and a change found is read once it has settled.
func (a *Agent) eventsLost(err error) {
	// An overflow loses nothing (all is looked at again): said so, at
	// INFO, as the burst of mail that causes it is no fault; another
	// error of the watcher is a warning.
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		a.log.Info("watch outbox", "reason", err, "note", "nothing is lost: the outbox and the watched files are looked at again")
	} else {
		a.log.Warn("watch outbox", "reason", err)
	}
	a.look = true
	a.mv.look = a.mv.look || len(a.mv.former) > 0
	a.recheck("changed while events were lost")
}

// event takes one event of the watcher: mail in new/, or a change of a
// watched file, of a directory on the way to one that did not exist, or
// of the directory that holds one or a link on the way to it.
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
		c.noteRemoval(name, ev)
	case c.via[name] != "":
		// The target of a symbolic link, or a link on the way.
		c.mark(c.via[name])
		c.noteRemoval(c.via[name], ev)
	case c.up[name] || c.anchors[name] != nil && ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0:
		// A missing directory appeared (or went), or a directory on
		// the way to watched files, or a link to one, was made anew,
		// moved or removed: watch what exists now. The files behind it
		// that are there, or held something, changed. A file made in
		// a new directory before its watch was added was not seen: it
		// is a change of its own.
		// Marked before the watches are made anew, which keep what
		// the files held at the last reading while a change waits.
		for _, f := range c.anchors[name] {
			if _, err := os.Stat(f); err == nil || c.full[f] {
				c.mark(f)
			}
		}
		a.watchFiles(w)
		c = &a.watch
		for f := range c.files {
			if strings.HasPrefix(f, name+"/") {
				if _, err := os.Lstat(f); err == nil {
					c.mark(f)
				}
			}
		}
		for t, f := range c.via {
			if strings.HasPrefix(t, name+"/") {
				if _, err := os.Lstat(t); err == nil {
					c.mark(f)
				}
			}
		}
	}
}

// noteRemoval notes whether the event is file f's removal (unlink), as
// opposed to a rename away, a truncation or a creation.
func (c *watch) noteRemoval(f string, ev fsnotify.Event) {
	if ev.Op&fsnotify.Remove != 0 && ev.Op&fsnotify.Create == 0 {
		c.removed[f] = true
	} else {
		delete(c.removed, f)
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
	} else if f := c.unwritten(a.held != nil); f != "" {
		if now.Before(limit) {
			return limit
		}
		a.log.Warn("a watched file is still empty or missing after the wait for it to be rewritten: read as it is", "file", f, "waited", settleMax)
	}
	cfgFile := filepath.Clean(config.DefaultPath(a.cfg.Home))
	local := c.hup
	for _, f := range names {
		local = local || f != cfgFile
	}
	why := "file changed: " + strings.Join(names, ",")
	if c.hup {
		why = "SIGHUP, once the files settled: " + strings.Join(names, ",")
	}
	a.watch.first, a.watch.changed, a.watch.hup = time.Time{}, nil, false
	a.reload(why, local, c.hup)
	a.watchFiles(w)
	a.look = true // mail that came meanwhile
	return time.Time{}
}

// unwritten returns a changed file that held something at the last
// reading and is now empty or gone: most likely being rewritten. held
// says that the queue is held for an error in the files: one removed
// then is not waited for (see above).
func (c *watch) unwritten(held bool) string {
	for f := range c.changed {
		if !c.full[f] {
			continue
		}
		st, err := os.Stat(f)
		if err != nil && held && c.removed[f] {
			continue
		}
		if err != nil || st.Size() == 0 {
			return f
		}
	}
	return ""
}

// hupWaits reports whether a SIGHUP's reading waits for the files to
// settle: a change is waiting already, or a watched file changed within
// settleConfig (a tool's write just before "systemctl reload"); the
// change is marked, and read once settled as a change is (settleChanges),
// with the SIGHUP's reasons. Otherwise SIGHUP reads at once.
func (a *Agent) hupWaits(w *fsnotify.Watcher) bool {
	a.takeEvents(w)
	a.recheck("changed since it was read")
	c := &a.watch
	now := time.Now()
	for _, f := range c.watched() {
		if t := stampOf(f).changed(); !t.IsZero() && now.Sub(t) < settleConfig {
			owner := f
			if c.via[f] != "" {
				owner = c.via[f]
			}
			if !c.changed[owner] {
				c.mark(owner)
			}
		}
	}
	if !c.pending() {
		return false
	}
	c.hup = true
	a.log.Info("SIGHUP: configuration files are changing: read once they have settled", "files", strings.Join(slices.Sorted(maps.Keys(c.changed)), ","), "settle", settleConfig)
	return true
}

// watched lists the watched files and what their links point to.
func (c *watch) watched() []string {
	out := slices.Collect(maps.Keys(c.files))
	for t := range c.via {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// awaitQuiet waits, for a SIGHUP of a one-shot delivery (which watches
// nothing), until no file of the configuration has changed for
// settleConfig, up to settleMax: the same rule as the daemon's, read
// from the files' times.
func (a *Agent) awaitQuiet() {
	paths := append(forwarder.WatchPaths(a.cfg), config.DefaultPath(a.cfg.Home))
	for _, p := range slices.Clone(paths) {
		paths = append(paths, linkTargets(p)...)
	}
	deadline := time.Now().Add(settleMax)
	logged := false
	for {
		var latest time.Time
		for _, p := range paths {
			if p != "" {
				if t := stampOf(p).changed(); t.After(latest) {
					latest = t
				}
			}
		}
		wait := time.Until(latest.Add(settleConfig))
		if wait <= 0 || time.Now().After(deadline) {
			return
		}
		if !logged {
			a.log.Info("SIGHUP: configuration files are changing: read once they have settled", "settle", settleConfig)
			logged = true
		}
		time.Sleep(min(wait, time.Until(deadline)+time.Millisecond))
	}
}
