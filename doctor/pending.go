package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"homepost/config"
	"homepost/maildir"
)

// checkPending names what a crash of mail left for the next homepost
// program to finish, which another program must not get to first:
//
//   - the record of an mbox rewrite that a crash stopped part way
//     (complete, not yet applied): the mbox may be half rewritten, and
//     the next homepost program that locks it (mail, a delivery)
//     finishes the rewrite. mutt and s-nail do not know of the record:
//     if one of them quits on that mbox first, it rewrites the torn file
//     as it finds it (messages twice, one cut off), and the record can
//     then only be set aside. So the warning comes with what to do
//     before opening it with them: mail -H, or a delivery.
//   - a note of mail's appends (an append to ~/mbox at quit, save, copy,
//     the record of sent mail) left by a mail that was killed: the last
//     copy may be cut off at the end of the file, which the next mail
//     that reads mail checks and cuts back.
//
// check only reads: it does not lock the mbox to finish a rewrite, as
// every homepost program that locks it does. Finishing it means writing
// the mbox, and taking its locks, which a running mutt or s-nail may
// hold: nothing for a diagnosis to do behind the user's back, and
// opening it with mail -H does it in the user's sight. Records are
// looked for where check looks for those set aside (mboxPlaces), and
// notes in the state directory.
func checkPending(c *checker, cfg *config.Config) {
	dirs, mboxes := mboxPlaces(cfg)
	kind, store := cfg.StoreKind()
	if kind == "maildir" {
		store = ""
	}
	for _, p := range pendingRewrites(dirs, mboxes) {
		c.warn("mbox", "%s", p.advice(store))
	}
	if cfg.StateDir != "" {
		checkAppendNotes(c, filepath.Join(cfg.StateDir, "mail-appends"))
	}
}

// pendingRewrite is the record of an mbox rewrite that a crash stopped
// and no homepost program has finished yet.
type pendingRewrite struct {
	record string
	mbox   string // "" when not known
	// other: mbox is no longer the file the rewrite was made for
	// (replaced or removed since).
	other    bool
	dev, ino uint64
}

func (p pendingRewrite) advice(store string) string {
	if p.mbox == "" {
		return fmt.Sprintf("%s is the record of a rewrite of the mbox of inode %d (file system id %d) that a crash of mail stopped, not finished yet; the next homepost program that locks that mbox finishes it: open it with mail -H -f MBOX before mutt or s-nail do, which would rewrite the half-rewritten mailbox as they find it (messages twice or cut off) and leave the record to be set aside", p.record, p.ino, p.dev)
	}
	if p.other {
		return fmt.Sprintf("%s: %s is the record of a rewrite that a crash of mail stopped, made for another file than the mailbox there now (replaced or removed since): the next homepost program that locks the mailbox sets the record aside (mail -H -f %s does), and check then says what it holds", p.mbox, p.record, shellQuote(p.mbox))
	}
	agent := ""
	if p.mbox == store {
		agent = " (or let the agent deliver to it)"
	}
	return fmt.Sprintf("%s: a rewrite of it that a crash of mail stopped is not finished yet (its record: %s); the next homepost program that locks it finishes it: open it with mail -H -f %s%s before mutt or s-nail do, which would rewrite the half-rewritten mailbox as they find it (messages twice or cut off) and leave the record to be set aside", p.mbox, p.record, shellQuote(p.mbox), agent)
}

// pendingRewrites lists the complete records of rewrites beside any
// mbox in dirs and in the state directories (maildir.PendingRecords). A
// record in a state directory is named by its file system id and inode
// only: it is given the path of the mbox among mboxes that has them. A
// record beside a file that is no longer the one it was made for is
// marked other.
func pendingRewrites(dirs, mboxes []string) []pendingRewrite {
	var found []pendingRewrite
	for _, r := range maildir.PendingRecords(dirs) {
		p := pendingRewrite{record: r.Path, mbox: r.Mbox, dev: r.Dev, ino: r.Ino}
		if r.Mbox == "" {
			for _, m := range mboxes {
				if dev, ino, err := maildir.PathID(m); err == nil && dev == r.Dev && ino == r.Ino {
					p.mbox = m
					break
				}
			}
		} else if dev, ino, err := maildir.PathID(r.Mbox); err != nil || dev != r.Dev || ino != r.Ino {
			p.other = true
		}
		found = append(found, p)
	}
	return found
}

// checkAppendNotes names the notes of appends that mail processes left
// in dir when they were killed (see mailx's appendnote.go): the last
// copy each names may be cut off at the end of its file, and the next
// mail that reads mail checks it under the file's locks and cuts it
// back; a note of quit's move (it names the mailbox moved from) also
// has that mail remove from the mailbox each message whose copy is
// whole, so the warning names the mailbox too. A note whose writer still runs is an append in progress, and a
// note whose file was replaced since is one mail removes: neither is
// named. maildir and mailx keep the note's format to themselves; it is
// read here, read-only.
func checkAppendNotes(c *checker, dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.warn("mbox", "%s: %v: the notes of appends that a killed mail left there cannot be read", dir, err)
		}
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue // a note being written
		}
		name := filepath.Join(dir, e.Name())
		// NANOSECONDS.PID.SEQ: a note of a mail still running is one
		// it is writing.
		if f := strings.Split(e.Name(), "."); len(f) == 3 {
			if pid, err := strconv.Atoi(f[1]); err == nil && pid > 0 && unix.Kill(pid, 0) == nil {
				continue
			}
		}
		n, err := readAppendNote(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // resolved meanwhile
		}
		if err != nil {
			c.warn("mbox", "%v: mail leaves it alone; remove it once the mbox it names is checked for a message cut off at its end", err)
			continue
		}
		dev, ino, err := maildir.PathID(n.Path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			c.warn("mbox", "%s: not found: a mail was stopped while appending a message there at byte %d (%d bytes), and a partial copy may remain at that place in the file wherever it is now; mail keeps the note %s until it is removed: once the copy is checked, remove %s", n.Path, n.Off, n.Len, name, name)
		case err != nil:
			c.warn("mbox", "%s: %v: a mail was stopped while appending a message there at byte %d (%d bytes), which may remain cut off at the end of the file (note %s); the next mail that reads mail checks it", n.Path, err, n.Off, n.Len, name)
		case dev != n.Dev || ino != n.Ino:
			// Replaced since: the copy went with the old file, and the
			// next mail removes the note.
		default:
			c.warn("mbox", "%s", n.advice(name))
		}
	}
}

// advice says what a note left by a killed mail means, and what the
// next mail does with it.
func (n *appendNote) advice(name string) string {
	what := fmt.Sprintf("%s: a mail was stopped while appending messages to it (note %s)", n.Path, name)
	if n.From != nil && n.From.Path != "" {
		what = fmt.Sprintf("%s: a mail was stopped while moving messages to it from %s (note %s)", n.Path, n.From.Path, name)
	}
	copyState := fmt.Sprintf("its last copy, %d bytes from byte %d, may be cut off at the end of the file; the next mail that reads mail (mail, mail -H) checks that copy and cuts it back if it is cut off", n.Len, n.Off)
	switch n.Last {
	case "whole":
		copyState = "every copy is whole; the next mail that reads mail (mail, mail -H) completes the move"
	case "cut":
		copyState = fmt.Sprintf("its last copy, from byte %d, was cut off and has been cut back; the next mail that reads mail (mail, mail -H) completes the move", n.Off)
	}
	if n.From == nil || n.From.Path == "" {
		return what + ": " + copyState + " (the message is still where it was moved or saved from)"
	}
	return what + ": " + copyState + ", and removes from " + n.From.Path + " each message moved whose copy is whole, so that it ends once in " + n.Path
}

// appendNote is what check reads of a note: the file appended to, the
// mailbox of a move to it (quit's move to ~/mbox), the last copy's mark
// and, when a line after it says, whether that copy was found "whole"
// or "cut".
type appendNote struct {
	Path     string
	Dev, Ino uint64
	From     *struct{ Path string }
	Off, Len int64
	Last     string
}

// readAppendNote reads a note: a first line {"path","dev","ino"} (and
// "from", the mailbox of a move), then a line {"off","len","sha256",...}
// for each copy, and, after the last, a line {"last":...} when mail
// found that copy whole or cut it back. A line that is neither is not
// read; a last line without its newline is one whose write a kill cut
// short.
func readAppendNote(name string) (*appendNote, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var n appendNote
	marks := 0
	for i, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasSuffix(line, "\n") {
			break
		}
		if i == 0 {
			var h struct {
				Path     string
				Dev, Ino uint64
				From     *struct{ Path string }
			}
			if err := json.Unmarshal([]byte(line), &h); err != nil || h.Path == "" {
				return nil, fmt.Errorf("%s:1: not a note of an append", name)
			}
			n.Path, n.Dev, n.Ino, n.From = h.Path, h.Dev, h.Ino, h.From
			continue
		}
		var m struct {
			Off, Len int64
			Sum      string `json:"sha256"`
			Last     string
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("%s:%d: not a note of an append", name, i+1)
		}
		switch {
		case m.Sum != "":
			n.Off, n.Len, n.Last = m.Off, m.Len, ""
			marks++
		case m.Last != "" && marks > 0:
			n.Last = m.Last
		}
	}
	if n.Path == "" || marks == 0 {
		return nil, fmt.Errorf("%s:1: not a note of an append (no mark)", name)
	}
	return &n, nil
}
