package mailx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"homepost/maildir"
	"homepost/safeio"
	hpsettings "homepost/settings"
)

// fate is what quit does with one message.
type fate int

const (
	keep   fate = iota // stays in the mailbox
	remove             // deleted, or saved from the system mailbox
	toMbox             // appended to ~/mbox, then removed
)

// fateOf applies the mailx rules: deleted messages go; in the system
// mailbox, saved ones go too (unless keepsave), mb-marked ones move to
// ~/mbox, and read ones move there only when hold is unset. Everything
// else — unread, preserved, and any message of another folder (-f) —
// stays.
func (s *session) fateOf(m *Msg) fate {
	switch {
	case m.has(fDeleted) && m.has(fTrashed):
		// Marked deleted by another reader (Maildir T), which
		// leaves its removal to that reader's purge: kept.
		return keep
	case m.has(fDeleted):
		return remove
	case !s.box.System:
		return keep
	case m.has(fMbox):
		return s.toMbox()
	case m.has(fPreserved):
		return keep
	case m.has(fSaved) && !s.set.isSet("keepsave"):
		return remove
	case m.has(fTouched) && !s.set.isSet("hold"):
		return s.toMbox()
	}
	return keep
}

// toMbox is the fate of a message bound for MBOX: kept where MBOX is
// the mailbox itself (store = "mbox:~/mbox"), which a move would only
// append to its own end.
func (s *session) toMbox() fate {
	if s.mboxIsBox {
		return keep
	}
	return toMbox
}

// cmdQuit applies the session's changes and ends it.
func (s *session) cmdQuit(string) error {
	s.quit = true
	if err := s.apply(); err != nil {
		s.warn("%v", err)
		s.code = exTempFail
	}
	return nil
}

// apply writes the session's changes to the mailbox: messages bound
// for ~/mbox are appended there first (a crash then leaves a copy in
// both, never in neither), then the mailbox is updated. For an mbox
// mailbox the appends are made under the mailbox's locks, once it is
// known to be unchanged since it was read (maildir.Mbox.RewriteWith):
// when another reader rewrote it meanwhile, the rewrite is refused,
// and a move made before would have left the messages in both, to be
// moved again by the next quit.
func (s *session) apply() error {
	if s.box.ReadOnly {
		// Nothing to write, and no right to: as mailx, quit
		// leaves a read-only mailbox as it is.
		return nil
	}
	s.mboxIsBox = s.box.System && hpsettings.SameFile(s.mboxPath(), s.box.Path)
	var moved, held int
	var toMove []*Msg
	for _, m := range s.box.Msgs {
		switch s.fateOf(m) {
		case toMbox:
			toMove = append(toMove, m)
		case keep:
			held++
		}
	}
	// note is the note of the move (see appendnote.go), kept until the
	// messages are gone from the mailbox.
	var note string
	move := func() error {
		if len(toMove) == 0 {
			return nil
		}
		mbox := s.mboxPath()
		var to *appender
		if !maildir.IsMaildir(mbox) {
			// One lock and one note for all the messages.
			var err error
			if to, err = s.openAppender(mbox); err != nil {
				return fmt.Errorf("%s: %w; the mailbox is left unchanged", mbox, err)
			}
			src, err := filepath.Abs(s.box.Path)
			if err != nil {
				to.close()
				return fmt.Errorf("%s: %w; the mailbox is left unchanged", s.box.Path, err)
			}
			to.from = &noteSource{Kind: s.box.Kind, Path: src}
			defer func() { note, _ = to.close() }()
		}
		for _, m := range toMove {
			if to != nil {
				to.src, to.dups = s.box.moveID(m)
			}
			// The copy keeps the message's state: read ones are
			// read in MBOX, none is new.
			_, _, err := s.appendMessage(to, m, mbox, newStatus(m))
			if errors.Is(err, errRemoved) {
				// Another reader removed it from the Maildir
				// meanwhile: nothing to move. Stopping here
				// would leave the messages moved before it in
				// both, to be moved again by the next quit.
				s.warn("message %d: %s is gone (removed by another program); not moved", m.Num, m.entry().Key())
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w; this message and the ones after it are not moved", mbox, err)
			}
			moved++
		}
		if to != nil {
			// Every copy fsynced: from here on the next start
			// completes the move if this mail is stopped.
			return to.whole()
		}
		return nil
	}
	var err error
	var arrived int
	if s.box.Kind == "maildir" {
		if err = move(); err == nil {
			s.gone = 0
			err = s.applyMaildir()
			held -= s.gone // not held: another program removed them
		}
	} else {
		arrived, err = s.applyMbox(move)
	}
	if note != "" {
		if err != nil {
			// Their copies are in MBOX: the move is completed
			// now (the mailbox's locks are free again), so that
			// a quit made again does not copy them twice; if it
			// cannot be, the note stays for the next start.
			s.settleMove(note)
			if _, serr := os.Lstat(note); serr == nil {
				return fmt.Errorf("%w; the messages moved to %s are removed from the mailbox when mail next starts", err, s.mboxPath())
			}
			return err
		}
		// The mailbox no longer holds them, durably: its rewrite
		// is fsynced (or its record is, which the next program
		// that locks it finishes), its removals from the Maildir
		// too. The removal need not be durable: a note a power
		// loss brings back finds nothing left to remove.
		os.Remove(note)
	}
	if err != nil {
		return err
	}
	if moved > 0 {
		fmt.Fprintf(s.out, "Saved %d %s in %s\n", moved, plural(moved, "message"), s.mboxPath())
	}
	if held > 0 {
		fmt.Fprintf(s.out, "Held %d %s in %s\n", held, plural(held, "message"), s.box.Path)
	}
	if arrived > 0 {
		fmt.Fprintln(s.out, "New mail has arrived.")
	}
	return nil
}

// applyMaildir renames and removes files: a kept message goes to cur/
// with its info flags updated (S when read, R when answered), its file
// first replaced by the edited text if it was edited; a removed one is
// unlinked.
//
// A message in new/ is moved to cur/ by a link, and its name in new/
// is removed only once cur/ is fsynced: a rename would take the name
// out of new/ at once, and another program's fsync of new/ (the
// agent's, after each delivery) could make that removal durable before
// cur/ held the new name, which a power loss on ext4 without a journal
// would leave in neither directory. A crash between the two leaves the
// file under both names, which the next listing shows once (staleName).
// Both directories are fsynced at the end.
func (s *session) applyMaildir() error {
	d := maildir.Dir(s.box.Path)
	var errs []error
	dirty := false
	stale := map[*Msg][]maildir.Entry{}
	for _, st := range s.box.stale {
		stale[st.m] = append(stale[st.m], st.e)
	}
	// linked are the messages given a name in cur/ whose name in new/
	// is left to remove, with that name.
	type link struct {
		m   *Msg
		old maildir.Entry
	}
	var linked []link
	for _, m := range s.box.Msgs {
		f := s.fateOf(m)
		if f != keep {
			err := d.Remove(m.entry())
			if errors.Is(err, os.ErrNotExist) && s.box.relocate(m) {
				err = d.Remove(m.entry())
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			for _, e := range stale[m] {
				if err := d.Remove(e); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
			dirty = true
			continue
		}
		if m.has(fEdited) {
			if err := s.box.writeBackMaildir(m); err != nil {
				errs = append(errs, err)
			} else {
				dirty = true
			}
		}
		info := m.entry().Info()
		if m.has(fRead) || m.has(fSeen) {
			info = maildir.AddFlag(info, maildir.FlagSeen)
		} else {
			info = maildir.DropFlag(info, maildir.FlagSeen)
		}
		if m.has(fReplied) {
			info = maildir.AddFlag(info, maildir.FlagReplied)
		}
		if m.has(fTrashed) && !m.has(fDeleted) {
			// Undeleted: no longer trashed for other readers.
			info = maildir.DropFlag(info, maildir.FlagTrashed)
		}
		from := m.entry()
		to, err := toCur(d, from, info)
		if err == nil && to == from {
			continue
		}
		if errors.Is(err, os.ErrNotExist) && s.box.relocate(m) {
			// Another client renamed it: keep its flags, add ours.
			info = m.entry().Info()
			if m.has(fRead) {
				info = maildir.AddFlag(info, maildir.FlagSeen)
			}
			if m.has(fReplied) {
				info = maildir.AddFlag(info, maildir.FlagReplied)
			}
			if m.has(fTrashed) && !m.has(fDeleted) {
				// Undeleted here, as above: kept trashed, the
				// other reader's purge would remove it.
				info = maildir.DropFlag(info, maildir.FlagTrashed)
			}
			from = m.entry()
			to, err = toCur(d, from, info)
		}
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				// Neither at its name nor under its unique
				// part in new/ or cur/: another client
				// removed it.
				s.warn("message %d: %s is gone (removed by another program)", m.Num, m.entry().Key())
				s.gone++
			} else {
				errs = append(errs, err)
			}
			continue
		}
		if from.New && to != from {
			linked = append(linked, link{m, from})
		}
		m.setEntry(to)
		dirty = true
	}
	if len(linked) > 0 || len(stale) > 0 {
		// Every name in cur/ durable before any leaves new/.
		if err := safeio.SyncDir(filepath.Join(string(d), "cur")); err != nil {
			errs = append(errs, err)
			return errors.Join(errs...)
		}
		if beforeLeavingNew != nil {
			beforeLeavingNew()
		}
		for _, l := range linked {
			if err := d.Remove(l.old); errors.Is(err, os.ErrNotExist) {
				s.dropTwins(d, l.m)
			} else if err != nil {
				errs = append(errs, err)
			}
		}
		for m, es := range stale {
			if s.fateOf(m) != keep {
				continue
			}
			for _, e := range es {
				// Only while it still names the message's file.
				if sameFile(d.Path(e), d.Path(m.entry())) {
					if err := d.Remove(e); err != nil && !errors.Is(err, os.ErrNotExist) {
						errs = append(errs, err)
					}
				}
			}
		}
		dirty = true
	}
	s.box.stale = nil
	if dirty {
		if err := d.SyncDirs(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// beforeLeavingNew, when set, runs between the fsync of cur/ and the
// removals from new/ at quit: a test's other reader, which renames a
// file there as Dovecot would.
var beforeLeavingNew func()

// toCur gives the message at e the info flags info in cur/: a file in
// cur/ is renamed there (maildir.Dir.SetInfo), one in new/ is linked
// into cur/, and its name in new/ is the caller's to remove once cur/
// is durable. A name in cur/ that already is the same file (a quit
// stopped between its link and its unlink) is taken as the link.
func toCur(d maildir.Dir, e maildir.Entry, info string) (maildir.Entry, error) {
	if !e.New {
		return d.SetInfo(e, info)
	}
	to := maildir.Entry{File: e.Key() + ":2," + sortedFlags(info)}
	err := os.Link(d.Path(e), d.Path(to))
	if errors.Is(err, os.ErrExist) && sameFile(d.Path(e), d.Path(to)) {
		err = nil
	}
	if err != nil {
		return e, err
	}
	return to, nil
}

// dropTwins is for a message linked into cur/ whose name in new/ was
// gone when quit came to remove it: another reader moved it meanwhile
// (dovecot moves all of new/ to cur/ when a client selects the
// mailbox). Its other names for the same file are removed, their
// flags added to the name in cur/, so that the message is not shown
// twice. The name in cur/ is durable: removing the others cannot leave
// the file without one.
func (s *session) dropTwins(d maildir.Dir, m *Msg) {
	entries, err := d.List()
	if err != nil {
		return
	}
	ours := m.entry()
	info := ours.Info()
	for _, e := range entries {
		if e == ours || e.Key() != ours.Key() || !sameFile(d.Path(e), d.Path(ours)) {
			continue
		}
		if err := d.Remove(e); err == nil {
			for _, f := range e.Info() {
				info = maildir.AddFlag(info, maildir.Flag(f))
			}
		}
	}
	if to, err := d.SetInfo(ours, info); err == nil {
		m.setEntry(to)
	}
}

// sortedFlags is an info part's flags in ASCII order, each once, as
// the Maildir spec writes them.
func sortedFlags(info string) string {
	b := []byte(info)
	slices.Sort(b)
	return string(slices.Compact(b))
}

// sameFile reports whether the paths a and b name one file.
func sameFile(a, b string) bool {
	sa, err := os.Lstat(a)
	if err != nil {
		return false
	}
	sb, err := os.Lstat(b)
	return err == nil && os.SameFile(sa, sb)
}

// cmdFolder switches to another mailbox after applying this one's
// changes, or describes the current one.
func (s *session) cmdFolder(arg string) error {
	if arg == "" {
		s.banner()
		return nil
	}
	path := s.expandFolder(arg)
	kind := "mbox"
	if maildir.IsMaildir(path) {
		kind = "maildir"
	}
	sysKind, sysPath := s.systemMailbox()
	system := kind == sysKind && filepath.Clean(path) == filepath.Clean(sysPath)
	box, err := openBox(kind, path, system)
	if err != nil {
		return mailboxError(err)
	}
	if err := s.apply(); err != nil {
		box.Close()
		return err
	}
	s.box.Close()
	s.box = box
	s.shown = false
	s.setDot()
	s.banner()
	if len(box.Msgs) > 0 {
		s.headers(s.dot)
	}
	return nil
}

// cmdFolders lists the folder directory.
func (s *session) cmdFolders(string) error {
	entries, err := os.ReadDir(s.folderDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		fmt.Fprintln(s.out, e.Name())
	}
	return nil
}
