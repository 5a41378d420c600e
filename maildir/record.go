package maildir

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"homepost/safeio"
	"homepost/settings"
)

// A rewrite record holds what an in-place rewrite of an mbox is about to
// write over it, made durable before the first byte of the mbox is
// touched, so that a rewrite a crash stops half way is finished by the
// next program that locks the mbox (see Locked.recover) instead of
// leaving it torn.
//
// The file is a header of recordHeader bytes, then the new contents of
// the mbox from the first byte that changes (Off) to the new end (New),
// then (format 2) the table of the old bytes: the mbox's bytes from Off
// to min(Old, New), as they were before the rewrite, cut into units at
// each multiple of Block of the file, and for each unit the first
// unitSum bytes of its SHA-256. The table is what tells a file a crash
// of this rewrite left (each unit of it the old one or the new one)
// from one another program changed since; it costs 8 bytes for each 512
// of the part the rewrite writes over, and one more read of that part.
// The header is written last, over zeros: a record whose header does
// not parse, whose header sum, data sum or table sum does not match, or
// whose size is not its header's plus its data's and table's, was
// stopped before it was complete, and then the mbox was not touched yet.
//
// Format 1, which earlier versions wrote, has no table. Such a record
// is read and applied as those versions applied it (the checks of the
// first Off bytes, of the size and of the tail, without the table's):
// it exists only where a crash stopped a rewrite of an earlier version,
// and then the mbox is torn, and setting the record aside would leave it
// so; the checks it lacks are what that version had.
type record struct {
	Off, New, Old int64 // first changed byte, new size, size before
	Dev, Ino      uint64
	// Prefix is the SHA-256 of the mbox's first Off bytes (which the
	// rewrite leaves as they are); Tail that of its bytes from New to
	// Old (what the final truncation cuts off; empty when New >= Old);
	// Data that of the new contents from Off.
	Prefix, Tail, Data [sha256.Size]byte
	// Block is the size of the units of the table (format 2), Table
	// the SHA-256 of the table.
	Block int64
	Table [sha256.Size]byte
	// V1: a record of format 1, without a table.
	V1 bool
}

const (
	recordHeader = 1024
	recordMagic1 = "homepost mbox rewrite 1\n"
	recordMagic  = "homepost mbox rewrite 2\n"
	// blockSize is the unit of the table: a disk sector, the least a
	// power loss writes or leaves whole. The kernel writes the page
	// cache back in pages, which a disk may write in part, sector by
	// sector; apply writes in pieces that begin and end at multiples of
	// writeChunk but for Off and New, so a kill in the middle of a write
	// (which stops it at a page boundary) or a power loss leaves each
	// unit either old or new.
	blockSize = 512
	// unitSum is how much of a unit's SHA-256 the table keeps: a unit
	// another program changed passes for the old one with a chance of
	// 2^-64.
	unitSum    = 8
	writeChunk = 64 << 10
)

// oldEnd is where the part of the mbox that the rewrite writes over
// ends: the table covers Off to oldEnd.
func (r *record) oldEnd() int64 { return min(r.Old, r.New) }

// units is the number of units in the table.
func (r *record) units() int64 {
	if r.V1 || r.oldEnd() <= r.Off {
		return 0
	}
	return (r.oldEnd()-1)/r.Block - r.Off/r.Block + 1
}

// size is the size of the complete record file.
func (r *record) size() int64 { return recordHeader + r.New - r.Off + unitSum*r.units() }

// tableAt is where the table begins in the record file.
func (r *record) tableAt() int64 { return recordHeader + r.New - r.Off }

func (r *record) encode() []byte {
	var b bytes.Buffer
	if r.V1 {
		b.WriteString(recordMagic1)
	} else {
		b.WriteString(recordMagic)
	}
	fmt.Fprintf(&b, "off %d\nnew %d\nold %d\ndev %d\nino %d\nprefix %x\ntail %x\ndata %x\n",
		r.Off, r.New, r.Old, r.Dev, r.Ino, r.Prefix, r.Tail, r.Data)
	if !r.V1 {
		fmt.Fprintf(&b, "block %d\ntable %x\n", r.Block, r.Table)
	}
	sum := sha256.Sum256(b.Bytes())
	fmt.Fprintf(&b, "sum %x\n", sum)
	out := make([]byte, recordHeader)
	copy(out, b.Bytes())
	return out
}

// decodeRecord parses a header; an error means the record is not
// complete.
func decodeRecord(h []byte) (*record, error) {
	end := bytes.IndexByte(h, 0)
	if end < 0 {
		end = len(h)
	}
	h = h[:end]
	r := &record{}
	switch {
	case bytes.HasPrefix(h, []byte(recordMagic)):
	case bytes.HasPrefix(h, []byte(recordMagic1)):
		r.V1 = true
	default:
		return nil, errors.New("no header")
	}
	i := bytes.LastIndex(h, []byte("sum "))
	if i < len(recordMagic) || sha256Hex(h[:i]) != strings.TrimSpace(string(h[i+4:])) {
		return nil, errors.New("header sum does not match")
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(h[len(recordMagic):i]), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			fields[k] = v
		}
	}
	var err error
	num := func(k string) int64 {
		n, e := strconv.ParseInt(fields[k], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("field %s: %w", k, e)
		}
		return n
	}
	unum := func(k string) uint64 {
		n, e := strconv.ParseUint(fields[k], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("field %s: %w", k, e)
		}
		return n
	}
	sum := func(k string, dst *[sha256.Size]byte) {
		var b []byte
		if _, e := fmt.Sscanf(fields[k], "%x", &b); (e != nil || len(b) != sha256.Size) && err == nil {
			err = fmt.Errorf("field %s: not a SHA-256", k)
		}
		copy(dst[:], b)
	}
	r.Off, r.New, r.Old = num("off"), num("new"), num("old")
	r.Dev, r.Ino = unum("dev"), unum("ino")
	sum("prefix", &r.Prefix)
	sum("tail", &r.Tail)
	sum("data", &r.Data)
	if !r.V1 {
		r.Block = num("block")
		sum("table", &r.Table)
		// A power of two from a sector to a chunk of apply's writes.
		if err == nil && (r.Block < blockSize || r.Block > writeChunk || r.Block&(r.Block-1) != 0) {
			err = errors.New("bad block size")
		}
	}
	if err == nil && (r.Off < 0 || r.New < r.Off || r.Old < 0 || r.New-r.Off > 1<<62 || r.Old > 1<<62) {
		err = errors.New("bad offsets")
	}
	return r, err
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s)
}

// recordNextTo is where the record of a rewrite of the mbox at path is
// kept: beside it, as a dot file.
func recordNextTo(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+recordSuffix)
}

// recordSuffix ends the name of a record kept beside its mbox.
const recordSuffix = ".homepost-rewrite"

// recordInState is where the record is kept when the mbox's directory
// takes no new file (a /var/mail spool, a full disk): in the state
// directory, named by the mbox's file system and inode (FileID), which
// every program that locks the mbox knows. It is the first of
// recordDirs. It is "" when there is no home directory to find it in.
func recordInState(dev, ino uint64) string {
	dirs := recordDirs()
	if len(dirs) == 0 {
		return ""
	}
	return filepath.Join(dirs[0], fmt.Sprintf("%d-%d", dev, ino))
}

// recordDirs returns the directories where records of rewrites are kept
// in the state directory: first ~/.local/state/homepost/mbox-rewrite of
// the user's home as settings finds it (the password database's when
// $HOME is another user's), where records are made, whatever the
// environment: every program that locks an mbox must find them, and
// the environment is what differs between them (a shell whose profile
// sets $XDG_STATE_HOME, and the agent under systemd, cron, ssh, which
// do not). Not state_dir of config.toml either: a delivery locks an
// mbox without it. Then $XDG_STATE_HOME/homepost/mbox-rewrite when it
// is set and differs, where earlier versions made them, so that those
// are found too.
func recordDirs() []string {
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

// createRecordNextTo creates the record beside the mbox, a new file
// (never one found there, nor through a symbolic link); tests replace
// it to act as a user who may not create files in the mbox's directory.
// Where others may write to the directory (a 1777 spool), it refuses:
// the record goes to the state directory, out of their reach.
var createRecordNextTo = func(name string) (*os.File, error) {
	if st, err := os.Stat(filepath.Dir(name)); err == nil && (st.Mode().Perm()&0o022 != 0 || st.Mode()&os.ModeSticky != 0) {
		return nil, fmt.Errorf("%s: others may write to its directory: %w", name, os.ErrPermission)
	}
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
}

// openRecord opens a record found where a rewrite keeps one, read-only:
// only a regular file of this user's that no one else may read or
// write, with one link, not reached through a symbolic link. Anything
// else is not a record of this user's rewrites (another user may
// plant a file beside an mbox in a directory both may write to) and
// is left alone: nil, nil.
func openRecord(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ELOOP) || errors.Is(err, os.ErrPermission):
		return nil, nil
	case err != nil:
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.Mode().IsRegular() || int(sys.Uid) != os.Geteuid() || sys.Nlink != 1 || st.Mode().Perm()&0o077 != 0 {
		f.Close()
		return nil, nil
	}
	return f, nil
}

// noRoomHere reports whether err means a directory takes no new file
// (no permission, read-only, full, over quota): a reason to keep the
// record elsewhere.
func noRoomHere(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// FileID returns what identifies the open file f in a rewrite record
// and in mail's notes of appends: its file system's id and its inode.
// The id is statfs(2)'s f_fsid when the file system reports one (ext4,
// xfs and btrfs make it from the file system's UUID): st_dev is the
// kernel's number for a mount, not a property of the file system, and
// changes when it is mounted again (a reboot after a power loss, a disk
// that comes back under another minor, btrfs subvolumes, an NFS mount
// on another client). Where f_fsid is zero, st_dev is all there is.
func FileID(f *os.File) (dev, ino uint64, err error) {
	var st unix.Stat_t
	var fs unix.Statfs_t
	c, err := f.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		if serr = unix.Fstat(int(fd), &st); serr == nil {
			serr = unix.Fstatfs(int(fd), &fs)
		}
	}); err != nil {
		return 0, 0, err
	}
	if serr != nil {
		return 0, 0, fmt.Errorf("%s: %w", f.Name(), serr)
	}
	return fsDev(&fs, &st), st.Ino, nil
}

// PathID is FileID for the file at path (a symbolic link followed).
func PathID(path string) (dev, ino uint64, err error) {
	var st unix.Stat_t
	var fs unix.Statfs_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return fsDev(&fs, &st), st.Ino, nil
}

// stDev is st_dev; tests replace it to act as a mount under another
// device number.
var stDev = func(st *unix.Stat_t) uint64 { return uint64(st.Dev) }

func fsDev(fs *unix.Statfs_t, st *unix.Stat_t) uint64 {
	if id := uint64(uint32(fs.Fsid.Val[0])) | uint64(uint32(fs.Fsid.Val[1]))<<32; id != 0 {
		return id
	}
	return stDev(st)
}

// hashRange returns the SHA-256 of n bytes of f at off; an error when
// f is shorter.
func hashRange(f io.ReaderAt, off, n int64) ([sha256.Size]byte, error) {
	var s [sha256.Size]byte
	h := sha256.New()
	if n < 0 {
		return s, errors.New("negative length")
	}
	c, err := io.Copy(h, io.NewSectionReader(f, off, n))
	if err != nil {
		return s, err
	}
	if c != n {
		return s, io.ErrUnexpectedEOF
	}
	copy(s[:], h.Sum(nil))
	return s, nil
}

// eachUnit calls fn for the bytes of f from lo to hi, a unit at a
// time: cut at each multiple of block, read in windows of writeChunk
// (a multiple of block). fn returning false stops it, and so does an
// error.
func eachUnit(f io.ReaderAt, lo, hi, block int64, fn func(off int64, b []byte) (bool, error)) (bool, error) {
	buf := make([]byte, writeChunk)
	for p := lo; p < hi; {
		e := min(hi, (p/writeChunk+1)*writeChunk)
		b := buf[:e-p]
		if _, err := f.ReadAt(b, p); err != nil {
			return false, err
		}
		for q := p; q < e; {
			u := min(e, (q/block+1)*block)
			if ok, err := fn(q, b[q-p:u-p]); err != nil || !ok {
				return ok, err
			}
			q = u
		}
		p = e
	}
	return true, nil
}

// writeTable writes the table of r (whose Off, New, Old and Block are
// set) for the bytes of f, the mbox before the rewrite, to w, and sets
// r.Table.
func writeTable(w io.Writer, f io.ReaderAt, r *record) error {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 64<<10)
	if _, err := eachUnit(f, r.Off, r.oldEnd(), r.Block, func(_ int64, b []byte) (bool, error) {
		s := sha256.Sum256(b)
		_, err := bw.Write(s[:unitSum])
		return err == nil, err
	}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	copy(r.Table[:], h.Sum(nil))
	return nil
}

// crashLeft reports whether each unit of the locked mbox from Off to
// oldEnd is one the rewrite of r can have left there: the old one (its
// sum in the table) or, when written, the record's new one. Where
// nothing can have been written yet (a growing file not made its new
// size), written is false. A record of format 1 has no table, and
// passes.
func (l *Locked) crashLeft(rf *os.File, r *record, written bool) (bool, error) {
	if r.V1 {
		return true, nil
	}
	buf, nbuf := make([]byte, writeChunk), make([]byte, writeChunk)
	tbuf := make([]byte, unitSum*(writeChunk/blockSize))
	first := r.Off / r.Block
	for p, end := r.Off, r.oldEnd(); p < end; {
		// A window of the file, its new bytes and its units' sums.
		e := min(end, (p/writeChunk+1)*writeChunk)
		b, n := buf[:e-p], nbuf[:e-p]
		if _, err := l.F.ReadAt(b, p); err != nil {
			return false, err
		}
		if written {
			if _, err := rf.ReadAt(n, recordHeader+p-r.Off); err != nil {
				return false, err
			}
		}
		i0 := p/r.Block - first
		t := tbuf[:unitSum*((e-1)/r.Block-first+1-i0)]
		if _, err := rf.ReadAt(t, r.tableAt()+unitSum*i0); err != nil {
			return false, err
		}
		for q := p; q < e; {
			u := min(e, (q/r.Block+1)*r.Block)
			k := unitSum * (q/r.Block - first - i0)
			if !(written && bytes.Equal(b[q-p:u-p], n[q-p:u-p])) {
				if sum := sha256.Sum256(b[q-p : u-p]); !bytes.Equal(sum[:unitSum], t[k:k+unitSum]) {
					return false, nil
				}
			}
			q = u
		}
		p = e
	}
	return true, nil
}

// recover finishes a rewrite of the locked mbox that a crash stopped,
// or discards the record of one that was stopped before it touched the
// mbox. It runs under the locks, before anything else reads or writes
// the mbox. links: the mbox may have been opened through a symbolic link.
//
// A complete record means the mbox may be torn anywhere from Off on:
// the new contents are written again from Off (which is idempotent), and
// the file is cut to its new size. What another program did to the mbox
// between the crash and now, without homepost's locks:
//
//   - Mail appended after the crash (a save by mutt or s-nail, which do
//     not wait for the dotlock a killed rewrite leaves) lies past
//     the largest size the rewrite gives the file, and is kept after the
//     new contents. The rewrite makes the file its final size (when it
//     grows it) and fsyncs that before it writes any new byte, and cuts
//     it (when it shrinks) only once the new bytes are fsynced, so the
//     size tells where the appended mail begins; Tail tells a file not
//     cut yet from one cut and then appended to.
//   - A rewrite by another program after the crash (mutt or s-nail
//     deleting messages from the torn file, or changing one in place),
//     or a file emptied and refilled since, is told from what a crash
//     leaves. Every crash point leaves the first Off bytes as they
//     were, the file at least min(Old, New) bytes long (see finish),
//     and each unit of the part the rewrite writes over (Off to
//     min(Old, New), cut at multiples of Block: see blockSize) as it
//     was (its sum in the record's table) or as the record has it: a
//     kill stops a write at a page boundary, a power loss keeps any
//     set of the pages and sectors written, and apply writes in pieces
//     aligned so that no unit is written by two writes. Before a
//     growing file is made its new size, nothing new is written at
//     all; a shrinking file is cut only once all its new bytes are
//     durable. A file in any other state is not written to: the
//     record is set aside, renamed with the suffix ".unapplied", so
//     that nothing in it is lost, and the mbox is left as that program
//     made it. Not told apart, and so not the other program's work
//     but a crash's: a change that leaves every unit one of the two
//     (bytes written back exactly as they were or as the record has
//     them), or one past the part the rewrite writes over (mail
//     appended, or such mail deleted again), which applying keeps; and
//     a unit changed to bytes whose sum is the old one's, a chance of
//     2^-64 each. A record of format 1 (see record) has no table: it is
//     applied with the other checks only, as before.
//   - Mail appended to a growing file before the rewrite made it its
//     final size (a crash in the few calls between the record's fsync
//     and that of the size) is kept after the new contents too: it is
//     told from the rewrite's own bytes there, each zero or the
//     record's (see sized).
func (l *Locked) recover(links bool) error {
	dev, ino, err := FileID(l.F)
	if err != nil {
		return err
	}
	real := l.path
	if links {
		// Opened through a symbolic link (mail reads one; a delivery
		// never follows one): Rewrite keeps the record beside the
		// file the link names.
		if r, err := filepath.EvalSymlinks(l.path); err == nil {
			real = r
		}
	}
	names := []string{recordNextTo(real)}
	for _, d := range recordDirs() {
		names = append(names, filepath.Join(d, fmt.Sprintf("%d-%d", dev, ino)))
	}
	for _, name := range names {
		rf, err := openRecord(name)
		if err != nil {
			return fmt.Errorf("finish an interrupted rewrite of %s: %w", l.path, err)
		}
		if rf != nil {
			err = l.finish(rf, name, dev, ino)
			rf.Close()
			if err != nil {
				return fmt.Errorf("finish an interrupted rewrite of %s from %s: %w", l.path, name, err)
			}
		}
		warnSetAside(l.path, name)
	}
	return nil
}

// readRecord reads and checks a record; nil when it is not complete.
func readRecord(rf *os.File) (*record, error) {
	r, err := readHeader(rf)
	if r == nil || err != nil {
		return nil, err
	}
	if sum, err := hashRange(rf, recordHeader, r.New-r.Off); err != nil || sum != r.Data {
		return nil, nil
	}
	if !r.V1 {
		if sum, err := hashRange(rf, r.tableAt(), unitSum*r.units()); err != nil || sum != r.Table {
			return nil, nil
		}
	}
	return r, nil
}

// removeRecord removes a record and makes the removal durable: a record
// that came back after a power loss would be applied again, over mail
// appended since.
func removeRecord(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return safeio.SyncDir(filepath.Dir(name))
}

// finish applies or discards the record rf (see recover).
func (l *Locked) finish(rf *os.File, name string, dev, ino uint64) error {
	// What a crash in reRecord left before its rename.
	os.Remove(name + ".new")
	r, err := readRecord(rf)
	if err != nil {
		return err
	}
	if r == nil {
		// Stopped before it was complete: the mbox is untouched.
		return removeRecord(name)
	}
	st, err := l.F.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	prefix, err := hashRange(l.F, 0, r.Off)
	// Every crash point leaves the file at least min(Old, New) bytes
	// long: growing, it is made New bytes long before any new byte is
	// written; shrinking, it is cut to New only at the end; appends
	// by others only add. A shorter file was cut or rewritten by
	// another program since: not this rewrite's leftover.
	if r.Dev != dev || r.Ino != ino || err != nil || prefix != r.Prefix || size < min(r.Old, r.New) {
		// Another file now, or rewritten by another program: keep
		// the new contents for the user, apply nothing.
		return setAside(name, r)
	}
	if r.New >= r.Old {
		// Growing (or the same size): the file was made New bytes
		// long before any new byte was written; what lies past that
		// was appended since. Longer than Old but not made so (see
		// sized), nothing new was written, and what lies past Old
		// was appended since: it must follow the new contents.
		if size > r.Old && (size < r.New || !l.sized(rf, r)) {
			if ok, err := l.crashLeft(rf, r, false); err != nil || !ok {
				return l.setAsideOr(err, name, r)
			}
			return l.reRecord(rf, name, r, size)
		}
		// Made its new size (or never made longer): each unit up
		// to Old is the old one or the new one.
		if ok, err := l.crashLeft(rf, r, size >= r.New); err != nil || !ok {
			return l.setAsideOr(err, name, r)
		}
		return l.apply(rf, name, r, max(r.New, size))
	}
	// Shrinking: the file is cut to New only once every new byte is
	// durable. Not cut yet, its bytes from New to Old are the old ones.
	notCut := false
	if size >= r.Old {
		tail, err := hashRange(l.F, r.New, r.Old-r.New)
		notCut = err == nil && tail == r.Tail
	}
	switch {
	case !notCut:
		// Cut: whole, and whatever follows New was appended since.
		// The cut comes only once the new bytes are durable, so a
		// file cut by this rewrite holds them from Off to New; one
		// that does not was rewritten by another program.
		if data, err := hashRange(l.F, r.Off, r.New-r.Off); err != nil || data != r.Data {
			return setAside(name, r)
		}
		return removeRecord(name)
	}
	// Not cut: each unit up to New is the old one or the new one.
	if ok, err := l.crashLeft(rf, r, true); err != nil || !ok {
		return l.setAsideOr(err, name, r)
	}
	if size > r.Old {
		// Appended after the crash, past the old end: it must follow
		// the new contents, where the old tail lies now. Record the
		// new contents with it, then apply that.
		return l.reRecord(rf, name, r, size)
	}
	return l.apply(rf, name, r, r.New)
}

// setAsideOr sets the record aside, or returns err, an error reading
// the mbox or the record: then nothing is decided, and the record
// stays for the next Lock.
func (l *Locked) setAsideOr(err error, name string, r *record) error {
	if err != nil {
		return err
	}
	return setAside(name, r)
}

// setAside renames a record that is not applied, so that nothing in it
// is lost, and the mbox is left as it is. Its new name is one no file
// has (NAME.INO.TIME.unapplied, with -N added when taken), reserved by
// creating it with O_EXCL: an earlier record set aside for the same
// mbox may hold the only whole copy of what it lost, and is never
// renamed over. A crash between the two steps leaves that reserved
// name empty.
func setAside(name string, r *record) error {
	base := fmt.Sprintf("%s.%d.%s", name, r.Ino, time.Now().UTC().Format("20060102T150405"))
	for i := 1; ; i++ {
		aside := base + ".unapplied"
		if i > 1 {
			aside = fmt.Sprintf("%s-%d.unapplied", base, i)
		}
		f, err := os.OpenFile(aside, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
		if errors.Is(err, os.ErrExist) && i < 1000 {
			continue
		}
		if err != nil {
			return err
		}
		f.Close()
		if err := os.Rename(name, aside); err != nil {
			os.Remove(aside)
			return err
		}
		return safeio.SyncDir(filepath.Dir(name))
	}
}

// Warnf says what the user should know about an mbox a Lock found
// (records set aside), on stderr, where Logger is not set.
var Warnf = func(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "homepost: "+format+"\n", a...)
}

// Logger, when set, takes those warnings in place of Warnf, as records
// of a structured log with the mbox and the record as their own
// attributes: the agent sets it to its log, whose reader would not take
// a bare line on stderr for one of its records.
var Logger *slog.Logger

// warned holds the records set aside that this process has named.
var warned sync.Map

// warnSetAside says, once in each process, that a record of a rewrite
// of the mbox at path was set aside and lies at each of the names that
// match name's: until the user has compared it with the mbox and
// removed it, it may hold the only whole copy of mail the mbox lost.
func warnSetAside(path, name string) {
	found, _ := filepath.Glob(name + ".*.unapplied")
	for _, aside := range found {
		if st, err := os.Lstat(aside); err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			continue
		}
		if _, done := warned.LoadOrStore(aside, true); done {
			continue
		}
		msg := fmt.Sprintf("%s: %s holds the new contents of a rewrite that was stopped and could not be finished, because the mailbox was changed since by another program (from byte %s of the file on, after a header of %d bytes): compare it with the mailbox, then remove it", path, aside, recordOff(aside), recordHeader)
		if Logger != nil {
			Logger.Warn("mbox rewrite set aside", "mbox", path, "record", aside, "reason", msg)
			continue
		}
		Warnf("%s", msg)
	}
}

// Aside is a record of a rewrite that was set aside (see setAside):
// not applied, because the mbox was changed by another program since a
// crash stopped the rewrite, and kept until the user has compared it
// with the mbox, since it may hold the only whole copy of mail the
// torn mbox lost.
type Aside struct {
	Path string // the record
	Mbox string // the mbox it was made for; "" when not known
	// Off and Len: its new contents, from byte recordHeader of the
	// record on, are the mbox's from Off on, Len bytes; Len is -1 when
	// its header does not tell.
	Off, Len int64
	Ino      uint64 // the mbox's inode; 0 when its header does not tell
}

// Advice says what to do with a record set aside.
func (a Aside) Advice() string {
	mbox := a.Mbox
	switch {
	case mbox == "" && a.Ino != 0:
		mbox = fmt.Sprintf("the mbox of inode %d", a.Ino)
	case mbox == "":
		mbox = "an mbox (its file system's id and inode begin the record's name)"
	}
	if a.Len < 0 {
		return fmt.Sprintf("%s holds the new contents of a rewrite of %s that a crash stopped, not applied because the mailbox was changed since by another program: compare what follows its first %d bytes with the mailbox, copy into the mailbox what it lacks, then remove %s", a.Path, mbox, recordHeader, a.Path)
	}
	return fmt.Sprintf("%s holds the new contents of a rewrite of %s that a crash stopped, not applied because the mailbox was changed since by another program: the mailbox's bytes from %d on, as the rewrite made them (tail -c +%d %s | head -c %d); compare them with the mailbox, copy into the mailbox what it lacks, then remove %s", a.Path, mbox, a.Off, recordHeader+1, a.Path, a.Len, a.Path)
}

// SetAside lists the records set aside beside any mbox in the
// directories dirs and in the state directories where records are kept
// (recordDirs). A record in a state directory is named by its file
// system id and inode only: it is given the path of the mbox among
// mboxes that has them. Only regular files that hold something are
// listed: an empty one is a name reserved by a setAside that a crash
// stopped, which holds nothing.
func SetAside(dirs, mboxes []string) []Aside {
	var found []Aside
	seen := map[string]bool{}
	add := func(path, mbox string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			return
		}
		a := Aside{Path: path, Mbox: mbox, Len: -1}
		if r := asideHeader(path); r != nil {
			a.Off, a.Len, a.Ino = r.Off, r.New-r.Off, r.Ino
			if mbox == "" {
				for _, m := range mboxes {
					if dev, ino, err := PathID(m); err == nil && dev == r.Dev && ino == r.Ino {
						a.Mbox = m
						break
					}
				}
			}
		}
		found = append(found, a)
	}
	for _, d := range dirs {
		names, _ := filepath.Glob(filepath.Join(d, ".*.homepost-rewrite.*.unapplied"))
		for _, n := range names {
			base := filepath.Base(n)
			mbox := base[1:strings.LastIndex(base, ".homepost-rewrite.")]
			add(n, filepath.Join(d, mbox))
		}
	}
	for _, d := range recordDirs() {
		names, _ := filepath.Glob(filepath.Join(d, "*.unapplied"))
		for _, n := range names {
			add(n, "")
		}
	}
	return found
}

// asideHeader returns the header of a record set aside; nil when it
// has none.
func asideHeader(name string) *record {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	h := make([]byte, recordHeader)
	n, _ := io.ReadFull(f, h)
	if r, err := decodeRecord(h[:n]); err == nil {
		return r
	}
	return nil
}

// recordOff returns the offset in a record's header, "?" when it has none.
func recordOff(name string) string {
	if r := asideHeader(name); r != nil {
		return strconv.FormatInt(r.Off, 10)
	}
	return "?"
}

// sized reports whether the rewrite of r, growing, made the mbox its
// new size: then its bytes from Old to New are each zero (the file's
// new end, not yet written) or the record's byte there (written).
// Mail another program appended before (its "From " line and text)
// is neither.
func (l *Locked) sized(rf *os.File, r *record) bool {
	a := make([]byte, 64<<10)
	b := make([]byte, 64<<10)
	for p := r.Old; p < r.New; {
		n := int(min(int64(len(a)), r.New-p))
		if _, err := l.F.ReadAt(a[:n], p); err != nil {
			return false
		}
		if _, err := rf.ReadAt(b[:n], recordHeader+p-r.Off); err != nil {
			return false
		}
		for i := range n {
			if a[i] != 0 && a[i] != b[i] {
				return false
			}
		}
		p += int64(n)
	}
	return true
}

// reRecord replaces the record r with one whose new contents are r's
// followed by the mail appended at r.Old.., and applies it.
func (l *Locked) reRecord(rf *os.File, name string, r *record, size int64) error {
	tmp := name + ".new"
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	defer nf.Close()
	data := io.NewSectionReader(rf, recordHeader, r.New-r.Off)
	extra := io.NewSectionReader(l.F, r.Old, size-r.Old)
	h := sha256.New()
	w := io.MultiWriter(io.NewOffsetWriter(nf, recordHeader), h)
	if _, err := io.Copy(w, data); err != nil {
		return err
	}
	// The appended mail begins with a "From " line, which needs an
	// empty line before it.
	var last []byte
	for p := max(r.New-2, 0); p < r.New; p++ {
		var b [1]byte
		if p >= r.Off {
			rf.ReadAt(b[:], recordHeader+p-r.Off)
		} else {
			l.F.ReadAt(b[:], p)
		}
		last = append(last, b[0])
	}
	sep := ""
	switch n := len(last); {
	case n == 0 || (n == 2 && last[0] == '\n' && last[1] == '\n'):
	case last[n-1] == '\n':
		sep = "\n"
	default:
		sep = "\n\n"
	}
	if _, err := io.WriteString(w, sep); err != nil {
		return err
	}
	if _, err := io.Copy(w, extra); err != nil {
		return err
	}
	nr := *r
	nr.New = r.New + int64(len(sep)) + size - r.Old
	nr.Old = size
	copy(nr.Data[:], h.Sum(nil))
	if nr.New < nr.Old {
		if nr.Tail, err = hashRange(l.F, nr.New, nr.Old-nr.New); err != nil {
			return err
		}
	}
	// The file as it is now is what the new record writes over: its
	// table is made of it. A record of format 1 gets one too.
	nr.V1, nr.Block = false, blockSize
	if err := writeTable(io.NewOffsetWriter(nf, nr.tableAt()), l.F, &nr); err != nil {
		return err
	}
	if _, err := nf.WriteAt(nr.encode(), 0); err != nil {
		return err
	}
	if err := nf.Sync(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	if err := safeio.SyncDir(filepath.Dir(name)); err != nil {
		return err
	}
	return l.apply(nf, name, &nr, nr.New)
}

// apply writes the record's new contents over the locked mbox from Off,
// makes it final bytes long, and removes the record, each step made
// durable before the next: the size first when the file grows (so that
// mail appended after a crash lies past it), the new bytes before a cut
// (so that a cut file is a whole one).
func (l *Locked) apply(rf *os.File, name string, r *record, final int64) error {
	f := l.F
	if err := stopAt("recorded"); err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < final {
		if err := f.Truncate(final); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := stopAt("sized"); err != nil {
		return err
	}
	// In pieces that begin and end at multiples of writeChunk (but for
	// Off and New): a piece written over part of a unit by one write
	// and the rest by the next could reach the disk half old, half new
	// (see blockSize).
	buf := make([]byte, writeChunk)
	for p := r.Off; p < r.New; {
		e := min(r.New, (p/writeChunk+1)*writeChunk)
		b := buf[:e-p]
		if _, err := rf.ReadAt(b, recordHeader+p-r.Off); err != nil {
			return err
		}
		if _, err := f.WriteAt(b, p); err != nil {
			return err
		}
		p = e
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := stopAt("written"); err != nil {
		return err
	}
	if st, err := f.Stat(); err != nil {
		return err
	} else if st.Size() > final {
		if err := f.Truncate(final); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := stopAt("cut"); err != nil {
		return err
	}
	return removeRecord(name)
}

// stopAt, when a test sets it, stops apply after a step ("recorded",
// "sized", "written", "cut") by returning an error, as a crash there would.
var stopAt = func(step string) error { return nil }

// reserve makes sure the file system has the blocks a file growing to
// size needs, without changing the file: a rewrite that cannot have
// them is refused before anything is written. A file system that
// cannot allocate ahead (EOPNOTSUPP) is not refused.
func reserve(f *os.File, from, size int64) error {
	if size <= from {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, from, size-from)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}
