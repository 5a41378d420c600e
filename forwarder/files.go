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

// cache keeps parsed files between messages: Resolve runs for every
// recipient of every message, and the files rarely change. An entry is
// used again only while the file's inode, size, mtime and ctime stay.
type cache struct {
	mu    sync.Mutex
	files map[string]*parsed
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
	p := readParsed(path, kind, uid, allowGroupWrite)
	if c != nil && !p.missing && p.readErr == nil {
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
// could be swapped in between) and parses it.
func readParsed(path string, kind fileKind, uid int, allowGroupWrite bool) *parsed {
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
