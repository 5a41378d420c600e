package forwarder

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"syscall"

	"homepost/settings"
)

// maxFile bounds what is read of one aliases, .forward or :include: file.
const maxFile = 16 << 20

// fileKind says how a file is parsed.
type fileKind int

const (
	aliasesFile fileKind = iota // aliases(5): name: value, ...
	listFile                    // .forward and :include:: values only
)

// stamp identifies one version of a file. ctime is in it so that a
// chmod or chown, which leave mtime alone, is noticed too.
type stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func stampOf(fi fs.FileInfo) stamp {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	}
	return stamp{
		dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}
}

func ownerOf(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// parsed is one file as read: its entries or values, its problems, and
// whether it may be obeyed.
type parsed struct {
	path    string
	missing bool   // no such file: not an error
	unsafe  string // why the file must not be obeyed, or ""
	dirs    bool   // unsafe is for a directory on the file's path
	readErr error  // the file exists but cannot be read
	owner   int
	stamp   stamp

	aliases []*alias
	index   map[string]*alias
	values  []value
	bad     []badValue // values of a .forward or :include: that cannot be read
	errs    []error
}

// usable reports whether the file's content may be used.
func (p *parsed) usable() bool { return !p.missing && p.unsafe == "" && p.readErr == nil }

// lookup finds an alias by its lowercased name.
func (p *parsed) lookup(name string) *alias {
	if p == nil || p.index == nil {
		return nil
	}
	return p.index[name]
}

// broken finds an entry for the lowercased name that could not be read
// at all ("name value" without its ':'), or nil.
func (p *parsed) broken(name string) *ParseError {
	for _, err := range p.errs {
		if pe, ok := err.(*ParseError); ok && pe.name == name && !pe.Warning && !pe.value {
			return pe
		}
	}
	return nil
}

// unsafeReason says why a file that steers delivery must be ignored:
// settings.UnsafeFile, the one rule for these files and config.toml.
func unsafeReason(fi fs.FileInfo, uid int, allowGroupWrite bool) string {
	return settings.UnsafeFile(fi, uid, allowGroupWrite)
}

// unsafeDirs says why a file that steers delivery must be ignored for
// a directory on its path, or "": config.toml's rule
// (settings.UnsafeFileDirs). Another user who may write a directory on
// the way can rename or swap the user's own files there (turn
// ~/.forward+lists into ~/.forward, or put another aliases file in the
// place of this one), and the file's own check passes, as the user
// still owns the file; its commands then run as the user. So each
// directory, through symbolic links, must be owned by the user or root
// and writable by nobody else, unless its sticky bit is set (/tmp:
// nobody may rename or remove another's file there), as sendmail
// requires of the path of a .forward or :include: file.
//
// A directory that the user's private group may write (a group no other
// user is in) is allowed, as for config.toml. sendmail refuses any
// group-writable directory unless DontBlameSendmail says otherwise, and
// OpenSMTPD a group-writable home, while Postfix's local(8) checks only
// the file: neither knows whether the group holds anyone else. A group
// that nobody else is in gives nobody else the write, only root could
// add a member, and root needs no group to change the file. With the
// umask 002 that goes with private groups, ~/.config/homepost is made
// mode 0775: refusing that would refuse the user's aliases file in the
// default layout while config.toml beside it is obeyed. The file itself
// stays refused when group-writable (unsafeReason), as Postfix's is.
// The system aliases' directories (groupOK) may be group-writable, as
// their file may: root's business.
//
// It is asked when the file is read: the cache reads a file again when
// its inode, size, mtime or ctime changed, and a file that another user
// swapped in or renamed into place is another inode; the agent takes a
// new cache at each reload too. A few lstat(2)s per reading, not per
// message.
func unsafeDirs(path string, uid int, login string, groupOK bool) string {
	if u := settings.UnsafeFileDirs(path, uid, login, groupOK); u != nil {
		return u.OnPath()
	}
	return ""
}

// cache keeps parsed files between messages: Resolve runs for every
// recipient of every message, and the files rarely change. An entry is
// used again only while the file's inode, size, mtime and ctime stay.
type cache struct {
	mu    sync.Mutex
	files map[string]*parsed
	// login is the user's, for the rule on directories (a group of the
	// user's own: unsafeDirs).
	login string
	// log receives the problems of a file each time a new version of
	// it is parsed: once per version, not per message.
	log *slog.Logger
}

// load returns the current content of path. uid is the user's; the
// system aliases file may be group-writable (root's business), the
// user's own files may not.
func (c *cache) load(path string, kind fileKind, uid int, allowGroupWrite bool) *parsed {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &parsed{path: path, missing: true}
		}
		return &parsed{path: path, readErr: err}
	}
	if c != nil {
		c.mu.Lock()
		old := c.files[path]
		c.mu.Unlock()
		if old != nil && old.stamp == stampOf(fi) {
			return old
		}
	}
	login := ""
	if c != nil {
		login = c.login
	}
	p := readParsed(path, kind, uid, login, allowGroupWrite)
	// A file refused for a directory on its path is not kept: its
	// inode does not change when the directory is mended (chmod go-w),
	// and the next message must find it obeyed.
	if c != nil && !p.missing && p.readErr == nil && !p.dirs {
		c.mu.Lock()
		if c.files == nil {
			c.files = map[string]*parsed{}
		}
		// Another reader may have parsed the same version meanwhile:
		// its problems are logged once.
		fresh := c.files[path] == nil || c.files[path].stamp != p.stamp
		c.files[path] = p
		c.mu.Unlock()
		if fresh {
			c.logProblems(p)
		}
	}
	return p
}

// readParsed opens path, checks the opened file (not the name, which
// could be swapped in between) and the directories on its path, and
// parses it. login is the user's (uid's), for a directory that a group
// of the user's own may write.
func readParsed(path string, kind fileKind, uid int, login string, allowGroupWrite bool) *parsed {
	p := &parsed{path: path}
	// O_NONBLOCK: a FIFO planted as ~/.forward must not hang the agent.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			p.missing = true
		} else {
			p.readErr = err
		}
		return p
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		p.readErr = err
		return p
	}
	p.stamp, p.owner = stampOf(fi), ownerOf(fi)
	if p.unsafe = unsafeReason(fi, uid, allowGroupWrite); p.unsafe != "" {
		return p
	}
	if p.unsafe = unsafeDirs(path, uid, login, allowGroupWrite); p.unsafe != "" {
		p.dirs = true
		return p
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		p.readErr = err
		return p
	}
	if len(data) > maxFile {
		p.readErr = fmt.Errorf("larger than %d MiB", maxFile>>20)
		return p
	}
	switch kind {
	case aliasesFile:
		p.aliases, p.errs = parseReader(bytes.NewReader(data), path)
		p.index = make(map[string]*alias, len(p.aliases))
		for _, a := range p.aliases {
			p.index[a.name] = a
		}
	case listFile:
		p.values, p.bad, p.errs = parseForward(bytes.NewReader(data), path)
	}
	return p
}
