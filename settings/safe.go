package settings

import (
	"bytes"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"homepost/safeio"
)

// Files and directories that steer delivery, or hold the queue, must be
// changeable by nobody but the user (and root, who can change anything
// anyway). A config.toml that another user can write can name an exec:
// relay, which then runs as the user; an outbox that another user can
// write lets them delete queued mail after sendmail said it was taken,
// or add messages that are delivered as the user's own. The rule is the
// one homepost applies to ~/.forward and the aliases files (Postfix's):
// owned by the user or root, and writable by nobody else.
//
// Group-writable is refused, as membership can change later, except
// where the caller allows a user private group: a group that no other
// user is in (Debian, Ubuntu and Fedora give each user one, with a
// umask of 002, so that every file an editor saves is mode 0664). Only
// root could add a member to it, and root needs no group to change the
// file. config.toml, the queue's directories and the directories on the
// path of the forwarder's files (~/.forward, the aliases files,
// :include: files: UnsafeFileDirs) allow it; the forwarder's files
// themselves do not, as Postfix's local(8) does not.

// UnsafeFile says why a file that steers delivery must not be obeyed,
// or "" when it may: it must be a regular file owned by the user (uid)
// or root, and writable by nobody else. allowGroupWrite lets its group
// write it (the system aliases file: root's business; a user private
// group: PrivateGroup). The aliases files, ~/.forward and config.toml
// are all judged by it.
func UnsafeFile(fi fs.FileInfo, uid int, allowGroupWrite bool) string {
	if !fi.Mode().IsRegular() {
		return fmt.Sprintf("not a regular file (%s)", safeio.TypeName(fi.Mode()))
	}
	owner := -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = int(st.Uid)
	}
	return unsafeMode(owner, uid, fi.Mode().Perm(), allowGroupWrite, false)
}

// unsafeMode is UnsafeFile's rule on an owner and permission bits;
// sticky allows writing by others (a directory with the sticky bit,
// /tmp: nobody else may rename or remove what is the user's in it).
func unsafeMode(owner, uid int, perm fs.FileMode, allowGroupWrite, sticky bool) string {
	if owner >= 0 && owner != uid && owner != 0 {
		if uid == 0 {
			return fmt.Sprintf("owned by uid %d, not by you (root)", owner)
		}
		return fmt.Sprintf("owned by uid %d, neither you (uid %d) nor root", owner, uid)
	}
	if sticky {
		return ""
	}
	if perm&0o002 != 0 {
		return fmt.Sprintf("world-writable (mode %04o)", perm)
	}
	if perm&0o020 != 0 && !allowGroupWrite {
		return fmt.Sprintf("group-writable (mode %04o)", perm)
	}
	return ""
}

// Unsafe is a file or directory that others than the user (and root)
// could change, and what to do about it.
type Unsafe struct {
	Path string // the file or directory at fault
	Why  string // what is wrong with it: "world-writable (mode 0777)"
	Fix  string // a command that mends it, or what to do
}

func (u *Unsafe) Error() string { return fmt.Sprintf("%s is %s; %s", u.Path, u.Why, u.Fix) }

// groupFile is the group database; a variable for tests.
var groupFile = "/etc/group"

// PrivateGroup reports whether gid is a group that no user but uid
// (login) is in: no other member in /etc/group, and no other user's
// primary group in /etc/passwd. A group not in /etc/group is not known
// to be private.
func PrivateGroup(gid, uid int, login string) bool {
	g := strconv.Itoa(gid)
	data, err := readFile(groupFile)
	if err != nil {
		return false
	}
	found := false
	for _, line := range bytes.Split(data, []byte("\n")) {
		f := strings.Split(strings.TrimSpace(string(line)), ":")
		if len(f) < 4 || f[2] != g {
			continue
		}
		found = true
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" && m != login {
				return false
			}
		}
	}
	if !found {
		return false
	}
	data, err = readFile(userFile)
	if err != nil {
		return false
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		f := strings.Split(strings.TrimSpace(string(line)), ":")
		if len(f) >= 4 && f[3] == g && f[2] != strconv.Itoa(uid) {
			return false
		}
	}
	return true
}

// pathChecker judges paths for one user, asking the group database at
// most once per group and the file system once per path: one reading of
// the configuration (config.toml's directories, then the queue's, which
// share HOME and those above it; then whether the queue can be made)
// shares one checker, so that sendmail, run for every cron job, walks
// each directory once. A checker is for one reading: the agent takes a
// new one at every reload, to see a directory changed since.
type pathChecker struct {
	uid   int
	login string
	// anyGroup lets any group write a directory (the system aliases':
	// root's business, as their file may be group-writable).
	anyGroup bool
	private  memo[uint32, bool]
	seen     memo[string, byte]
	stats    memo[string, lstatResult]
	access   memo[string, error]  // writable's answer per directory
	fsys     memo[uint64, string] // unwritableFS's answer per device
	calls    int                  // the system calls made: a test counts them
	// room holds the first answers of each memo within the checker's
	// own allocation: one size of object for the runtime to find room
	// for, not three (each new size costs sendmail page faults).
	room struct {
		stats  [16]memoEntry[string, lstatResult]
		seen   [16]memoEntry[string, byte]
		access [4]memoEntry[string, error]
		fsys   [2]memoEntry[uint64, string]
	}
}

// memo is a checker's memory of one kind of answer, a list searched in
// order rather than a map: a reading asks of a few dozen paths at most,
// and a map's tables cost sendmail, which starts for every message,
// allocations and page faults that a search of a short list does not.
type memo[K comparable, V any] []memoEntry[K, V]

type memoEntry[K comparable, V any] struct {
	key K
	val V
}

func (m memo[K, V]) get(key K) (V, bool) {
	for i := range m {
		if m[i].key == key {
			return m[i].val, true
		}
	}
	var zero V
	return zero, false
}

func (m *memo[K, V]) put(key K, val V) {
	for i := range *m {
		if (*m)[i].key == key {
			(*m)[i].val = val
			return
		}
	}
	if *m == nil {
		// Room for the paths of one reading at once: grown one by
		// one, the list would be copied four times.
		*m = make(memo[K, V], 0, 16)
	}
	*m = append(*m, memoEntry[K, V]{key, val})
}

// lstatResult is what lstat(2) said of a path.
type lstatResult struct {
	st  syscall.Stat_t
	err error
}

func newPathChecker(uid int, login string) *pathChecker {
	pc := &pathChecker{uid: uid, login: login}
	pc.stats = pc.room.stats[:0]
	pc.seen = pc.room.seen[:0]
	pc.access = pc.room.access[:0]
	pc.fsys = pc.room.fsys[:0]
	return pc
}

func (pc *pathChecker) groupOK(gid uint32) bool {
	if ok, known := pc.private.get(gid); known {
		return ok
	}
	ok := PrivateGroup(int(gid), pc.uid, pc.login)
	pc.private.put(gid, ok)
	return ok
}

func lstat(p string, st *syscall.Stat_t) error {
	err := syscall.Lstat(p, st)
	for err == syscall.EINTR {
		err = syscall.Lstat(p, st)
	}
	return err
}

// lstat is lstat(2) of p, asked once per checker.
func (pc *pathChecker) lstat(p string, st *syscall.Stat_t) error {
	if r, ok := pc.stats.get(p); ok {
		*st = r.st
		return r.err
	}
	pc.calls++
	err := lstat(p, st)
	pc.stats.put(p, lstatResult{*st, err})
	return err
}

// stat is stat(2) of p (following a symbolic link), taken from the
// checker's lstat of p when p is no symbolic link: then both say the
// same, and a missing path is missing to both. Only a link costs a
// stat(2) of its own.
func (pc *pathChecker) stat(p string, st *syscall.Stat_t) error {
	switch err := pc.lstat(p, st); {
	case err == nil && st.Mode&syscall.S_IFMT != syscall.S_IFLNK,
		err == syscall.ENOENT, err == syscall.ENOTDIR:
		return err
	}
	pc.calls++
	err := syscall.Stat(p, st)
	for err == syscall.EINTR {
		err = syscall.Stat(p, st)
	}
	return err
}

// check judges path (itself when it exists, and every directory above
// it) and, when a symbolic link is on the way, the path it leads to as
// well. own is for the path itself: a directory of the user's that
// others may not write, even with the sticky bit; the directories above
// it (and path, when not own) may be written by others when their
// sticky bit is set (/tmp).
// A part of the path that does not exist yet is skipped: homepost
// creates it, mode 0700.
func (pc *pathChecker) check(path string, own bool) *Unsafe {
	p := filepath.Clean(path)
	if u, link := pc.walk(p, own); u != nil || !link {
		return u
	}
	// A symbolic link on the way: what it leads to is judged too (the
	// part of it that exists).
	rest := ""
	for q := p; ; q = filepath.Dir(q) {
		if real, err := filepath.EvalSymlinks(q); err == nil {
			u, _ := pc.walk(filepath.Join(real, rest), own)
			return u
		}
		if filepath.Dir(q) == q {
			return nil
		}
		rest = filepath.Join(filepath.Base(q), rest)
	}
}

// walk judges p and the directories above it, as they are named (a
// symbolic link's own mode says nothing: its directory is judged), and
// reports whether a symbolic link is among them.
func (pc *pathChecker) walk(p string, own bool) (u *Unsafe, link bool) {
	self := own
	for q := p; ; q = filepath.Dir(q) {
		known, _ := pc.seen.get(q)
		switch {
		case known == seenOK && !self:
			return nil, link
		case known == seenMissing:
		case known == seenLink:
			link = true
		default:
			var st syscall.Stat_t
			err := pc.lstat(q, &st)
			switch {
			case err == syscall.ENOENT || err == syscall.ENOTDIR:
				// Not there yet (or under a file, which its
				// creation will report).
				pc.remember(q, seenMissing)
			case err != nil:
				return &Unsafe{Path: q, Why: "not to be examined (" + err.Error() + ")", Fix: "make it readable by you"}, link
			case st.Mode&syscall.S_IFMT == syscall.S_IFLNK:
				link = true
				pc.remember(q, seenLink)
			default:
				perm := fs.FileMode(st.Mode & 0o777)
				sticky := !self && st.Mode&syscall.S_ISVTX != 0 && st.Mode&syscall.S_IFMT == syscall.S_IFDIR
				// The group database is read only for a
				// group-writable directory: sendmail pays for
				// what it uses.
				group := perm&0o020 != 0 && !sticky && (pc.anyGroup || pc.groupOK(st.Gid))
				if why := unsafeMode(int(st.Uid), pc.uid, perm, group, sticky); why != "" {
					return &Unsafe{Path: q, Why: why, Fix: fixFor(q, why, pc.login, pc.uid, self)}, link
				}
				if !self {
					pc.remember(q, seenOK)
				}
			}
		}
		self = false
		if filepath.Dir(q) == q {
			return nil, link
		}
	}
}

// What a pathChecker knows of a path it has judged.
const (
	seenOK      = 1 + iota // a directory fit to be above a checked path
	seenMissing            // nothing there
	seenLink               // a symbolic link
)

func (pc *pathChecker) remember(q string, what byte) {
	pc.seen.put(q, what)
}

// fixFor says how to mend an unsafe path. For root (uid 0), a path
// owned by another user is most likely that user's own, reached through
// their HOME (sudo -E, su -m): a chown to root would stop their mail,
// so the advice is to use root's own HOME.
func fixFor(p, why, login string, uid int, self bool) string {
	switch {
	case strings.HasPrefix(why, "owned by") && uid == 0:
		return "it is another user's (HOME or XDG_STATE_HOME names theirs?): run this as that user, or as root with root's own HOME (sudo -H, su -); do not chown it to root, which would stop that user's own mail"
	case strings.HasPrefix(why, "owned by"):
		if self {
			return fmt.Sprintf("give it to yourself (as root: chown %s %s) or use a path of your own", login, p)
		}
		return "its owner can replace what is in it: use a path in a directory of your own"
	case strings.HasPrefix(why, "world"):
		if self {
			return fmt.Sprintf("chmod go-w %s", p)
		}
		return fmt.Sprintf("anyone can replace what is in it: chmod go-w %s (or chmod +t, as /tmp), or use a path in a directory of your own", p)
	default:
		if self {
			return fmt.Sprintf("chmod g-w %s (its group has other members)", p)
		}
		return fmt.Sprintf("its group's members can replace what is in it: chmod g-w %s, or use a path in a directory of your own", p)
	}
}

// UnsafeDirs says whether a file at path lies in directories that
// others than the user (and root) could change: its directory and every
// one above it, through symbolic links (a dotfiles tree, a data disk),
// must be owned by the user or root and writable by nobody else, unless
// its sticky bit is set (as /tmp's). The file itself is judged by the
// caller, on the file it opened.
func UnsafeDirs(path string, uid int, login string) *Unsafe {
	return newPathChecker(uid, login).unsafeDirs(path)
}

// UnsafeFileDirs is UnsafeDirs for a file that steers delivery and is
// read again when it changes (~/.forward, the aliases files, :include:
// files): a new checker each time, so that a directory opened to others
// since the last reading is seen. anyGroup lets any group write the
// directories, for a file whose own group may write it (the system
// aliases); otherwise a group-writable directory is allowed only for a
// user private group, as for config.toml.
func UnsafeFileDirs(path string, uid int, login string, anyGroup bool) *Unsafe {
	pc := newPathChecker(uid, login)
	pc.anyGroup = anyGroup
	return pc.unsafeDirs(path)
}

// OnPath says why a file is not obeyed when u, a directory on its path,
// could be changed by another user: the words of config.toml's refusal,
// for every file that steers delivery.
func (u *Unsafe) OnPath() string {
	return fmt.Sprintf("%s, on the file's path, is %s: another user could replace the file, so it is not obeyed; %s", u.Path, u.Why, u.Fix)
}

func (pc *pathChecker) unsafeDirs(path string) *Unsafe {
	if u := pc.check(filepath.Dir(path), false); u != nil {
		return u
	}
	// The file a symbolic link (a dotfiles tree's) leads to can be
	// replaced by whoever may write its directory.
	var st syscall.Stat_t
	if pc.lstat(path, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			return pc.check(filepath.Dir(real), false)
		}
	}
	return nil
}

// UnsafeQueue says whether the state directory or the outbox (with its
// tmp/, new/ and cur/) could be changed by others than the user (and
// root): another user could then delete mail that sendmail had taken,
// or add messages that the agent delivers as the user's own. The key
// names the setting that put it there (outbox or state_dir); a part
// that does not exist yet is judged by the directories above it, as it
// is created mode 0700.
func (c *Config) UnsafeQueue() (key string, u *Unsafe) {
	return c.unsafeQueue(newPathChecker(c.UID, c.User))
}

func (c *Config) unsafeQueue(pc *pathChecker) (key string, u *Unsafe) {
	for _, p := range []struct{ key, path string }{
		{"outbox", filepath.Join(c.Outbox, "new")},
		{"outbox", filepath.Join(c.Outbox, "cur")},
		{"outbox", filepath.Join(c.Outbox, "tmp")},
		{"outbox", c.Outbox},
		{"state_dir", c.StateDir},
	} {
		if !filepath.IsAbs(p.path) {
			continue
		}
		if u := pc.check(p.path, true); u != nil {
			key := p.key
			if p.key == "outbox" && !Overlaps(u.Path, c.Outbox) && Overlaps(u.Path, c.StateDir) {
				key = "state_dir"
			}
			return key, u
		}
	}
	return "", nil
}

// CheckQueue is UnsafeQueue, then UnusableQueue, as a configuration
// error (without its File and Line, which the caller knows), or nil. The agent asks it again at
// every reload: a directory made open to others after the start must
// stop delivery from it.
func (c *Config) CheckQueue() *Error {
	return c.checkQueue(newPathChecker(c.UID, c.User))
}

// checkQueue is CheckQueue with a checker that has judged other paths
// of the same reading (config.toml's directories).
func (c *Config) checkQueue(pc *pathChecker) *Error {
	if pc.uid != c.UID || pc.login != c.User {
		pc = newPathChecker(c.UID, c.User)
	}
	key, u := c.unsafeQueue(pc)
	if u == nil {
		if key, why := c.unusableQueue(pc); why != "" {
			what := "the outbox is a Maildir that homepost writes in"
			if key == "state_dir" {
				what = "the state directory holds the outbox and the agent's lock"
			}
			return &Error{Key: key, Msg: why + ": " + what}
		}
		return nil
	}
	return &Error{Key: key, Unsafe: true, Msg: fmt.Sprintf("%s is %s: another user could delete mail queued there, or add messages that would be delivered as yours; %s", u.Path, u.Why, u.Fix)}
}
