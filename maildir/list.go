package maildir

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Entry is one message file of a Maildir as listed.
type Entry struct {
	// File is the file's name in new/ or cur/, info part included.
	File string
	// New is set for a file in new/, which no reader has seen yet.
	New bool
}

// Key is the name without the info part, the unique part that ends at
// the first colon (the qmail spec): it stays the same when a reader
// moves the message to cur/ or changes its flags, in cur/ or within
// new/ (mutt flags a new message by renaming new/X to new/X:2,F).
func (e Entry) Key() string {
	base, _, _ := strings.Cut(e.File, ":")
	return base
}

// Info is the flags after ":2," (sorted, as the Maildir spec writes
// them), in cur/ or new/; empty without them.
func (e Entry) Info() string {
	_, info, _ := strings.Cut(e.File, ":2,")
	return info
}

// Path is the file of e in d.
func (d Dir) Path(e Entry) string {
	sub := "cur"
	if e.New {
		sub = "new"
	}
	return filepath.Join(string(d), sub, e.File)
}

// IsMaildir reports whether path is a Maildir: it names a directory with
// cur/, new/ and tmp/, or it ends in a slash.
func IsMaildir(path string) bool {
	if strings.HasSuffix(path, "/") {
		return true
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if st, err := os.Stat(filepath.Join(path, sub)); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// List returns the messages of new/ and cur/ in arrival order, the same
// from one call to the next. Names starting with a dot are not messages.
// A missing new/ or cur/ is an empty one.
//
// A Maildir name starts with its delivery time in seconds, which orders
// messages of different seconds (as s-nail does); within a second a
// name tells more or less (arrival):
//
//   - homepost's own names ("SEC.ID.HOST", package outbox, and its
//     copies "SEC.IDRn.HOST"): the queue ID starts with the time in
//     microseconds in hexadecimal. It is read as a number (the digits of
//     hex are not decimal numbers to compare run by run: D909A… is
//     before D90AB…), and recognised by its agreeing with the seconds.
//   - Dovecot, Courier, getmail, maildrop and qmail's newer names,
//     "SEC.M<usec>P<pid>….HOST": the microseconds after "M".
//   - Names with no fraction of a second (qmail's classic
//     "SEC.PID.HOST", whose pids wrap): the file's modification time,
//     which is when the deliverer wrote it and which a flag change (a
//     rename) keeps. It is looked up only for such a name that shares
//     its second with another message.
//
// Messages that arrive in the same microsecond are in the order of
// their names, numbers in them compared as numbers (hexadecimal in
// homepost's IDs).
//
// The directories are read with getdents into one buffer that all the
// names share: a reader keeps them for as long as the mailbox is open,
// and 100,000 separate strings would cost more than the names
// themselves. go-maildir's Walk is not used: over the 67,000 names in
// cur/ of a 100,000-message Maildir it makes 400,000 allocations (20 MB,
// 59 ms), where List reads new/ and cur/ and sorts them with 8 (59 ms);
// and it does not list new/ without moving every message to cur/,
// which would make them old for every reader.
func (d Dir) List() ([]Entry, error) {
	type rec struct {
		at   int64 // arrival, in microseconds
		off  uint32
		n    uint16 // a name is at most 255 bytes
		new  bool
		kind nameKind
	}
	var (
		recs  []rec
		names []byte
		fds   []int
		subs  []string
	)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	capHint := int64(0)
	for _, sub := range []string{"new", "cur"} {
		path := filepath.Join(string(d), sub)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		fds, subs = append(fds, fd), append(subs, sub)
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			capHint += st.Size
		}
	}
	// A directory's size is about twice the bytes of its names on
	// ext4, and an entry takes at least 24 bytes of it. The guesses
	// are generous: pages of them that are never written cost no
	// memory, while growing by copies would keep every copy until the
	// next collection.
	names = make([]byte, 0, min(max(capHint/2, 4<<10), 64<<20))
	recs = make([]rec, 0, min(max(capHint/24, 256), 1<<22))
	buf := make([]byte, 64<<10)
	for k, fd := range fds {
		for {
			n, err := unix.Getdents(fd, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(string(d), subs[k]), os.NewSyscallError("getdents", err))
			}
			if n <= 0 {
				break
			}
			for p := 0; p+19 <= n; {
				// struct linux_dirent64: ino, off, reclen, type, name.
				reclen := int(binary.NativeEndian.Uint16(buf[p+16:]))
				if reclen < 19 || p+reclen > n {
					break
				}
				name := buf[p+19 : p+reclen]
				p += reclen
				if i := bytes.IndexByte(name, 0); i >= 0 {
					name = name[:i]
				}
				if len(name) == 0 || name[0] == '.' {
					continue
				}
				at, kind := arrival(name)
				recs = append(recs, rec{at: at, kind: kind, off: uint32(len(names)), n: uint16(len(name)), new: subs[k] == "new"})
				names = append(names, name...)
			}
		}
	}
	// names is not written to again: the entries' names are parts of
	// one string over it.
	all := unsafe.String(unsafe.SliceData(names), len(names))
	key := func(r rec) string {
		return Entry{File: all[r.off : r.off+uint32(r.n)], New: r.new}.Key()
	}
	byArrival := func(a, b rec) int {
		if a.at != b.at {
			return cmp.Compare(a.at, b.at)
		}
		return naturalCompare(key(a), key(b), a.kind == hexIDName && b.kind == hexIDName)
	}
	// The arrival is parsed once per name, and only ties are compared
	// by the whole key.
	slices.SortFunc(recs, byArrival)
	// A name without a fraction of a second is at the start of its
	// second: when another message shares the second, the file's
	// mtime places it.
	dirfd := map[bool]int{}
	for k, fd := range fds {
		dirfd[subs[k] == "new"] = fd
	}
	stated := false
	for i := range recs {
		r := &recs[i]
		if r.kind != noFraction {
			continue
		}
		sec := r.at / 1e6
		if !(i > 0 && recs[i-1].at/1e6 == sec || i+1 < len(recs) && recs[i+1].at/1e6 == sec) {
			continue
		}
		var st unix.Stat_t
		if unix.Fstatat(dirfd[r.new], all[r.off:r.off+uint32(r.n)], &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		switch {
		case st.Mtim.Sec == sec:
			r.at = sec*1e6 + st.Mtim.Nsec/1000
		case st.Mtim.Sec > sec:
			r.at = sec*1e6 + 999999
		}
		stated = true
	}
	if stated {
		slices.SortFunc(recs, byArrival)
	}
	entries := make([]Entry, len(recs))
	for i, r := range recs {
		entries[i] = Entry{File: all[r.off : r.off+uint32(r.n)], New: r.new}
	}
	return entries, nil
}

// Index lists new/ and cur/ once (List) and maps each message's key
// (Entry.Key) to where it is now. A reader that finds several of its
// messages renamed or removed by another program (mutt's sync, dovecot
// moving new/ to cur/, an expunge) looks them all up in one Index
// rather than reading both directories again for each (Find): with
// thousands of them that was minutes of directory reads. A key found
// twice (a copy in new/ and in cur/) maps to the one listed last.
func (d Dir) Index() (map[string]Entry, error) {
	entries, err := d.List()
	if err != nil {
		return nil, err
	}
	idx := make(map[string]Entry, len(entries))
	for _, e := range entries {
		idx[e.Key()] = e
	}
	return idx, nil
}

// nameKind is what a Maildir name tells of its arrival within its
// second.
type nameKind uint8

const (
	noFraction nameKind = iota // seconds only
	usecName                   // "M<usec>" in the unique part
	hexIDName                  // homepost's hex queue ID
)

// maxNameSec bounds the seconds of a name so that its microseconds fit
// an int64.
const maxNameSec = (1<<63 - 1) / 1000000

// arrival reads the delivery time in microseconds from a Maildir name:
// the seconds at its start, and the microseconds in its unique part
// when it has them (see List).
func arrival[S ~string | ~[]byte](name S) (int64, nameKind) {
	var sec int64
	i := 0
	for ; i < len(name) && name[i] >= '0' && name[i] <= '9'; i++ {
		if sec < maxNameSec {
			sec = sec*10 + int64(name[i]-'0')
		}
	}
	sec = min(sec, maxNameSec)
	at := sec * 1e6
	if i == 0 || i >= len(name) || name[i] != '.' {
		return at, noFraction
	}
	uniq := name[i+1:]
	for j := 0; j < len(uniq); j++ {
		if c := uniq[j]; c == '.' || c == ':' || c == ',' || c == '/' {
			uniq = uniq[:j]
			break
		}
	}
	// homepost: the microseconds in upper-case hex, as many digits as
	// this second's take, agreeing with the seconds.
	for _, us := range [2]int64{at, at + 999999} {
		l := hexLen(us)
		if l > len(uniq) {
			continue
		}
		v, ok := int64(0), true
		for j := 0; j < l && ok; j++ {
			c := uniq[j]
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | int64(c-'0')
			case c >= 'A' && c <= 'F':
				v = v<<4 | int64(c-'A'+10)
			default:
				ok = false
			}
		}
		if ok && v/1e6 == sec {
			return v, hexIDName
		}
	}
	// "M<usec>" as a piece of the unique part: at its start or after
	// another piece's number (qmail's "V…I…M…P…" pieces).
	for j := 0; j+1 < len(uniq); j++ {
		if uniq[j] != 'M' || uniq[j+1] < '0' || uniq[j+1] > '9' || j > 0 && (uniq[j-1] < '0' || uniq[j-1] > '9') {
			continue
		}
		var us int64
		k := j + 1
		for ; k < len(uniq) && uniq[k] >= '0' && uniq[k] <= '9' && us < 1e6; k++ {
			us = us*10 + int64(uniq[k]-'0')
		}
		if us < 1e6 && (k == len(uniq) || uniq[k] < '0' || uniq[k] > '9') {
			return at + us, usecName
		}
		break
	}
	return at, noFraction
}

// hexLen is the number of hexadecimal digits of v > 0.
func hexLen(v int64) int {
	n := 0
	for ; v > 0; v >>= 4 {
		n++
	}
	return max(n, 1)
}

// naturalCompare orders Maildir names by the numbers in them (delivery
// time, then microseconds or a sequence number, which writers do not
// zero-pad), and the rest as text. With hex, runs of upper-case
// hexadecimal digits are the numbers (homepost's queue IDs).
func naturalCompare(a, b string, hex bool) int {
	for a != "" && b != "" {
		da, db := digits(a, hex), digits(b, hex)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return cmp.Compare(len(na), len(nb))
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			// A process's first queue ID has no "Q<seq>".
			if hex && (a[0] == 'Q' || b[0] == 'Q') {
				if a[0] == 'Q' {
					return 1
				}
				return -1
			}
			return cmp.Compare(int(a[0]), int(b[0]))
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digits is the length of the run of digits (hexadecimal ones, upper
// case, with hex) at the start of s.
func digits(s string, hex bool) int {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || hex && s[i] >= 'A' && s[i] <= 'F') {
		i++
	}
	return i
}

// headRead is how much of a file ReadHeads reads at first: one read that
// holds the header of nearly every message and the whole of a small one
// (cron output, notices). A longer header is followed block by block;
// the body of a larger message is never read.
const headRead = 16 << 10

// maxHead bounds how far a header section is followed.
const maxHead = 1 << 20

// ReadHeads reads the start of n listed files, entry(i) naming the i-th,
// at least its header section (up to 1 MiB), and calls fn with it:
// data is the file's first bytes (the whole file when len(data) ==
// size, valid only during the call) and size its length, or -1 when the
// file cannot be read (it vanished, or it is a directory). entry and fn
// are called from several goroutines at once, never twice for the same
// i. (A function rather than the slice List returned, so that a reader
// that keeps the names elsewhere can let the slice go first.)
//
// The work is syscalls on cached files, so a worker per CPU and as many
// more keep both the CPUs and the disk busy. Files are opened relative
// to their directory (openat), which saves the kernel a path walk each,
// and with raw syscalls: os.File would register each one with the
// poller.
func (d Dir) ReadHeads(n int, entry func(i int) Entry, fn func(i int, data []byte, size int64)) {
	var dirfd [2]int // new/, cur/
	for i, sub := range []string{"new", "cur"} {
		fd, err := unix.Open(filepath.Join(string(d), sub), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			fd = -1
		}
		dirfd[i] = fd
		if fd >= 0 {
			defer unix.Close(fd)
		}
	}
	workers := runtime.GOMAXPROCS(0) * 2
	const chunk = 256
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, headRead)
			for {
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					e := entry(i)
					fd := dirfd[1]
					if e.New {
						fd = dirfd[0]
					}
					var data []byte
					var size int64
					data, size, buf = readHead(fd, e.File, buf)
					fn(i, data, size)
				}
			}
		}()
	}
	wg.Wait()
}

// readHead reads the header section of one file. The size comes from
// the read when the file fits the buffer, else from fstat. It returns
// the buffer to use next.
func readHead(dirfd int, name string, buf []byte) ([]byte, int64, []byte) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, buf
	}
	defer unix.Close(fd)
	n := 0
	size := int64(-1)
	for {
		k, err := unix.Pread(fd, buf[n:], int64(n))
		if err != nil && n == 0 {
			// Not a readable file (a directory left in cur/):
			// not a message.
			return nil, -1, buf
		}
		if err != nil || k <= 0 {
			size = int64(n)
			break
		}
		n += k
		if n < len(buf) {
			// A short read of a regular file is its end.
			size = int64(n)
			break
		}
		if headerEnd(buf[:n]) >= 0 || len(buf) >= maxHead {
			break
		}
		buf = append(buf, make([]byte, len(buf))...)
	}
	if size < 0 {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			return nil, -1, buf
		}
		size = st.Size
	}
	data := buf[:n]
	if len(buf) > headRead {
		// data stays valid until the next read, which starts over
		// in the first headRead bytes.
		buf = buf[:headRead:headRead]
	}
	return data, size, buf
}

// headerEnd returns the offset just past the empty line (LF or CRLF)
// that ends the header section at the start of b, or -1.
func headerEnd(b []byte) int {
	pos := 0
	for pos < len(b) {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return -1
		}
		l := b[pos : pos+i+1]
		pos += i + 1
		if isBlank(l) {
			return pos
		}
	}
	return -1
}

// isBlank reports whether l is an empty line (LF or CRLF).
func isBlank(l []byte) bool {
	return len(l) == 1 && l[0] == '\n' || len(l) == 2 && l[0] == '\r' && l[1] == '\n'
}

// HasMessages reports whether new/ or cur/ holds a message, without
// listing the whole Maildir. A missing directory holds none; one that
// cannot be read is an error (mail -e must not say "no mail" of it).
func (d Dir) HasMessages() (bool, error) {
	for _, sub := range []string{"new", "cur"} {
		f, err := os.Open(filepath.Join(string(d), sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		for {
			names, err := f.Readdirnames(64)
			for _, n := range names {
				if !strings.HasPrefix(n, ".") {
					f.Close()
					return true, nil
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return false, fmt.Errorf("%s: %w", f.Name(), err)
			}
		}
		f.Close()
	}
	return false, nil
}
