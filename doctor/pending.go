package doctor

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"homepost/config"
	"homepost/maildir"
	"homepost/settings"
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

// recordSuffix ends the name of a record kept beside its mbox
// (".NAME.homepost-rewrite"); in a state directory a record is named
// FSID-INO. maildir keeps these names to itself (it exports only the
// lookup of records set aside), so they are repeated here, read-only.
const recordSuffix = ".homepost-rewrite"

// rewriteRecordDirs returns the directories of the state directory
// where maildir keeps records of rewrites, as it finds them: the
// password database's home's ~/.local/state/homepost/mbox-rewrite
// (settings.CurrentUser), then $XDG_STATE_HOME/homepost/mbox-rewrite
// when it differs, where earlier versions kept them.
func rewriteRecordDirs() []string {
	var dirs []string
	id, _ := settings.CurrentUser()
	if home := id.Home(); filepath.IsAbs(home) {
		dirs = append(dirs, filepath.Join(home, ".local", "state", "homepost", "mbox-rewrite"))
	}
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		if d := filepath.Join(x, "homepost", "mbox-rewrite"); len(dirs) == 0 || d != dirs[0] {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// pendingRewrites lists the complete records of rewrites beside any
// mbox in dirs and in the state directories. A record in a state
// directory is named by its file system id and inode only: it is given
// the path of the mbox among mboxes that has them.
func pendingRewrites(dirs, mboxes []string) []pendingRewrite {
	var found []pendingRewrite
	seen := map[string]bool{}
	add := func(name, mbox string) {
		if seen[name] {
			return
		}
		seen[name] = true
		h := completeRecord(name)
		if h == nil {
			return
		}
		p := pendingRewrite{record: name, mbox: mbox, dev: h.dev, ino: h.ino}
		if mbox == "" {
			for _, m := range mboxes {
				if dev, ino, err := maildir.PathID(m); err == nil && dev == h.dev && ino == h.ino {
					p.mbox = m
					break
				}
			}
		} else if dev, ino, err := maildir.PathID(mbox); err != nil || dev != h.dev || ino != h.ino {
			p.other = true
		}
		found = append(found, p)
	}
	for _, d := range dirs {
		names, _ := filepath.Glob(filepath.Join(d, ".*"+recordSuffix))
		for _, n := range names {
			base := filepath.Base(n)
			add(n, filepath.Join(d, strings.TrimSuffix(base[1:], recordSuffix)))
		}
	}
	for _, d := range rewriteRecordDirs() {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			dev, ino, ok := strings.Cut(e.Name(), "-")
			if _, err := strconv.ParseUint(dev, 10, 64); !ok || err != nil {
				continue
			}
			if _, err := strconv.ParseUint(ino, 10, 64); err != nil {
				continue
			}
			add(filepath.Join(d, e.Name()), "")
		}
	}
	return found
}

// recordHead is what check reads of a record's header.
type recordHead struct {
	dev, ino uint64
}

// The record's layout (see maildir's record): a header of headerSize
// bytes (a first line of its format, "key value" lines, then "sum" and
// the SHA-256 of what precedes it; zeros after), the new contents, then
// (format 2) unitSum bytes for each unit of Block bytes of the part
// written over.
const (
	headerSize = 1024
	unitSum    = 8
)

// completeRecord returns the header of the record at name when it is
// complete: a file maildir takes for a record (regular, the user's,
// mode 0600 or less, one link, no symbolic link), with a header whose
// sum matches and the size the header gives. nil otherwise: a record
// not complete was stopped before the mbox was touched, and the next
// program that locks the mbox removes it; there is nothing to warn of.
// The sums of the new contents and of the table are not read, which
// would cost a read of the whole record: the header is written after
// them, so only a power loss that kept the header and not all of them
// makes a record that passes here and that maildir discards, and the
// advice given is then harmless.
func completeRecord(name string) *recordHead {
	f, err := os.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.Mode().IsRegular() || int(sys.Uid) != os.Geteuid() || sys.Nlink != 1 || st.Mode().Perm()&0o077 != 0 {
		return nil
	}
	h := make([]byte, headerSize)
	if _, err := io.ReadFull(f, h); err != nil {
		return nil
	}
	if i := bytes.IndexByte(h, 0); i >= 0 {
		h = h[:i]
	}
	v1 := false
	switch {
	case bytes.HasPrefix(h, []byte("homepost mbox rewrite 2\n")):
	case bytes.HasPrefix(h, []byte("homepost mbox rewrite 1\n")):
		v1 = true
	default:
		return nil
	}
	magic := len("homepost mbox rewrite 2\n")
	i := bytes.LastIndex(h, []byte("sum "))
	if i < magic || fmt.Sprintf("%x", sha256.Sum256(h[:i])) != strings.TrimSpace(string(h[i+4:])) {
		return nil
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(h[magic:i]), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			fields[k] = v
		}
	}
	num := func(k string) (int64, bool) {
		n, err := strconv.ParseInt(fields[k], 10, 64)
		return n, err == nil
	}
	off, ok1 := num("off")
	newSize, ok2 := num("new")
	old, ok3 := num("old")
	block, ok4 := num("block")
	dev, err1 := strconv.ParseUint(fields["dev"], 10, 64)
	ino, err2 := strconv.ParseUint(fields["ino"], 10, 64)
	if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil || off < 0 || newSize < off || old < 0 || newSize-off > 1<<62 || old > 1<<62 {
		return nil
	}
	var units int64
	if !v1 {
		if !ok4 || block < 512 || block&(block-1) != 0 {
			return nil
		}
		if end := min(old, newSize); end > off {
			units = (end-1)/block - off/block + 1
		}
	}
	if st.Size() != headerSize+newSize-off+unitSum*units {
		return nil
	}
	return &recordHead{dev: dev, ino: ino}
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
